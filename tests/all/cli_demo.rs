//! `starform-wasm demo`: the embedded host and a real Envoy, fed the same
//! bundled traffic, must publish the same request counts and label sets.
//! Envoy comes from `$STARFORM_ENVOY` or `./.venv/bin/envoy` (scripts/test.sh
//! installs it); without it this test fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::process::Command;

const ENVOY_HEADER: &str = "== L7 metrics: the same traffic through a real Envoy ==";
const LOGS_HEADER: &str = "== Logs: sample records through the compiled log transform ==";

/// Sample lines whose values the two hosts must agree on exactly (byte
/// totals differ: the embedded host is told sizes, Envoy measures headers).
fn comparable(section: &str) -> BTreeSet<String> {
    section
        .lines()
        .filter(|l| {
            l.starts_with("starform_http_requests_total")
                || l.starts_with("starform_l7_")
                || l.starts_with("starform_http_request_duration_milliseconds_count")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn demo_embedded_and_real_envoy_agree() {
    let envoy = std::env::var("STARFORM_ENVOY")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/envoy").to_owned());
    assert!(
        std::path::Path::new(&envoy).is_file(),
        "no Envoy at {envoy}: run scripts/test.sh, which installs it"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_starform-wasm"))
        .arg("demo")
        .env("STARFORM_ENVOY", &envoy)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (embedded, rest) = text.split_once(LOGS_HEADER).unwrap();
    let (logs, real) = rest.split_once(ENVOY_HEADER).unwrap();

    let want = comparable(embedded);
    assert!(
        want.contains(r#"starform_http_requests_total{project="acme",environment="prod",service="api",code_class="2xx"} 5"#),
        "{embedded}"
    );
    assert!(
        want.contains(r#"starform_l7_unattributed_requests_total{reason="no_route"} 1"#),
        "{embedded}"
    );
    assert_eq!(
        comparable(real),
        want,
        "real Envoy:\n{real}\nembedded:\n{embedded}"
    );

    assert!(
        logs.contains(
            "accepted 3, quarantined 3 (missing_label: 1, invalid_value: 1, malformed: 1)"
        ),
        "{logs}"
    );
}

#[test]
fn demo_without_envoy_still_runs_both_modules() {
    let out = Command::new(env!("CARGO_BIN_EXE_starform-wasm"))
        .args(["demo", "--no-envoy"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(text.contains("skipped (--no-envoy)"), "{text}");
    assert!(text.contains(r#"starform_http_requests_total{project="globex",environment="staging",service="web",code_class="5xx"} 3"#), "{text}");
    assert!(
        text.contains(r#""starform_shadowed":{"project":"globex"}"#),
        "{text}"
    );
    // The pointer to the full pipeline names end-to-end tests that exist.
    let hint = text
        .lines()
        .find(|l| l.starts_with("Full pipeline"))
        .unwrap_or_else(|| panic!("no full-pipeline line:\n{text}"));
    let tests: Vec<&str> = hint
        .split("--test ")
        .skip(1)
        .map(|rest| rest.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(tests, ["metrics_pipe", "logs_pipe"], "{hint}");
    for name in tests {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("host-tests/tests")
            .join(format!("{name}.rs"));
        assert!(file.is_file(), "{hint}: no {}", file.display());
    }
}
