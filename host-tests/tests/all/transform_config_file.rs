//! The module as Fluent Bit runs it: never configured by the host, it reads
//! `log-transform.json` from the first preopened directory (Fluent Bit's
//! `Accessible_Paths`, in order) that has one, on its first record. No file
//! in any of them, or a file it cannot use, fails closed: every object is
//! quarantined `config_invalid`.

use std::path::Path;

use serde_json::{json, Value};
use starform_vector_transform::Reason;
use starform_wasm::log_host::{LogHostError, LogModule, LogTransform};

use crate::support::TempDir;

const FILE: &str = "log-transform.json";

/// A scratch directory holding `log-transform.json` with `config`, or no
/// such file.
fn dir_with(name: &str, config: Option<&str>) -> TempDir {
    let dir = TempDir::new(name).unwrap();
    if let Some(json) = config {
        std::fs::write(dir.path().join(FILE), json).unwrap();
    }
    dir
}

fn fluent_bit(dirs: &[&Path]) -> LogTransform {
    LogTransform::fluent_bit(LogModule::vector_transform().unwrap(), dirs).unwrap()
}

const RECORD: &str = r#"{"project":"spoof","kubernetes":{"namespace_name":"other","labels":{"starform.io/project":"acme","starform.io/environment":"prod","starform.io/service":"web"}}}"#;

/// Passes only under a configuration with a namespace template.
const TEMPLATE: &str = r#"{"namespace_template": "{project}-{environment}"}"#;

fn run(host: &mut LogTransform, record: &str) -> Value {
    serde_json::from_slice(&host.transform(record.as_bytes()).unwrap()).unwrap()
}

fn quarantine(out: &Value) -> &Value {
    &out["starform_quarantine"]
}

fn stderr_lines(host: &LogTransform) -> Vec<String> {
    host.stderr().unwrap().lines().map(str::to_owned).collect()
}

#[test]
fn a_file_in_any_preopened_directory_is_found() {
    // Nothing about the path is special: a scratch directory, not /etc.
    let dir = dir_with("config-anywhere", Some(TEMPLATE));
    let mut host = fluent_bit(&[dir.path()]);
    let out = run(&mut host, RECORD);
    assert_eq!(
        quarantine(&out),
        &json!({"reason": "namespace_mismatch", "key": "kubernetes.namespace_name"})
    );
    let lines = stderr_lines(&host);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let path = dir.path().join(FILE);
    assert!(
        lines[0].contains(path.to_str().unwrap()),
        "names the file it uses: {lines:?}"
    );
}

#[test]
fn the_first_directory_that_has_the_file_wins() {
    let empty = dir_with("config-empty", None);
    let template = dir_with("config-template", Some(TEMPLATE));
    let invalid = dir_with("config-invalid-later", Some(r#"{"max_record_bytes": 0}"#));

    // A directory without the file is passed over; the one after it decides,
    // and the invalid file after that is never read.
    let mut host = fluent_bit(&[empty.path(), template.path(), invalid.path()]);
    assert_eq!(
        quarantine(&run(&mut host, RECORD))["reason"],
        "namespace_mismatch"
    );

    // The same directories in the other order: the invalid file comes first.
    let mut host = fluent_bit(&[empty.path(), invalid.path(), template.path()]);
    assert_eq!(
        quarantine(&run(&mut host, RECORD)),
        &json!({"reason": "config_invalid", "key": "max_record_bytes"})
    );
}

#[test]
fn no_file_in_any_directory_quarantines_every_record() {
    let a = dir_with("config-none-a", None);
    let b = dir_with("config-none-b", None);
    for dirs in [vec![], vec![a.path(), b.path()]] {
        let mut host = fluent_bit(&dirs);
        for _ in 0..3 {
            let out = run(&mut host, RECORD);
            assert_eq!(
                quarantine(&out),
                &json!({"reason": "config_invalid", "key": FILE}),
                "{dirs:?}"
            );
            assert!(out.get("project").is_none(), "never accepted: {out}");
        }
        // Said once, naming every directory searched.
        let lines = stderr_lines(&host);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(FILE), "{lines:?}");
        for dir in &dirs {
            assert!(
                lines[0].contains(dir.to_str().unwrap()),
                "{dir:?} not named: {lines:?}"
            );
        }
        let counts = host.counts().unwrap();
        assert_eq!(counts.quarantined(Reason::ConfigInvalid), 3);
        assert_eq!(counts.accepted, 0);
    }
}

#[test]
fn a_file_that_cannot_be_read_quarantines_every_record() {
    // A directory where the file should be: there, but not readable as a file.
    let dir = dir_with("config-unreadable", None);
    std::fs::create_dir(dir.path().join(FILE)).unwrap();
    let later = dir_with("config-unreadable-later", Some("{}"));
    let mut host = fluent_bit(&[dir.path(), later.path()]);
    let out = run(&mut host, RECORD);
    assert_eq!(
        quarantine(&out),
        &json!({"reason": "config_invalid", "key": FILE}),
        "the later directory's file is not used instead"
    );
    let lines = stderr_lines(&host);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains(dir.path().join(FILE).to_str().unwrap()),
        "{lines:?}"
    );
}

