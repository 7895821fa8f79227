//! Faults in a real Envoy (1.40, V8):
//! - a VM that traps recovers under `failure_policy: FAIL_RELOAD` (a
//!   test-only module that traps on demand, host-tests/trap-module/, built
//!   here with plain `rustc`; never shipped), and stays down under
//!   `FAIL_CLOSED` (the contrast that shows the test can fail);
//! - an invalid plugin configuration of the real filter stops Envoy at load
//!   with one log line naming the field.
//!
//! Envoy comes from `$STARFORM_ENVOY` or `./.venv/bin/envoy` (installed by
//! `scripts/test.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::support::{envoy_binary, replace_once, TempDir};
use starform_host_tests::repo_root;
use starform_wasm::envoy::{adapt_bootstrap, replace_routes, Envoy, EnvoyError, Launch};

/// host-tests/trap-module/trap.rs compiled for wasm32-wasip1 into `dir`.
/// Plain rustc: no cargo, so no lock on any target dir.
fn build_trap_module(dir: &Path) -> PathBuf {
    let source = repo_root().join("host-tests/trap-module/trap.rs");
    let out = dir.join("trap.wasm");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--edition", "2021", "--target", "wasm32-wasip1"])
        .args(["--crate-type", "cdylib", "-O", "-C", "strip=debuginfo"])
        .arg(&source)
        .arg("-o")
        .arg(&out)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "building the trap module failed (is the wasm32-wasip1 target installed?):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    out
}

/// The one route of the trap bootstrap: 200 to everything.
const ROUTE: &str = r#"name: httproute/acme-prod/acme.prod.api/rule/0/match/0/api_acme_example
match: { prefix: / }
direct_response: { status: 200, body: { inline_string: "ok\n" } }"#;

/// The shipped bootstrap with the trap module in place of the filter,
/// under `policy`, and `ROUTE` as its only route. Reloads are rate-limited:
/// one per backoff interval (1 s base by default, doubling while reloads
/// keep failing), shortened here.
fn trap_bootstrap(
    launch: &Launch,
    module: &Path,
    policy: &str,
    admin: u16,
    listener: u16,
) -> Result<String, EnvoyError> {
    let yaml = adapt_bootstrap(launch, module, admin, listener)?;
    let yaml = replace_routes(&yaml, &[ROUTE.to_owned()])?;
    Ok(replace_once(
        &yaml,
        "                failure_policy: FAIL_CLOSED\n",
        &format!(
            "                failure_policy: {policy}
                reload_config:
                  backoff: {{ base_interval: 0.1s, max_interval: 1s }}\n"
        ),
    ))
}

/// Envoy running the trap module, killed on drop.
struct Proxy(Envoy);

impl Proxy {
    fn start(dir: &TempDir, policy: &str) -> Self {
        let module = build_trap_module(dir.path());
        let launch = Launch::new(envoy_binary(), dir.path().to_owned());
        let envoy = Envoy::start_bootstrap(&launch, |admin, listener| {
            trap_bootstrap(&launch, &module, policy, admin, listener)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Proxy(envoy)
    }

    fn log_text(&self) -> String {
        self.0.log_text()
    }

    fn status(&self, headers: &[(&str, &str)]) -> u16 {
        self.0
            .get("/anything", headers)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.log_text()))
            .status
    }

    /// Log lines of the module's VM starts and of traps Envoy reported.
    fn vm_starts(&self) -> usize {
        self.log_text().matches("trap-module: VM started").count()
    }

    fn traps(&self) -> usize {
        self.log_text()
            .matches("proxy_on_request_headers failed: Uncaught RuntimeError: unreachable")
            .count()
    }
}

const TRAP: &[(&str, &str)] = &[("x-starform-trap", "1")];

