//! `starform-wasm route`: the built binary running the embedded filter.

use std::ffi::OsString;
use std::process::Output;

use crate::support::{starform, ConfigFile};

fn route(p: &str, e: &str, s: &str) -> String {
    format!("httproute/default/{p}.{e}.{s}/rule/0/match/0/www_example_com")
}

fn run(args: &[OsString]) -> Output {
    starform("route").args(args).output().unwrap()
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn run_ok(args: &[OsString]) -> Vec<String> {
    let out = run(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout_lines(&out)
}

fn routes(names: &[&str]) -> Vec<OsString> {
    names.iter().map(OsString::from).collect()
}

#[test]
fn prints_one_json_object_per_route() {
    let attributed = route("acme", "prod", "web");
    let invalid = route("acme", "Prod", "web");
    let mut args = routes(&[
        &attributed,
        "httproute/default/acme/rule/0/match/0/x",
        &invalid,
        "",
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        args.push(OsString::from_vec(
            b"httproute/default/a.b.\xff/rule/0/match/0/x".to_vec(),
        ));
    }
    let printed = run_ok(&args);
    let mut want = vec![
        format!(
            r#"{{"route":"{attributed}","project":"acme","environment":"prod","service":"web"}}"#
        ),
        r#"{"route":"httproute/default/acme/rule/0/match/0/x","unattributed":"pattern_mismatch"}"#
            .to_owned(),
        format!(r#"{{"route":"{invalid}","unattributed":"invalid_value"}}"#),
        r#"{"route":"","unattributed":"no_route"}"#.to_owned(),
    ];
    if cfg!(unix) {
        // serde_json writes U+FFFD as the character itself.
        want.push("{\"route\":\"httproute/default/a.b.\u{fffd}/rule/0/match/0/x\",\"unattributed\":\"pattern_mismatch\"}".to_owned());
    }
    assert_eq!(printed, want);
    for line in printed {
        serde_json::from_str::<serde_json::Value>(&line).unwrap();
    }
}

#[test]
fn previews_follow_the_configured_policy() {
    let preview = route("acme", "pr-7", "web");
    let out = run(&routes(&[&preview]));
    assert_eq!(
        stdout_lines(&out),
        [format!(
            r#"{{"route":"{preview}","project":"acme","environment":"preview","service":"web"}}"#
        )]
    );
    let config = ConfigFile::new(r#"{"preview_policy": "suppress"}"#);
    let mut args = config.args().to_vec();
    args.push(preview.clone().into());
    assert_eq!(
        run_ok(&args),
        [format!(r#"{{"route":"{preview}","suppressed":"preview"}}"#)]
    );
    let config = ConfigFile::new(r#"{"preview_policy": "short_retention"}"#);
    let production = route("acme", "prod", "web");
    let mut args = config.args().to_vec();
    args.extend(routes(&[&preview, &production]));
    assert_eq!(
        run_ok(&args),
        [
            format!(
                r#"{{"route":"{preview}","project":"acme","environment":"pr-7","service":"web","retention":"short"}}"#
            ),
            format!(
                r#"{{"route":"{production}","project":"acme","environment":"prod","service":"web"}}"#
            ),
        ]
    );
}

/// The CORS preflight route Envoy Gateway adds beside a rule is the
/// tenant's; a GRPCRoute is not attributed (docs/contracts.md §1).
#[test]
fn preflight_routes_are_attributed_and_grpc_routes_are_not() {
    let preflight = "httproute/acme-prod/acme.prod.web/rule/0/match/0/cors-preflight/*_example_com";
    let grpc = "grpcroute/acme-prod/acme.prod.web/rule/0/match/0/*";
    assert_eq!(
        run_ok(&routes(&[preflight, grpc])),
        [
            format!(
                r#"{{"route":"{preflight}","project":"acme","environment":"prod","service":"web"}}"#
            ),
            format!(r#"{{"route":"{grpc}","unattributed":"pattern_mismatch"}}"#),
        ]
    );
}

#[test]
fn routes_share_one_vm_so_overflow_shows() {
    let config = ConfigFile::new(r#"{"max_label_sets": 1}"#);
    let (a, b) = (route("a", "prod", "web"), route("b", "prod", "web"));
    let mut args = config.args().to_vec();
    args.extend(routes(&[&a, &b, &a]));
    assert_eq!(
        run_ok(&args),
        [
            format!(r#"{{"route":"{a}","project":"a","environment":"prod","service":"web"}}"#),
            format!(r#"{{"route":"{b}","overflow":true}}"#),
            format!(r#"{{"route":"{a}","project":"a","environment":"prod","service":"web"}}"#),
        ]
    );
}

#[test]
fn a_rejected_config_exits_2_naming_the_field() {
    let config = ConfigFile::new(r#"{"route_pattern": "(unclosed"}"#);
    let mut args = config.args().to_vec();
    args.push(route("a", "b", "c").into());
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("--config {}", config.path().display())),
        "{stderr}"
    );
    assert!(stderr.contains("configuration rejected"), "{stderr}");
    assert!(
        stderr.contains("field `route_pattern`: invalid regex"),
        "{stderr}"
    );
}

#[test]
fn an_unreadable_config_exits_2() {
    let missing = std::env::temp_dir().join(format!(
        "starform-cli-route-missing-{}.json",
        std::process::id()
    ));
    let out = run(&["--config".into(), missing.clone().into(), "r".into()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("--config {}: cannot read", missing.display())),
        "{stderr}"
    );
}

#[test]
fn route_names_are_required() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ROUTE_NAME"));
}