#[test]
fn the_file_is_read_on_the_first_record_only() {
    let dir = dir_with("config-once", Some(TEMPLATE));
    let mut host = fluent_bit(&[dir.path()]);
    assert_eq!(
        quarantine(&run(&mut host, RECORD))["reason"],
        "namespace_mismatch"
    );
    // Read once: changing the file later does not change this instance.
    std::fs::write(dir.path().join(FILE), "{}").unwrap();
    assert_eq!(
        quarantine(&run(&mut host, RECORD))["reason"],
        "namespace_mismatch"
    );
}

#[test]
fn an_invalid_file_fails_closed_naming_the_field() {
    let dir = dir_with("config-invalid", Some(r#"{"max_record_bytes": 0}"#));
    let mut host = fluent_bit(&[dir.path()]);
    let out = run(&mut host, RECORD);
    assert_eq!(
        quarantine(&out),
        &json!({"reason": "config_invalid", "key": "max_record_bytes"})
    );
    assert_eq!(
        out["starform_shadowed"],
        json!({"project": "spoof"}),
        "rule 2 still applies"
    );
    assert!(out.get("project").is_none());
    // Non-objects are still malformed; every record is still one object out.
    assert_eq!(quarantine(&run(&mut host, "[1]"))["reason"], "malformed");
    let batch = host.transform_batch(format!("{RECORD}\nnot json\n{{}}\n").as_bytes());
    let lines: Vec<Value> = batch
        .unwrap()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(Value::is_object));
    let counts = host.counts().unwrap();
    assert_eq!(
        (
            counts.accepted,
            counts.quarantined(Reason::ConfigInvalid),
            counts.quarantined(Reason::Malformed)
        ),
        (0, 3, 2)
    );
    let stderr = host.stderr().unwrap();
    assert!(stderr.contains("max_record_bytes"), "{stderr}");
}

#[test]
fn a_file_that_is_not_json_fails_closed() {
    let dir = dir_with("config-not-json", Some("not json"));
    let mut host = fluent_bit(&[dir.path()]);
    assert_eq!(
        quarantine(&run(&mut host, RECORD)),
        &json!({"reason": "config_invalid", "key": FILE}),
        "no field to name: the file is"
    );
}

#[test]
fn starform_configure_overrides_the_file() {
    let dir = dir_with("config-override", Some("not json"));
    let mut host = fluent_bit(&[dir.path()]);
    host.configure(b"{}").unwrap();
    assert_eq!(run(&mut host, RECORD)["project"], "acme");
    assert_eq!(host.stderr().unwrap(), "", "the file is never read");
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
        let mut host = fluent_bit(&[dir.path()]);
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
        let mut host = fluent_bit(&[dir.path()]);
        assert_eq!(run(&mut host, RECORD)["project"], "acme", "{config:?}");
    }
}
