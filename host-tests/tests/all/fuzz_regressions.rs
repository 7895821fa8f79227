//! Inputs the fuzz targets (fuzz/, scripts/fuzz.sh) found, kept as tests of
//! the compiled modules. docs/reliability.md lists each finding.

use crate::support::filter::rejected;
use starform_wasm::log_host::{LogHostError, LogTransform};

/// fuzz target `filter_config`: an unknown field whose name holds a newline
/// (JSON `\u000a`) made the rejection message span two lines. Envoy shows a
/// rejected configuration as one log line, so the message must be one line
/// whatever the configuration contains.
#[test]
fn rejection_of_a_field_name_with_control_characters_is_one_line() {
    for config in [
        &br#"{"p(\u000attr"n1e6:5 }"#[..],
        br#"{"a\nb": 1}"#,
        br#"{"a\r\nmax_label_sets\u0000": 1}"#,
        br#"{"route_pattern": "(?P<project>x)\n(?P<environment>y)"}"#,
        // DEL (0x7f) in a key: `ConfigError`'s own message must be escaped,
        // not only the log line (docs/reliability.md, finding F4).
        b"{\"prev\x7f\x7fy\x7fie^httproute/onmx_label_sets\": 5000}",
    ] {
        let lines = rejected(config);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            !lines[0].contains(char::is_control),
            "{:?} rejected with {:?}",
            String::from_utf8_lossy(config),
            lines[0]
        );
    }
}

/// A value serde_json refuses to read (a number beyond f64) is rejected
/// naming the field whose value it is, not only "number out of range at line
/// 1 column N" (docs/reliability.md, finding F2).
#[test]
fn rejection_of_a_value_that_is_not_json_names_its_field() {
    for (config, field) in [
        (
            &br#"{"max_cached_routes": 918446E44073709551615}"#[..],
            "max_cached_routes",
        ),
        (
            br#"{"preview_policy": "full", "max_label_sets": -1e400}"#,
            "max_label_sets",
        ),
        (br#"{"route_pattern": "^(?P<project>a)"#, "route_pattern"),
    ] {
        let lines = rejected(config);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].contains(&format!("field `{field}`: not valid JSON: ")),
            "{:?} rejected with {:?}",
            String::from_utf8_lossy(config),
            lines[0]
        );
    }
}

/// fuzz target `transform_config`: an unknown key or an unknown
/// `namespace_template` placeholder holding a newline made the rejection two
/// lines (Fluent Bit logs it as one stderr line). Fixed in
/// vector-transform/src/config.rs (`OneLine`); checked on the compiled
/// module here.
#[test]
fn transform_rejection_naming_what_was_written_is_one_line() {
    for config in [
        &br#"{"pstance\u000a": 1}"#[..],
        br#"{"namespace_template": "{environm\nt}"}"#,
        br#"{"namespace_template": "{s\rvice}"}"#,
    ] {
        let Err(LogHostError::Config(message)) = LogTransform::with_config(config) else {
            panic!("{:?} accepted", String::from_utf8_lossy(config));
        };
        assert!(!message.contains(['\n', '\r']), "{message:?}");
    }
}
