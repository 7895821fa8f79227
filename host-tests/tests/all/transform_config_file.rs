//! The module as Fluent Bit runs it: never configured by the host, reading
//! /etc/starform/log-transform.json through WASI on its first record.

use std::path::PathBuf;

use serde_json::{json, Value};
use starform_vector_transform::Reason;
use starform_wasm::log_host::{LogHostError, LogTransform};

fn dir_with(name: &str, config: Option<&str>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "starform-config-file-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("log-transform.json");
    match config {
        Some(json) => std::fs::write(&file, json).unwrap(),
        None => {
            let _ = std::fs::remove_file(&file);
        }
    }
    dir
}

const RECORD: &str = r#"{"project":"spoof","kubernetes":{"namespace_name":"other","labels":{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web"}}}"#;

fn run(host: &mut LogTransform, record: &str) -> Value {
    serde_json::from_slice(&host.transform(record.as_bytes()).unwrap()).unwrap()
}

#[test]
fn without_a_file_the_default_configuration_applies() {
    for dir in [None, Some(dir_with("absent", None))] {
        let mut host = LogTransform::unconfigured(dir.as_deref()).unwrap();
        let out = run(&mut host, RECORD);
        assert_eq!(out["project"], "acme", "{dir:?}");
        assert!(out.get("starform_quarantine").is_none());
    }
}

#[test]
fn the_file_is_read_on_the_first_record() {
    let dir = dir_with(
        "valid",
        Some(r#"{"namespace_template": "{project}-{environment}"}"#),
    );
    let mut host = LogTransform::unconfigured(Some(&dir)).unwrap();
    let out = run(&mut host, RECORD);
    assert_eq!(
        out["starform_quarantine"],
        json!({"reason": "namespace_mismatch", "key": "kubernetes.namespace_name"})
    );
    // Read once: changing the file later does not change this instance.
    std::fs::write(dir.join("log-transform.json"), "{}").unwrap();
    assert_eq!(
        run(&mut host, RECORD)["starform_quarantine"]["reason"],
        "namespace_mismatch"
    );
}

#[test]
fn an_invalid_file_fails_closed() {
    let dir = dir_with("invalid", Some(r#"{"max_record_bytes": 0}"#));
    let mut host = LogTransform::unconfigured(Some(&dir)).unwrap();
    let out = run(&mut host, RECORD);
    assert_eq!(
        out["starform_quarantine"],
        json!({"reason": "config_invalid", "key": "max_record_bytes"})
    );
    assert_eq!(
        out["starform_shadowed"],
        json!({"project": "spoof"}),
        "rule 2 still applies"
    );
    assert!(out.get("project").is_none());
    // Non-objects are still malformed; every record is still one object out.
    assert_eq!(
        run(&mut host, "[1]")["starform_quarantine"]["reason"],
        "malformed"
    );
    let counts = host.counts().unwrap();
    assert_eq!(
        (
            counts.quarantined(Reason::ConfigInvalid),
            counts.quarantined(Reason::Malformed)
        ),
        (1, 1)
    );
}

#[test]
fn starform_configure_overrides_the_file() {
    let dir = dir_with("override", Some("not json"));
    let mut host = LogTransform::unconfigured(Some(&dir)).unwrap();
    host.configure(b"{}").unwrap();
    assert_eq!(run(&mut host, RECORD)["project"], "acme");
    // A rejected configuration keeps the previous one and names the field.
    let err = host
        .configure(br#"{"environment_aliases": {"prod": "Prod"}}"#)
        .unwrap_err();
    assert!(err.to_string().contains("environment_aliases"), "{err}");
    assert_eq!(run(&mut host, RECORD)["project"], "acme");
}

/// The configuration rules both plugins share (docs/contracts.md §5), in the
/// compiled module: through `starform_configure`, a rejection that names the
/// field on one line; as the file, every record quarantined under that field.
#[test]
fn the_shared_configuration_rules_hold_in_the_module() {
    for (i, (config, field, start)) in [
        (
            r#"{"max_record_bytes": 5, "max_record_bytes": 5}"#,
            "max_record_bytes",
            "field `max_record_bytes`: repeated",
        ),
        (
            r#"{"namespace_template": null, "namespace_template": "{project}"}"#,
            "namespace_template",
            "field `namespace_template`: repeated",
        ),
        (
            r#"{"max_record_bytes": 1e999}"#,
            "max_record_bytes",
            "field `max_record_bytes`: not valid JSON: ",
        ),
        (
            r#"{"max_record_bytes": -1}"#,
            "max_record_bytes",
            "field `max_record_bytes`: invalid value",
        ),
        (
            r#"{"key_aliases": []}"#,
            "key_aliases",
            "field `key_aliases`: invalid type",
        ),
        (
            r#"{"namespace_templat\n": "x"}"#,
            "namespace_templat\n",
            "field `namespace_templat\\n`: unknown (expected one of `key_aliases`, ",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let Err(LogHostError::Config(message)) = LogTransform::with_config(config.as_bytes())
        else {
            panic!("{config} accepted");
        };
        assert!(message.starts_with(start), "{config}: {message}");
        assert!(!message.contains(char::is_control), "{message:?}");
        let dir = dir_with(&format!("rules-{i}"), Some(config));
        let mut host = LogTransform::unconfigured(Some(&dir)).unwrap();
        assert_eq!(
            run(&mut host, RECORD)["starform_quarantine"],
            json!({"reason": "config_invalid", "key": field}),
            "{config}"
        );
    }
    // `null` is absent and empty is `{}`, as the file or configured.
    for (i, config) in [
        "",
        "\n",
        r#"{"key_aliases": null, "environment_aliases": null, "namespace_template": null, "max_record_bytes": null}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let mut host = LogTransform::with_config(config.as_bytes()).unwrap();
        assert_eq!(run(&mut host, RECORD)["project"], "acme", "{config:?}");
        let dir = dir_with(&format!("defaults-{i}"), Some(config));
        let mut host = LogTransform::unconfigured(Some(&dir)).unwrap();
        assert_eq!(run(&mut host, RECORD)["project"], "acme", "{config:?}");
    }
}
