//! The metrics-pipe test's machinery: the VictoriaMetrics binaries as child
//! processes on loopback (killed on drop, bounded waits), a PromQL client
//! with basic auth, and the Prometheus text format.

pub mod promql;
pub mod stack;
pub mod traffic;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

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

pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "starform-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
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
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = service.child.try_wait().unwrap() {
                panic!("{name} exited ({status}):\n{}", service.log_text());
            }
            if let Ok(r) = starform_wasm::envoy::get(port, "/health", &[]) {
                if r.status == 200 {
                    return service;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{name} not healthy after {READY_TIMEOUT:?}:\n{}",
                service.log_text()
            );
            sleep(Duration::from_millis(100));
        }
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
