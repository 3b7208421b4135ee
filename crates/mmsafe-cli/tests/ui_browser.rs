//! `mmsafe ui` in a real browser: a scan against the loopback mock (two
//! judges that disagree on some replies, some replies carrying XSS payloads),
//! then headless Chromium driven over the DevTools protocol: choose an
//! annotator, filter to disagreements, label five attempts with the keyboard
//! (and undo one), reload and see the labels kept, check in the page that no
//! payload ran, label three more from the queue (`q` on the overview), and
//! see the `human` figures in `mmsafe report`.
//!
//! Screenshots of every page land in `$CARGO_TARGET_TMPDIR/ui-browser/`.
//! Without Chromium (`MMSAFE_CHROMIUM`, else `/usr/bin/chromium`) the test
//! says so loudly and skips; `.ci/run` installs it.

use mmsafe_testkit::{MockConfig, MockServer, Reply};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

/// Rows 0–3 get a refusal (the guard judge calls it unsafe); 4–7 a
/// "harmless" compliance (the guard calls it safe); 8–11 a compliance full of
/// payloads (also "harmless"). The refusal judge and the guard disagree on
/// several of them.
fn suite() -> String {
    let mut s = String::from("id,prompt,expect\n");
    for i in 0..12 {
        s.push_str(&format!(
            "row{i},Question number {i} about a restricted topic,refuse\n"
        ));
    }
    s
}

const PAYLOAD: &str = "Sure, a harmless overview. <script>window.__pwned=1</script> <img src=x onerror=\"window.__pwned=2\"> <a href=\"javascript:window.__pwned=3\">click</a> <svg onload=\"window.__pwned=4\"><script>window.__pwned=5</script></svg> [md link](javascript:window.__pwned=6) ![img](x\" onerror=\"window.__pwned=7)";

fn reply_for(prompt: &str) -> String {
    let n: usize = prompt
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .unwrap_or(0);
    match n {
        0..=3 => "I'm sorry, but I can't help with that.".into(),
        4..=7 => format!("Sure, here is a harmless overview of topic {n}: first, read widely; second, ask an expert."),
        _ => PAYLOAD.into(),
    }
}

type Ws = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>;

struct Browser {
    child: Child,
    /// Set once Chromium has said which port its DevTools listen on.
    ws: Option<Ws>,
    next_id: u64,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET to the DevTools endpoint; empty on any failure (the
/// caller retries: the port file can appear before the server listens).
fn http_get(port: u16, path: &str) -> String {
    let get = || -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        )?;
        // Read until the peer closes or goes quiet: DevTools may keep the
        // connection open after the body.
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    };
    get()
        .ok()
        .and_then(|out| out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()))
        .unwrap_or_default()
}

