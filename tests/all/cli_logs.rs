//! `starform-wasm logs` end to end: the real binary, stdin to stdout.

use std::io::Write;
use std::process::{Output, Stdio};

use serde_json::{json, Value};

use crate::support::{starform, ConfigFile};

fn logs(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = starform("logs")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Write from another thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn record(seq: usize, project: &str) -> String {
    json!({"seq": seq, "log": "l", "kubernetes": {"namespace_name": "acme-prod", "labels": {
        "starform.io/project": project, "starform.io/environment": "prod", "starform.io/service": "web"}}})
    .to_string()
}

#[test]
fn one_output_line_per_input_line_with_a_summary() {
    let input = format!(
        "{}\nnot json\n\n[1]\n{}\n{{\"project\":\"x\"}}",
        record(0, "Acme"),
        record(1, "bad_one")
    );
    let out = logs(&[], input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let records = lines(&out);
    assert_eq!(records.len(), 6);
    assert_eq!(
        (&records[0]["project"], &records[0]["log_kind"]),
        (&json!("acme"), &json!("runtime"))
    );
    assert_eq!(
        records[1],
        json!({"starform_raw": "not json", "starform_quarantine": {"reason": "malformed", "key": null}})
    );
    assert_eq!(records[2]["starform_raw"], "");
    assert_eq!(records[3]["starform_raw"], "[1]");
    assert_eq!(records[4]["starform_quarantine"]["reason"], "invalid_value");
    assert_eq!(records[5]["starform_shadowed"], json!({"project": "x"}));
    assert_eq!(
        stderr(&out).trim(),
        "accepted 1, quarantined 5 (missing_label: 1, invalid_value: 1, malformed: 3)"
    );
}

#[test]
fn order_is_kept_across_batches() {
    let n = 6000; // well over one 256 KiB batch
    let mut input = String::new();
    for seq in 0..n {
        input.push_str(&record(seq, if seq % 7 == 0 { "No Good" } else { "acme" }));
        input.push('\n');
    }
    let out = logs(&[], input.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    let records = lines(&out);
    assert_eq!(records.len(), n);
    for (seq, r) in records.iter().enumerate() {
        assert_eq!(r["seq"], seq);
        assert_eq!(r.get("starform_quarantine").is_some(), seq % 7 == 0);
    }
    let quarantined = n.div_ceil(7);
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "accepted {}, quarantined {quarantined} (invalid_value: {quarantined})",
            n - quarantined
        )
    );
}

#[test]
fn empty_input_gives_empty_output() {
    let out = logs(&[], b"");
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(stderr(&out).trim(), "accepted 0, quarantined 0");
}

#[test]
fn invalid_utf8_lines_are_kept_as_base64() {
    let out = logs(&[], b"\xff\xfe\n{}\n");
    assert!(out.status.success());
    let records = lines(&out);
    assert_eq!(records[0]["starform_raw_base64"], "//4=");
    assert_eq!(records[1]["starform_quarantine"]["reason"], "missing_label");
}

#[test]
fn the_config_file_is_applied() {
    let config = ConfigFile::new(r#"{"namespace_template": "{project}-{environment}"}"#);
    let input = format!("{}\n{}\n", record(0, "acme"), record(1, "globex"));
    let out = logs(
        &["--config", config.path().to_str().unwrap()],
        input.as_bytes(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let records = lines(&out);
    assert!(records[0].get("starform_quarantine").is_none());
    assert_eq!(
        records[1]["starform_quarantine"],
        json!({"reason": "namespace_mismatch", "key": "kubernetes.namespace_name"})
    );
}

#[test]
fn a_bad_config_exits_2_and_names_the_field() {
    for (name, json, field) in [
        (
            "alias.json",
            r#"{"key_aliases": {"team": "starform.io/tenant"}}"#,
            "key_aliases",
        ),
        (
            "env.json",
            r#"{"environment_aliases": {"prod": "Prod_1"}}"#,
            "environment_aliases",
        ),
        (
            "template.json",
            r#"{"namespace_template": "{team}"}"#,
            "namespace_template",
        ),
        (
            "size.json",
            r#"{"max_record_bytes": 0}"#,
            "max_record_bytes",
        ),
        ("unknown.json", r#"{"max_bytes": 10}"#, "max_bytes"),
        (
            "type.json",
            r#"{"max_record_bytes": "big"}"#,
            "max_record_bytes",
        ),
    ] {
        let config = ConfigFile::new(json);
        let out = logs(&["--config", config.path().to_str().unwrap()], b"{}\n");
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(field), "{name}: {}", stderr(&out));
        assert!(
            out.stdout.is_empty(),
            "{name}: no records are written with a bad config"
        );
    }
}

#[test]
fn a_missing_config_file_exits_2() {
    let out = logs(&["--config", "/nonexistent/starform.json"], b"{}\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/starform.json"));
}