/// Each trap costs the trapping request a 503. Envoy then starts a new VM
/// for a later request: right away after the first trap, and once the
/// reload backoff has passed after a trap that follows a reload closely
/// (requests in between are answered 503, as under FAIL_CLOSED). After
/// that every request is served again.
#[test]
fn trapping_vm_recovers_under_fail_reload() {
    let dir = TempDir::new("faults-reload").unwrap();
    let proxy = Proxy::start(&dir, "FAIL_RELOAD");
    for _ in 0..5 {
        assert_eq!(proxy.status(&[]), 200, "{}", proxy.log_text());
    }
    const FAULTS: usize = 3;
    for fault in 1..=FAULTS {
        let starts_before = proxy.vm_starts();
        assert_eq!(
            proxy.status(TRAP),
            503,
            "the trapping request\n{}",
            proxy.log_text()
        );
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut refused = 0;
        while proxy.status(&[]) != 200 {
            refused += 1;
            assert!(
                Instant::now() < deadline,
                "no recovery after trap {fault} ({refused} requests refused)\n{}",
                proxy.log_text()
            );
            sleep(Duration::from_millis(20));
        }
        for _ in 0..20 {
            assert_eq!(
                proxy.status(&[]),
                200,
                "after trap {fault}\n{}",
                proxy.log_text()
            );
        }
        eprintln!("trap {fault}: {refused} requests refused before the new VM served");
        assert_eq!(proxy.traps(), fault, "{}", proxy.log_text());
        assert!(
            proxy.vm_starts() > starts_before,
            "no new VM after trap {fault}\n{}",
            proxy.log_text()
        );
    }
}

/// The same trap under FAIL_CLOSED takes the filter down for good: every
/// later request is a 503. This is what FAIL_RELOAD is for.
#[test]
fn trapping_vm_stays_down_under_fail_closed() {
    let dir = TempDir::new("faults-closed").unwrap();
    let proxy = Proxy::start(&dir, "FAIL_CLOSED");
    assert_eq!(proxy.status(&[]), 200, "{}", proxy.log_text());
    assert_eq!(proxy.status(TRAP), 503, "{}", proxy.log_text());
    for _ in 0..10 {
        assert_eq!(proxy.status(&[]), 503, "{}", proxy.log_text());
        sleep(Duration::from_millis(100));
    }
    assert_eq!(proxy.traps(), 1, "{}", proxy.log_text());
}

/// Starting Envoy (not `--mode validate`) with the shipped bootstrap and a
/// bad plugin configuration: Envoy refuses to start, and the filter's log
/// shows exactly one line, at error level, naming the field.
#[test]
fn invalid_plugin_configuration_stops_envoy_with_one_line() {
    for (config, field) in [
        (r#"{"max_label_sets": 0}"#, "max_label_sets"),
        (
            r#"{"preview_environment": "Preview"}"#,
            "preview_environment",
        ),
        (r#"{"preview_policy": "drop"}"#, "preview_policy"),
        (r#"{"max_labelsets": 3}"#, "max_labelsets"),
        (r#"{"route_pattern": "(?P<project>"}"#, "route_pattern"),
    ] {
        let dir = TempDir::new("faults-badconfig").unwrap();
        let mut launch = Launch::new(envoy_binary(), dir.path().to_owned());
        launch.plugin_config = Some(config.to_owned());
        let log = match Envoy::start(&launch) {
            Err(EnvoyError::Exited { log, .. }) => log,
            Err(other) => panic!("{config}: {other}"),
            Ok(envoy) => panic!("{config}: envoy started:\n{}", envoy.log_text()),
        };
        let lines: Vec<&str> = log.lines().collect();
        let at: Vec<usize> = (0..lines.len())
            .filter(|i| lines[*i].contains("rejected plugin configuration"))
            .collect();
        assert_eq!(at.len(), 1, "{config}:\n{log}");
        let ours = lines[at[0]];
        eprintln!("{ours}");
        // One line: the next one (if any) is another log entry, not the
        // rest of this message.
        if let Some(next) = lines.get(at[0] + 1) {
            assert!(
                next.starts_with('['),
                "{config}: message continues: {next:?}\n{log}"
            );
        }
        assert!(ours.contains("[error]"), "{}", ours);
        assert!(ours.contains(field), "{config}: {}", ours);
        assert!(
            ours.contains(starform_envoy_filter::VERSION_STAMP),
            "{}",
            ours
        );
    }
}
