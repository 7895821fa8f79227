//! What several subjects use: scratch directories, the tools the tests run
//! (Envoy, the ClickHouse engine), and the per-module helpers below.

pub mod filter;
pub mod metrics;
pub mod transform;
pub mod vrl;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value as Json;
use starform_host_tests::{repo_root, venv_tool};

pub use starform_host_tests::TempDir;

/// The real Envoy: `$STARFORM_ENVOY`, else `./.venv/bin/envoy`. Missing is a
/// failure, never a skip: these tests are the only proof that the module
/// works in Envoy.
pub fn envoy_binary() -> PathBuf {
    venv_tool("STARFORM_ENVOY", "envoy").unwrap_or_else(|e| panic!("{e}"))
}

/// Replaces the one occurrence of `from`; the shipped file changing shape
/// must break the test, not silently leave a value in place.
pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected exactly one {from:?} in deploy/envoy/envoy.yaml"
    );
    text.replacen(from, to, 1)
}

/// Runs `job` (DDL files, inserts, queries) through
/// scripts/clickhouse_session.py in a real ClickHouse engine (chdb, from
/// `$STARFORM_PYTHON` or `./.venv/bin/python`) and returns its answer.
pub fn clickhouse(job: &Json) -> Json {
    let python = venv_tool("STARFORM_PYTHON", "python").unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(python)
        .arg(repo_root().join("scripts/clickhouse_session.py"))
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chdb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `probe` every `every` until it returns `Ok`; after `limit`, fails
/// with `what` and the last `Err` (the state seen).
pub fn poll<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(state) => assert!(
                Instant::now() < deadline,
                "{what}: not reached after {limit:?}; last state:\n{state}"
            ),
        }
        sleep(every);
    }
}
