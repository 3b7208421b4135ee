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

/// The physical line a record starts on, for the same rows written with LF
/// and with CRLF endings, including a record after a multi-line quoted field.
#[test]
fn error_lines_are_physical_lines_for_lf_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    for (name, nl) in [("lf.csv", "\n"), ("crlf.csv", "\r\n")] {
        let rows = [
            HEADER,
            "ForbidQI,1,1,Fraud,q?,Steps.",
            "ForbidQI,1,2,Fraud,short",
            "ForbidQI,2,3,Hate Speech,\"two",
            "lines\",Steps.",
            "ForbidQI,1,4,Fraud,\"three",
            "quoted",
            "lines\"",
            "ForbidQI,1,5,Fraud,short again",
        ];
        let body = rows.join(nl) + nl;
        let path = write(dir.path(), name, body);
        let res = load(&spec("figstep", &path));
        assert_eq!(res.len(), 5, "{name}");
        let err = |i: usize| res[i].as_ref().unwrap_err().to_string();
        let at = |line: u32| format!("{}:{line}:", path.display());
        assert!(res[0].is_ok() && res[2].is_ok(), "{name}");
        assert!(err(1).starts_with(&at(3)), "{name}: {}", err(1));
        assert!(err(3).starts_with(&at(6)), "{name}: {}", err(3));
        assert!(err(4).starts_with(&at(9)), "{name}: {}", err(4));
    }
}

#[test]
fn unterminated_quote_names_the_line_it_opens_on() {
    let dir = tempfile::tempdir().unwrap();
    for (name, nl) in [("open_lf.csv", "\n"), ("open_crlf.csv", "\r\n")] {
        let rows = [
            HEADER,
            "ForbidQI,1,1,Fraud,q?,Steps.",
            "ForbidQI,1,2,Fraud,\"never closed,Steps.",
            "ForbidQI,1,3,Fraud,q?,Steps.",
        ];
        let path = write(dir.path(), name, rows.join(nl) + nl);
        let res = load(&spec("figstep", &path));
        assert_eq!(res.len(), 2, "{name}");
        assert!(res[0].is_ok(), "{name}");
        let err = res[1].as_ref().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}:3:", path.display()))
                && err.contains("unterminated quoted field starting at line 3"),
            "{name}: {err}"
        );
    }
    // In the header, it is named instead of the columns it hid.
    let path = write(
        dir.path(),
        "open_header.csv",
        "dataset,category_id,\"task_id,category_name,question,instruction\nF,1,1,Fraud,q?,S.\n",
    );
    let err = open_err(&spec("figstep", &path));
    assert!(
        err.contains("open_header.csv:1")
            && err.contains("unterminated quoted field starting at line 1"),
        "{err}"
    );
    // Escaped quotes ("") and quotes inside unquoted fields are not openings.
    let path = write(
        dir.path(),
        "escaped.csv",
        format!("{HEADER}\r\nForbidQI,1,1,Fraud,\"say \"\"hi\"\"\",5\" nails\r\n"),
    );
    let cs = cases(&spec("figstep", &path));
    assert_eq!(cs[0].prompt_text(), "say \"hi\"");
    assert_eq!(cs[0].metadata["instruction"], "5\" nails");
}
