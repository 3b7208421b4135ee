//! The official `openai` Python SDK, unchanged, as a client of the proxy.
//! Skipped (with a note) when `python3 -c "import openai"` fails; `.ci/run`
//! installs the SDK.

use crate::support::*;
use mmsafe_testkit::{MockConfig, Reply};

const SCRIPT: &str = r#"
import sys, openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-sdk")
r = client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "Say hi"}])
assert r.choices[0].message.content == "hi there", r
assert r.choices[0].finish_reason == "stop", r
b = client.chat.completions.create(model="mock-model", messages=[{"role": "user", "content": "a bomb"}])
assert b.choices[0].finish_reason == "content_filter", b
text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
    model="mock-model", messages=[{"role": "user", "content": "Say hi"}], stream=True) if c.choices)
assert text == "hi there", text
try:
    openai.OpenAI(base_url=sys.argv[1], api_key="wrong").chat.completions.create(
        model="mock-model", messages=[{"role": "user", "content": "x"}])
    raise SystemExit("expected 401")
except openai.AuthenticationError:
    pass
print("sdk ok")
"#;

#[tokio::test]
async fn official_openai_sdk_works_unchanged() {
    let has_sdk = std::process::Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_sdk {
        eprintln!("skipped: the `openai` Python SDK is not installed (pip install openai)");
        return;
    }
    let p = pair(
        MockConfig::default().reply(Reply::Fixed("hi there".into())),
        |c| c.api_keys = vec![key("sk-sdk")],
    )
    .await;
    let url = p.proxy.base_url();
    let out = tokio::process::Command::new("python3")
        .args(["-c", SCRIPT, &url])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sdk ok"));
}
