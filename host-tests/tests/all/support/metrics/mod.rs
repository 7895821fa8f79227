//! The metrics-pipe test's machinery: the VictoriaMetrics binaries as child
//! processes on loopback (killed on drop, bounded waits), a PromQL client
//! with basic auth, and the Prometheus text format.

pub mod promql;
pub mod stack;
pub mod traffic;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::poll;

/// `$env_var`, else `name` on `PATH`: the Debian package `victoria-metrics`
/// puts `victoria-metrics`, `vmagent` and `vmauth` in /usr/bin, and
/// `scripts/test.sh` installs it. Missing is a failure, never a skip.
pub fn system_tool(env_var: &str, name: &str) -> PathBuf {
    let found = std::env::var_os(env_var).map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    match found {
        Some(path) if path.is_file() => path,
        _ => panic!(
            "{name} not found (set {env_var} or put it on PATH): run the README's test command \
             `scripts/test.sh`, which installs the Debian package victoria-metrics"
        ),
    }
}

/// A child process serving HTTP on 127.0.0.1:`port`, killed on drop.
pub struct Service {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

const READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Service {
    /// Starts `binary` with `args` (and `env`), its output in
    /// `<dir>/<name>.log`, and waits until `GET /health` answers 200.
    pub fn start(
        name: &'static str,
        binary: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
        port: u16,
    ) -> Self {
        Self::start_at(name, binary, args, env, dir, port, "")
    }

    /// [`Service::start`] for a server whose paths all begin with
    /// `path_prefix` (VictoriaMetrics' `-http.pathPrefix`), `/health` too.
    pub fn start_at(
        name: &'static str,
        binary: &Path,
        args: &[String],
        env: &[(String, String)],
        dir: &Path,
        port: u16,
        path_prefix: &str,
    ) -> Self {
        let health = format!("{path_prefix}/health");
        let log = dir.join(format!("{name}.log"));
        let out = fs::File::create(&log).unwrap();
        let child = Command::new(binary)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let mut service = Service { port, child, log };
        poll(
            &format!("{name} healthy"),
            READY_TIMEOUT,
            Duration::from_millis(100),
            || {
                if let Some(status) = service.child.try_wait().unwrap() {
                    panic!("{name} exited ({status}):\n{}", service.log_text());
                }
                match starform_wasm::envoy::get(port, &health, &[]) {
                    Ok(r) if r.status == 200 => Ok(()),
                    _ => Err(service.log_text()),
                }
            },
        );
        service
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
