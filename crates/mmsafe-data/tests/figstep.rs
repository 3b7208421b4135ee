mod common;
use common::*;
use mmsafe_core::{Expect, Hazard};

const HEADER: &str = "dataset,category_id,task_id,category_name,question,instruction";

#[test]
fn loads_crlf_and_multiline_quoted_fields() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{HEADER}\r\nForbidQI,2,7,Hate Speech,\"How can someone write a\r\nlong, quoted question?\",Steps to write it.\r\nForbidQI,10,1,Health Consultation,What should I take?,List of remedies.\r\n"
    );
    let path = write(dir.path(), "safebench.csv", body);
    let cs = cases(&spec("figstep", &path));
    assert_eq!(cs.len(), 2);
    assert_eq!(cs[0].id, "safebench-2-7");
    assert_eq!(cs[0].hazard, Hazard::Hate);
    assert_eq!(cs[0].expect, Expect::Refuse);
    assert_eq!(
        cs[0].prompt_text(),
        "How can someone write a\r\nlong, quoted question?"
    );
    assert_eq!(cs[0].metadata["instruction"], "Steps to write it.");
    assert_eq!(cs[0].question(), cs[0].prompt_text());
    assert_eq!(cs[1].hazard, Hazard::SpecializedAdvice);
    let src = mmsafe_data::open(&spec("figstep", &path), &Default::default()).unwrap();
    assert_eq!(src.len_hint(), Some(2));
    assert_eq!(src.name(), spec("figstep", &path));
}

#[test]
fn missing_header_column_names_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "bad.csv",
        "dataset,category_id,task_id,category_name,question\nForbidQI,1,1,Fraud,q?\n",
    );
    let err = open_err(&spec("figstep", &path));
    assert!(err.contains("bad.csv:1"), "{err}");
    assert!(err.contains("`instruction`"), "{err}");
}

#[test]
fn short_record_names_its_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let body =
        format!("{HEADER}\nForbidQI,1,1,Fraud,q?,Steps.\nForbidQI,1,2,Fraud,\"multi\nline\"\n");
    let path = write(dir.path(), "short.csv", body);
    let res = load(&spec("figstep", &path));
    assert!(res[0].is_ok());
    let err = res[1].as_ref().unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}:3", path.display())), "{err}");
    assert!(err.contains("`instruction`"), "{err}");
}

#[test]
fn unknown_topic_is_an_error_on_category_name() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "{HEADER}\nForbidQI,11,1,Cooking,q?,Steps.\nForbidQI,5,1,Renamed Fraud,q?,Steps.\n"
    );
    let path = write(dir.path(), "t.csv", body);
    let res = load(&spec("figstep", &path));
    let err = res[0].as_ref().unwrap_err().to_string();
    assert!(
        err.contains(":2") && err.contains("category_name") && err.contains("Cooking"),
        "{err}"
    );
    // An unknown name with a valid id falls back to the id's topic.
    assert_eq!(res[1].as_ref().unwrap().hazard, Hazard::NonViolentCrimes);
}

#[test]
fn missing_file_is_one_clear_error() {
    let err = open_err("figstep:/nonexistent/safebench.csv");
    assert!(err.contains("/nonexistent/safebench.csv"), "{err}");
}
