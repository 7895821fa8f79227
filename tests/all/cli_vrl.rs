//! `starform-wasm vrl`: the built binary prints the generated VRL programs.

use std::process::Output;

use starform_vector_transform::TransformConfig;
use starform_wasm::vrl_program;

use crate::support::{starform, ConfigFile};

fn vrl(args: &[&str]) -> Output {
    starform("vrl").args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn prints_the_default_program() {
    assert_eq!(
        stdout(&vrl(&[])),
        vrl_program::generate(&TransformConfig::default()).unwrap()
    );
}

#[test]
fn prints_the_program_for_a_config_file() {
    let json = r#"{"key_aliases": {"team": "starform.io/project"}, "namespace_template": "{project}-{environment}"}"#;
    let config = ConfigFile::new(json);
    let printed = stdout(&vrl(&["--config", config.path().to_str().unwrap()]));
    let config: TransformConfig = serde_json::from_str(json).unwrap();
    assert_eq!(printed, vrl_program::generate(&config).unwrap());
    assert!(printed.contains(r#"labels."team""#));
}

#[test]
fn prints_the_dropped_program() {
    assert_eq!(
        stdout(&vrl(&["--dropped"])),
        vrl_program::generate_dropped()
    );
}

#[test]
fn a_bad_config_names_the_field_and_exits_2() {
    for (name, json, field) in [
        ("zero", r#"{"max_record_bytes": 0}"#, "max_record_bytes"),
        ("unknown", r#"{"key_alias": {}}"#, "key_alias"),
        (
            "mistyped",
            r#"{"max_record_bytes": "big"}"#,
            "max_record_bytes",
        ),
        ("not json", "{", "configuration"),
        (
            "target",
            r#"{"key_aliases": {"app": "starform.io/nope"}}"#,
            "key_aliases",
        ),
        (
            "template",
            r#"{"namespace_template": "{team}"}"#,
            "namespace_template",
        ),
    ] {
        let config = ConfigFile::new(json);
        let out = vrl(&["--config", config.path().to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(field), "{name}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{name}: printed a program for a bad config"
        );
    }
}

#[test]
fn an_unreadable_config_exits_2() {
    let out = vrl(&["--config", "/nonexistent/starform.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/starform.json"));
}
