//! `starform-wasm demo`: the embedded host and a real Envoy, fed the same
//! bundled traffic, must publish the same request counts and label sets.
//! Envoy is found as the demo finds it (`$STARFORM_ENVOY`, `./.venv/bin/envoy`,
//! `PATH`; scripts/test.sh installs it); without it this test fails.

use std::collections::BTreeSet;

use crate::support::starform;

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
    // The demo's own lookup: an Envoy it would not find fails this test,
    // never skips its real-Envoy part.
    let envoy = starform_wasm::envoy::find_binary()
        .filter(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!("no Envoy ($STARFORM_ENVOY, ./.venv/bin/envoy, PATH): run scripts/test.sh, which installs it")
        });
    let out = starform("demo")
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
    let out = starform("demo").arg("--no-envoy").output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(text.contains("skipped (--no-envoy)"), "{text}");
    assert!(text.contains(r#"starform_http_requests_total{project="globex",environment="staging",service="web",code_class="5xx"} 3"#), "{text}");
    assert!(
        text.contains(r#""starform_shadowed":{"project":"globex"}"#),
        "{text}"
    );
    // The pointer to the full pipeline names end-to-end tests that exist:
    // modules of host-tests' test binary, selected by their path prefix.
    let hint = text
        .lines()
        .find(|l| l.starts_with("Full pipeline"))
        .unwrap_or_else(|| panic!("no full-pipeline line:\n{text}"));
    let (_, filters) = hint
        .split_once("--test all -- ")
        .unwrap_or_else(|| panic!("no test selection in {hint:?}"));
    let tests: Vec<&str> = filters
        .split_whitespace()
        .map(|filter| filter.strip_suffix("::").unwrap_or(filter))
        .collect();
    assert_eq!(tests, ["metrics_pipe", "logs_pipe"], "{hint}");
    for name in tests {
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("host-tests/tests/all")
            .join(format!("{name}.rs"));
        assert!(file.is_file(), "{hint}: no {}", file.display());
    }
}
