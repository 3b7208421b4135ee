//! `mmsafe labels …` and `mmsafe ui` flag checks, on a generated store.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_mmsafe");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("MMSAFE_STORE")
        .env_remove("MMSAFE_LOG")
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn add_export_import_agreement_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run_id = mmsafe_ui::synthetic::generate(&d.join("s.db"), 400, 0).unwrap();
    let store = mmsafe_store::Store::open(d.join("s.db")).unwrap();
    let order = store.queue_order(&run_id, 7, None).unwrap();
    let (k1, k2) = (order.sample[0].clone(), order.sample[1].clone());
    drop(store);

    let add = |key: &str, label: &str, who: &str| {
        run(
            d,
            &[
                "labels",
                "add",
                "synthetic",
                key,
                "--label",
                label,
                "--annotator",
                who,
                "--store",
                "s.db",
            ],
        )
    };
    let o = add(&k1[..10], "complied", "ann");
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains(&k1), "{}", text(&o.stdout));
    assert!(add(&k2, "refused", "ann").status.success());
    assert!(add(&k1, "harmful-complied", "bob").status.success());
    // Usage errors exit 2; an unknown attempt is an error (1).
    assert_eq!(add(&k1, "maybe", "ann").status.code(), Some(2));
    assert_eq!(add(&k1, "refused", "").status.code(), Some(2));
    assert_eq!(add("ffffffffffff", "refused", "ann").status.code(), Some(1));

    let o = run(
        d,
        &[
            "labels",
            "agreement",
            "synthetic",
            "--store",
            "s.db",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(a["shared_items"], 1);

    let o = run(
        d,
        &[
            "labels",
            "export",
            "synthetic",
            "--format",
            "jsonl",
            "--out",
            "l.jsonl",
            "--store",
            "s.db",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read_to_string(d.join("l.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1,
        "k1's labels tie (complied vs harmful-complied): left out"
    );
    assert_eq!(
        run(
            d,
            &[
                "labels",
                "export",
                "synthetic",
                "--format",
                "xml",
                "--store",
                "s.db"
            ]
        )
        .status
        .code(),
        Some(2)
    );
    let o = run(
        d,
        &[
            "labels",
            "import",
            "synthetic",
            "l.jsonl",
            "--annotator",
            "cy",
            "--store",
            "s.db",
        ],
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("imported 1 label(s)"));
    let o = run(
        d,
        &["labels", "list", "synthetic", "--json", "--store", "s.db"],
    );
    let l: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(l.as_array().unwrap().len(), 4);

    // The report carries the human figures.
    let o = run(
        d,
        &["report", "synthetic", "--format", "json", "--store", "s.db"],
    );
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["human"]["n_labels"], 2, "{r}");
    assert_eq!(r["human"]["n_sample"], 2, "{r}");

    // `ui` refuses a non-loopback address without a token, and a bad address.
    let o = run(d, &["ui", "--store", "s.db", "--listen", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("--token"), "{}", text(&o.stderr));
    assert_eq!(
        run(d, &["ui", "--store", "s.db", "--listen", "nowhere"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        run(
            d,
            &[
                "ui",
                "--store",
                "s.db",
                "--listen",
                "0.0.0.0:0",
                "--token",
                "short"
            ]
        )
        .status
        .code(),
        Some(2)
    );
}
