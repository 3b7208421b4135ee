//! The layers every request passes: Host check (DNS rebinding), access token
//! (off loopback), security headers; and the CSRF check of every POST.

use crate::{AppState, UiError};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::Arc;
use subtle::ConstantTimeEq;

pub(crate) const ANNOTATOR_COOKIE: &str = "mmsafe_annotator";
const TOKEN_COOKIE: &str = "mmsafe_ui_token";

/// No inline script or style anywhere: a reply that smuggles markup past the
/// escaping still cannot run. Images only from this origin (`/img/<sha256>`).
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Whether `addr` is a loopback address (the only default the UI binds to).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

pub(crate) fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn same(a: &str, b: &str) -> bool {
    let (da, db) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    bool::from(da.ct_eq(&db))
}

/// A cookie's value from the `Cookie` headers.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The host part of a `Host` header or an `Origin` URL's authority.
fn host_of(authority: &str) -> &str {
    let a = authority.trim();
    if let Some(rest) = a.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    a.rsplit_once(':').map(|(h, _)| h).unwrap_or(a)
}

/// CSRF: the POST must carry this process's token (form field `csrf` or the
/// `X-CSRF-Token` header), and an `Origin`, when sent, must be this host.
pub(crate) fn check_csrf(st: &AppState, headers: &HeaderMap, form: &str) -> Result<(), UiError> {
    let presented = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or(form);
    if presented.is_empty() || !same(presented, &st.csrf) {
        return Err(UiError::BadRequest(
            "missing or wrong CSRF token: reload the page and try again".into(),
        ));
    }
    if let (Some(origin), Some(host)) = (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or(origin);
        if authority != host {
            return Err(UiError::BadRequest("cross-origin request refused".into()));
        }
    }
    Ok(())
}

fn set_security_headers(r: &mut Response) {
    let h = r.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        // `same-origin`, not `no-referrer`: under `no-referrer` Chromium sends
        // `Origin: null` with form posts, which the CSRF origin check refuses.
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
}

fn refuse(status: StatusCode, msg: &str) -> Response {
    let mut r = (status, crate::pages::error_page(status.as_u16(), msg)).into_response();
    set_security_headers(&mut r);
    r
}

pub(crate) async fn guard(
    State(st): State<Arc<AppState>>,
    req: Request<Body>,
    next: Next,
) -> Response {
    // DNS rebinding: on loopback, only loopback names may reach the app.
    if is_loopback(&st.cfg.listen) {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(host_of)
            .unwrap_or("");
        let ok = matches!(host, "127.0.0.1" | "localhost" | "::1")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !ok {
            return refuse(
                StatusCode::FORBIDDEN,
                "this server answers only to a loopback host name",
            );
        }
    }
    if let Some(token) = &st.cfg.token {
        let headers = req.headers();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let from_cookie = cookie(headers, TOKEN_COOKIE);
        let authorized = bearer.or(from_cookie).is_some_and(|t| same(t, token));
        if !authorized {
            // `/?token=…` once, from the link `mmsafe ui` prints: the token
            // moves into an HttpOnly cookie and out of the address bar.
            let from_query = req.uri().query().and_then(|q| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                    .ok()?
                    .into_iter()
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v)
            });
            if req.method() == Method::GET && from_query.as_deref().is_some_and(|t| same(t, token))
            {
                let mut r = Redirect::to(req.uri().path()).into_response();
                let c = format!(
                    "{TOKEN_COOKIE}={}; Path=/; SameSite=Strict; HttpOnly",
                    hex::encode(token.as_bytes())
                );
                // Stored hex-encoded; compared decoded below.
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().insert(header::SET_COOKIE, v);
                }
                set_security_headers(&mut r);
                return r;
            }
            let cookie_ok = from_cookie
                .and_then(|c| hex::decode(c).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .is_some_and(|t| same(&t, token));
            if !cookie_ok {
                return refuse(
                    StatusCode::UNAUTHORIZED,
                    "this server needs its access token: open the link `mmsafe ui` printed",
                );
            }
        }
    }
    let started = std::time::Instant::now();
    let mut r = next.run(req).await;
    set_security_headers(&mut r);
    // Server time of the request (read by `mmsafe bench ui` and dev tools).
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.3}")) {
        r.headers_mut().insert("server-timing", v);
    }
    r
}
