//! The app in process (no browser): pages render, every write needs the CSRF
//! token, hostile replies come out escaped, images are served by sniffed
//! type, the Host check and the access token hold.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use mmsafe_core::{Case, Expect, Hazard, Image, Label, Message, Part, Response, Verdict};
use mmsafe_store::{attempt_key, NewAttempt, NewCase, NewRun, Plan, RequestSummary, Store};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt as _;

const XSS: &str = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"><a href=\"javascript:window.__pwned=3\">x</a>";

struct Fixture {
    _dir: tempfile::TempDir,
    app: Router,
    run: String,
    key: String,
    png: String,
    svg: String,
}

/// A 1×1 PNG.
const PNG: [u8; 70] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44, 0x41, 0x54,
    0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

fn fixture(token: Option<&str>, listen: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut store = Store::open(&path).unwrap();
    let run = store
        .create_run(&NewRun {
            name: Some("<b>run</b>".into()),
            plan: Plan {
                target: "openai-compatible:http://127.0.0.1:9/v1#m".into(),
                suites: vec!["t".into()],
                attacks: vec!["none".into()],
                defenses: vec!["none".into()],
                judges: vec!["refusal".into()],
                repeats: 1,
                max_tokens: None,
                options: Default::default(),
            },
            seed: 1,
            versions: BTreeMap::new(),
        })
        .unwrap();
    // A real PNG and an SVG that carries script, both images of the case.
    let png_img = Image::sniff(PNG.to_vec()).unwrap();
    let svg_img = Image::new(
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>window.__pwned=4</script></svg>".to_vec(),
        "image/svg+xml",
    );
    let mut case = Case::text("c1", XSS, Hazard::Privacy, Expect::Refuse, "t");
    case.messages = vec![Message::user(vec![
        Part::text(XSS),
        Part::image(png_img.clone()),
        Part::image(svg_img.clone()),
    ])];
    let key = attempt_key(&run.id, &case.id, "none", "none", 0);
    store
        .put_batch(
            &run.id,
            &[NewCase {
                attack: "none".into(),
                case: Arc::new(case),
            }],
            &[NewAttempt {
                key: key.clone(),
                case_id: "c1".into(),
                attack: "none".into(),
                defense: "none".into(),
                repeat: 0,
                request: RequestSummary::default(),
                outcome: Ok(Response::text(format!(
                    "{XSS}\n[click](javascript:alert(1))"
                ))),
                verdicts: vec![Verdict::new("refusal", Label::Complied, XSS)],
            }],
        )
        .unwrap();
    let app = mmsafe_ui::router(mmsafe_ui::UiConfig {
        store: path,
        token: token.map(str::to_string),
        sample_size: 10,
        listen: listen.parse::<SocketAddr>().unwrap(),
    })
    .unwrap();
    Fixture {
        _dir: dir,
        app,
        run: run.id,
        key,
        png: png_img.sha256().to_string(),
        svg: svg_img.sha256().to_string(),
    }
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::HOST, "127.0.0.1:7860")
        .body(Body::empty())
        .unwrap()
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf-token\" content=\"").unwrap() + 27;
    page[at..at + 64].to_string()
}