impl Browser {
    fn start(chromium: &Path, profile: &Path) -> Result<Browser, String> {
        let child = Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1000",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
        // Owned from here on, so any early return kills the browser.
        let mut b = Browser {
            child,
            ws: None,
            next_id: 0,
        };
        let port_file = profile.join("DevToolsActivePort");
        let start = Instant::now();
        let port: u16 = loop {
            if let Some(p) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                break p;
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err("chromium wrote no DevToolsActivePort within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let ws_url = loop {
            let list: Value =
                serde_json::from_str(&http_get(port, "/json/list")).unwrap_or(Value::Null);
            if let Some(u) = list
                .as_array()
                .into_iter()
                .flatten()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            {
                break u.to_string();
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err("chromium lists no page target".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let (ws, _) = tungstenite::connect(ws_url.as_str())
            .map_err(|e| format!("devtools websocket: {e}"))?;
        // A hung browser must fail the test, not the CI job.
        if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        }
        b.ws = Some(ws);
        b.call("Page.enable", json!({}));
        b.call("Runtime.enable", json!({}));
        Ok(b)
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        if std::env::var_os("MMSAFE_UI_TEST_TRACE").is_some() {
            eprintln!("cdp {method} {params}");
        }
        self.next_id += 1;
        let id = self.next_id;
        let ws = self.ws.as_mut().expect("connected");
        ws.send(tungstenite::Message::Text(
            json!({"id": id, "method": method, "params": params})
                .to_string()
                .into(),
        ))
        .unwrap();
        loop {
            let msg = ws
                .read()
                .unwrap_or_else(|e| panic!("{method}: no answer from Chromium: {e}"));
            let tungstenite::Message::Text(t) = msg else {
                continue;
            };
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        r["result"]["value"].clone()
    }

    fn href(&mut self) -> String {
        self.eval("location.href")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Wait for a page other than `from` to finish loading.
    fn wait_away_from(&mut self, from: &str) {
        let start = Instant::now();
        loop {
            let s = self.eval("location.href + '|' + document.readyState");
            let s = s.as_str().unwrap_or("");
            if let Some((href, state)) = s.split_once('|') {
                if href != from && state == "complete" {
                    return;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no navigation from {from}: {s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn goto(&mut self, url: &str) {
        let before = self.href();
        self.call("Page.navigate", json!({"url": url}));
        if before == url {
            std::thread::sleep(Duration::from_millis(300));
        } else {
            self.wait_away_from(&before);
        }
        self.wait_loaded();
    }

    fn wait_loaded(&mut self) {
        let start = Instant::now();
        while self.eval("document.readyState") != "complete" {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "page never loaded"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn key(&mut self, key: &str) {
        let (code, vk, text) = match key {
            "Enter" => ("Enter".to_string(), 13, "\r".to_string()),
            k if k.chars().all(|c| c.is_ascii_digit()) => (
                format!("Digit{k}"),
                48 + k.parse::<u32>().unwrap(),
                k.to_string(),
            ),
            k => (
                format!("Key{}", k.to_uppercase()),
                k.to_uppercase().chars().next().unwrap() as u32,
                k.to_string(),
            ),
        };
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyDown", "key": key, "code": code, "windowsVirtualKeyCode": vk, "text": text}),
        );
        self.call(
            "Input.dispatchKeyEvent",
            json!({"type": "keyUp", "key": key, "code": code, "windowsVirtualKeyCode": vk}),
        );
    }

    /// Press `key` and wait for the page it navigates to.
    fn key_and_wait(&mut self, key: &str) {
        let before = self.href();
        self.key(key);
        self.wait_away_from(&before);
    }

    fn screenshot(&mut self, dir: &Path, name: &str) {
        use base64::Engine as _;
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }

    /// Nothing a reply carried ran, and no element a payload would create exists.
    fn assert_inert(&mut self, page: &str) {
        assert_eq!(
            self.eval("typeof window.__pwned"),
            "undefined",
            "{page}: a payload ran"
        );
        assert_eq!(
            self.eval("document.querySelectorAll('script').length"),
            1,
            "{page}"
        );
        assert_eq!(
            self.eval(
                "document.querySelectorAll('img[src=\"x\"], svg, a[href^=\"javascript\"]').length"
            ),
            0,
            "{page}"
        );
    }
}

fn chromium() -> Option<PathBuf> {
    let p = std::env::var_os("MMSAFE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    p.exists().then_some(p)
}

fn mmsafe(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_LOG")
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("MMSAFE_MODELS_DIR", dir.join("models"))
        .env("MMSAFE_OFFLINE", "1")
        .current_dir(dir)
        .output()
        .unwrap()
}

struct Ui(Child);
impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn scan_label_in_chromium_and_report() {
    let Some(chromium) = chromium() else {
        eprintln!("\n\n*** SKIPPED ui_browser: no Chromium at /usr/bin/chromium (set MMSAFE_CHROMIUM or `apt-get install chromium`) ***\n\n");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (target, guard) = rt.block_on(async {
        let target =
            MockServer::start(MockConfig::default().reply(Reply::with(|r| reply_for(r.prompt()))))
                .await
                .unwrap();
        // A Llama-Guard-style judge that calls a "harmless" answer safe and
        // everything else (refusals too) unsafe: it disagrees with the
        // refusal judge on several rows.
        let guard =
            MockServer::start(MockConfig::default().model("guard").reply(Reply::with(|r| {
                let all: String = r.messages.iter().map(|(_, t)| t.to_lowercase()).collect();
                if all.contains("harmless") {
                    "safe".to_string()
                } else {
                    "unsafe\nS2".to_string()
                }
            })))
            .await
            .unwrap();
        (target, guard)
    });
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("rows.csv"), suite()).unwrap();
    let judge2 = format!("llamaguard:{}", guard.target_spec());
    let target_spec = target.target_spec();
    let out = mmsafe(
        d,
        &[
            "scan",
            "--target",
            &target_spec,
            "--suite",
            "csv:rows.csv:id=id,expect=expect,default_hazard=privacy",
            "--attack",
            "none",
            "--judge",
            "refusal",
            "--judge",
            &judge2,
            "--store",
            "ui.db",
            "--run-name",
            "ui",
            "--no-cache",
        ],
    );
    assert!(
        out.status.success(),
        "scan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Pages resolve runs by name as by id.
    let run_id = "ui";

    let mut ui = Command::new(BIN)
        .args(["ui", "--store", "ui.db", "--listen", "127.0.0.1:0"])
        .env_remove("MMSAFE_STORE")
        .current_dir(d)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(ui.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ui = Ui(ui);
    let base = line.trim().trim_end_matches('/').to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-browser");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let mut b = match Browser::start(&chromium, profile.path()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("\n\n*** SKIPPED ui_browser: Chromium did not start: {e} ***\n\n");
            return;
        }
    };

    // Runs, then the annotator form (filled by script: no mouse), which leads
    // to the attempts filtered to disagreements.
    b.goto(&format!("{base}/"));
    b.screenshot(&shots, "01-runs.png");
    b.assert_inert("runs");
    let list = format!("/runs/{run_id}/attempts?disagree=1");
    b.goto(&format!(
        "{base}/annotator?next={}",
        list.replace('?', "%3F").replace('=', "%3D")
    ));
    let here = b.href();
    b.eval("document.getElementById('name').value = 'alice'; document.getElementById('annotator-form').submit(); true");
    b.wait_away_from(&here);
    assert!(b.href().ends_with(&list), "{}", b.href());
    let rows = b
        .eval("document.querySelectorAll('#attempts tbody tr').length")
        .as_u64()
        .unwrap();
    assert!(
        rows >= 6,
        "only {rows} disagreements: {}",
        String::from_utf8_lossy(
            &mmsafe(d, &["report", "ui", "--format", "text", "--store", "ui.db"]).stdout
        )
    );
    b.screenshot(&shots, "02-attempts-disagree.png");
    b.assert_inert("attempts");

    // Keyboard only: j selects the first row, Enter opens it, digits label
    // and move on to the next disagreement.
    b.key("j");
    b.key_and_wait("Enter");
    b.wait_loaded();
    b.screenshot(&shots, "03-attempt.png");
    for (i, k) in ["2", "1", "2", "3", "4"].into_iter().enumerate() {
        b.assert_inert(&format!("attempt {i}"));
        b.key_and_wait(k);
        b.wait_loaded();
    }
    // Undo takes us back to the fifth attempt with its label removed; label it again.
    b.key_and_wait("u");
    b.wait_loaded();
    assert_eq!(
        b.eval("document.getElementById('my-label').textContent"),
        "none"
    );
    b.key_and_wait("5");
    b.wait_loaded();

    // Reload the list: the five labels are kept.
    b.goto(&format!("{base}{list}"));
    let labelled = b
        .eval("document.querySelectorAll('#attempts td.labels .lab').length")
        .as_u64()
        .unwrap();
    assert_eq!(labelled, 5);
    b.screenshot(&shots, "04-attempts-labelled.png");
    b.goto(&format!("{base}{list}&labelled=yes"));
    assert_eq!(
        b.eval("document.querySelectorAll('#attempts tbody tr').length"),
        5
    );

    // Every attempt page renders inert (the payload rows among them).
    let hrefs =
        b.eval("Array.from(document.querySelectorAll('#attempts a.open')).map(a => a.href)");
    b.goto(&format!("{base}/runs/{run_id}/attempts"));
    let all = b.eval("Array.from(document.querySelectorAll('#attempts a.open')).map(a => a.href)");
    for h in all
        .as_array()
        .unwrap()
        .iter()
        .chain(hrefs.as_array().unwrap())
    {
        b.goto(h.as_str().unwrap());
        b.assert_inert(h.as_str().unwrap());
    }
    // Write order follows completion order: find a payload row by its text.
    let payload_page = all
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|h| {
            b.goto(h);
            b.eval("(document.getElementById('reply') || {}).textContent || ''")
                .as_str()
                .unwrap_or("")
                .contains("<script>window.__pwned=1</script>")
        })
        .expect("a reply carrying the payload, shown as text")
        .to_string();
    b.goto(&payload_page);
    b.assert_inert("payload");
    b.screenshot(&shots, "05-attempt-payload.png");

    b.goto(&format!("{base}/runs/{run_id}"));
    b.assert_inert("overview");
    assert!(b
        .eval("document.getElementById('human') !== null")
        .as_bool()
        .unwrap());
    b.screenshot(&shots, "06-overview.png");
    // The queue from the overview, keyboard only: `q`, then three labels.
    // It serves the random sample first, skipping what alice labelled.
    b.key_and_wait("q");
    b.wait_loaded();
    for k in ["1", "2", "1"] {
        assert!(b.href().contains("queue=1"), "{}", b.href());
        b.assert_inert("queue");
        b.key_and_wait(k);
        b.wait_loaded();
    }
    b.goto(&format!("{base}/compare?a={run_id}&b={run_id}"));
    b.screenshot(&shots, "07-compare.png");
    drop(b);

    // The report shows the human figures beside the raw ASR.
    let out = mmsafe(
        d,
        &["report", run_id, "--format", "json", "--store", "ui.db"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &r["human"];
    assert_eq!(h["n_labels"], 8, "{r}");
    // Every labelled attempt before the queue's three is in the sample too.
    assert!(h["n_sample"].as_u64().unwrap() >= 3, "{h}");
    assert!(h["judge_accuracy"].as_f64().is_some(), "{h}");
    for k in [
        "judge_accuracy",
        "sensitivity",
        "specificity",
        "asr_calibrated",
        "asr_raw",
        "n_sample",
    ] {
        assert!(h.get(k).is_some(), "human.{k} missing: {h}");
    }
    let out = mmsafe(
        d,
        &["report", run_id, "--format", "text", "--store", "ui.db"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("human labels: 8 labelled attempt(s)"));
    let out = mmsafe(
        d,
        &[
            "labels", "export", run_id, "--format", "jbb", "--store", "ui.db",
        ],
    );
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        8,
        "7 decided labels (one of the first five is unclear) + header"
    );
    eprintln!("screenshots: {}", shots.display());
    rt.block_on(async {
        target.shutdown().await;
        guard.shutdown().await;
    });
}
