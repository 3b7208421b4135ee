//! Paths built from data files stay inside the dataset, and a path that
//! cannot be opened says why (a symlink loop is not "no such file").

mod common;
use common::*;
use serde_json::json;

/// MM-SafetyBench builds image paths from the question ids (JSON keys): a
/// hostile key must not reach a file outside the dataset.
#[test]
fn mmsafetybench_question_ids_cannot_escape_the_dataset() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("dataset");
    write(&root.path().join("outside"), "SECRET.jpg", jpeg(4, 4));
    let key = "../../../../outside/SECRET";
    write(
        &data,
        "processed_questions/01-Illegal_Activitiy.json",
        json!({
            key: {"Question": "q?", "Rephrased Question": "rq", "Rephrased Question(SD)": "rsd"},
            "0": {"Question": "q0?", "Rephrased Question": "rq0", "Rephrased Question(SD)": "rsd0"}
        })
        .to_string(),
    );
    write(&data, "imgs/01-Illegal_Activitiy/SD_TYPO/0.jpg", jpeg(4, 4));
    let rows = load(&spec("mmsafetybench", &data));
    assert_eq!(rows.len(), 2);
    let loaded: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(loaded, ["mmsafetybench-01-0"], "only the honest row loads");
    let err = rows
        .iter()
        .find_map(|r| r.as_ref().err())
        .unwrap()
        .to_string();
    assert!(
        err.contains("must be relative and stay inside") && err.contains(key),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_self_referencing_symlink_is_a_symlink_loop() {
    let dir = tempfile::tempdir().unwrap();
    let looped = dir.path().join("loop.jsonl");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let e = open_err(&format!("jsonl:{}", looped.display()));
    assert!(e.contains("symlink loop"), "{e}");
    assert!(!e.contains("no such file"), "{e}");

    // The same for an image a row names.
    let img = dir.path().join("imgs/a.png");
    std::fs::create_dir_all(img.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&img, &img).unwrap();
    let f = write(
        dir.path(),
        "rows.jsonl",
        "{\"prompt\": \"what is this\", \"image\": \"imgs/a.png\"}\n",
    );
    let errs = errors(&format!("jsonl:{}:image=image", f.display()));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("symlink loop"), "{}", errs[0]);
}

/// A missing file still says so.
#[test]
fn a_missing_dataset_is_no_such_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = open_err(&format!(
        "jsonl:{}",
        dir.path().join("absent.jsonl").display()
    ));
    assert!(e.contains("no such file"), "{e}");
}