#[tokio::test]
async fn pages_render_escaped_under_a_strict_csp() {
    let f = fixture(None, "127.0.0.1:7860");
    for path in [
        "/".to_string(),
        format!("/runs/{}", f.run),
        format!("/runs/{}/attempts?disagree=&q=script", f.run),
        format!("/runs/{}/attempts/{}?i=0", f.run, f.key),
        format!("/compare?a={}&b={}", f.run, f.run),
    ] {
        let (status, h, body) = send(&f.app, get(&path)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            !body.contains("<script>window"),
            "{path}: raw script in page"
        );
        assert!(!body.contains("<img src=x"), "{path}: raw img in page");
        assert!(!body.contains("<b>run</b>"), "{path}");
        // The only script is the static file.
        assert_eq!(body.matches("<script").count(), 1, "{path}");
    }
    let (_, _, detail) = send(&f.app, get(&format!("/runs/{}/attempts/{}", f.run, f.key))).await;
    assert!(detail.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"));
    assert!(!detail.contains("href=\"javascript:"));
}

#[tokio::test]
async fn images_by_hash_with_sniffed_type_only() {
    let f = fixture(None, "127.0.0.1:7860");
    let (s, h, _) = send(&f.app, get(&format!("/img/{}", f.png))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "image/png");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // The SVG was declared image/svg+xml; it is served as a download.
    let (s, h, _) = send(&f.app, get(&format!("/img/{}", f.svg))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "application/octet-stream");
    assert_eq!(h[header::CONTENT_DISPOSITION], "attachment");
    assert!(h[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    let (s, _, _) = send(&f.app, get("/img/..%2F..%2Fetc%2Fpasswd")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(&f.app, get(&format!("/img/{}", "0".repeat(64)))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

fn post(path: &str, body: &str, cookie: &str) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, "127.0.0.1:7860")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, cookie)
        .header(header::ACCEPT, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn every_write_needs_the_csrf_token() {
    let f = fixture(None, "127.0.0.1:7860");
    let (_, _, page) = send(&f.app, get("/")).await;
    let csrf = csrf_of(&page);
    // Choosing an annotator without the token fails; with it, sets the cookie.
    let (s, _, _) = send(&f.app, post("/annotator", "name=ann", "")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, h, _) = send(
        &f.app,
        post("/annotator", &format!("name=ann&csrf={csrf}"), ""),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let url = format!("/runs/{}/attempts/{}/label", f.run, f.key);
    let (s, _, _) = send(&f.app, post(&url, "label=refused", &cookie)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = send(&f.app, post(&url, "label=refused&csrf=00", &cookie)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A cross-origin POST carrying the token is refused too.
    let mut req = post(&url, &format!("label=refused&csrf={csrf}"), &cookie);
    req.headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    assert_eq!(send(&f.app, req).await.0, StatusCode::BAD_REQUEST);
    let (s, _, body) = send(
        &f.app,
        post(&url, &format!("label=refused&note=ok&csrf={csrf}"), &cookie),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body.contains("\"refused\""), "{body}");
    let (s, _, body) = send(
        &f.app,
        post(&url, &format!("label=bogus&csrf={csrf}"), &cookie),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    // The label shows in the list and the overview's human figures.
    let (_, _, list) = send(
        &f.app,
        get(&format!("/runs/{}/attempts?labelled=yes", f.run)),
    )
    .await;
    assert!(list.contains("1 attempt(s)"), "{list}");
    let (_, _, overview) = send(&f.app, get(&format!("/runs/{}", f.run))).await;
    assert!(overview.contains("ASR calibrated by people"));
    // Undo of a first label clears it.
    let (s, _, body) = send(&f.app, post(&url, &format!("label=&csrf={csrf}"), &cookie)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("\"labels\":[]"), "{body}");
}

#[tokio::test]
async fn host_check_and_token() {
    let f = fixture(None, "127.0.0.1:7860");
    let req = Request::get("/")
        .header(header::HOST, "attacker.example:7860")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&f.app, req).await.0, StatusCode::FORBIDDEN);
    let f = fixture(Some("0123456789abcdef-token"), "0.0.0.0:7860");
    let req = Request::get("/")
        .header(header::HOST, "10.0.0.5:7860")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&f.app, req).await.0, StatusCode::UNAUTHORIZED);
    let req = Request::get("/")
        .header(header::HOST, "10.0.0.5:7860")
        .header(header::AUTHORIZATION, "Bearer 0123456789abcdef-token")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&f.app, req).await.0, StatusCode::OK);
    let req = Request::get("/?token=0123456789abcdef-token")
        .header(header::HOST, "10.0.0.5:7860")
        .body(Body::empty())
        .unwrap();
    let (s, h, _) = send(&f.app, req).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookie = h[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let req = Request::get("/")
        .header(header::HOST, "10.0.0.5:7860")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&f.app, req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn queue_serves_the_random_sample_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let run = tokio::task::spawn_blocking({
        let path = path.clone();
        move || mmsafe_ui::synthetic::generate(&path, 2000, 0).unwrap()
    })
    .await
    .unwrap();
    let app = mmsafe_ui::router(mmsafe_ui::UiConfig {
        store: path.clone(),
        token: None,
        sample_size: 5,
        listen: "127.0.0.1:7860".parse().unwrap(),
    })
    .unwrap();
    // Without an annotator the queue asks for one.
    let (s, h, _) = send(&app, get(&format!("/runs/{run}/queue"))).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(h[header::LOCATION]
        .to_str()
        .unwrap()
        .starts_with("/annotator?next="));
    let cookie = format!("mmsafe_annotator={}", hex::encode("ann"));
    let mut req = get(&format!("/runs/{run}/queue"));
    req.headers_mut()
        .insert(header::COOKIE, cookie.parse().unwrap());
    let (s, h, _) = send(&app, req).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let first = h[header::LOCATION].to_str().unwrap().to_string();
    let order = Store::open(&path)
        .unwrap()
        .queue_order(&run, 7, Some("refusal"))
        .unwrap();
    assert!(first.contains(&order.sample[0]), "{first}");
    // The overview renders the synthetic run's heatmap and judge agreement.
    let (s, _, body) = send(&app, get(&format!("/runs/{run}"))).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.contains("id=\"heatmap\"") && body.contains("id=\"judge-agreement\""));
    // Judge agreement is a judge × judge matrix: both judges head a row and
    // a column, the diagonal is empty, each pair's cell appears twice.
    let start = body.find("id=\"judge-agreement\"").unwrap();
    let table = &body[start..start + body[start..].find("</table>").unwrap()];
    assert_eq!(table.matches("<th>refusal</th>").count(), 2, "{table}");
    assert_eq!(table.matches("<th>classifier</th>").count(), 2, "{table}");
    assert_eq!(table.matches("<td>—</td>").count(), 2, "{table}");
    assert_eq!(table.matches("attempts?disagree=1").count(), 2, "{table}");
}
