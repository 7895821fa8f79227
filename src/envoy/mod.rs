//! A real Envoy running the shipped bootstrap (`deploy/envoy/envoy.yaml`) on
//! free loopback ports with the embedded filter: used by `starform-wasm demo`
//! and by the end-to-end tests in `host-tests/`, which also start it on
//! bootstraps of their own ([`Envoy::start_bootstrap`]).

mod edit;
pub mod http;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

pub use edit::{add_clusters, insert_http_filter_before_router, replace_routes};
pub use http::{get, HttpError};

/// The shipped bootstrap, as committed.
pub const SHIPPED_BOOTSTRAP: &str = include_str!("../../deploy/envoy/envoy.yaml");
/// Where the shipped bootstrap expects the filter module.
pub const SHIPPED_MODULE_PATH: &str = "/var/lib/starform/starform_envoy_filter.wasm";
/// The plugin configuration the shipped bootstrap carries.
pub const SHIPPED_PLUGIN_CONFIG: &str =
    r#"{"preview_policy": "aggregate", "max_label_sets": 5000}"#;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum EnvoyError {
    #[error("the shipped bootstrap no longer has exactly one {0:?} to replace")]
    BootstrapShape(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("envoy exited ({status}) before it was ready:\n{log}")]
    Exited { status: String, log: String },
    #[error("envoy not ready after {READY_TIMEOUT:?}:\n{log}")]
    NotReady { log: String },
    #[error("{0}")]
    Http(#[from] HttpError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> EnvoyError {
    let what = what.into();
    move |source| EnvoyError::Io { what, source }
}

/// `$STARFORM_ENVOY`, else `./.venv/bin/envoy` (what `scripts/test.sh`
/// installs) under the current directory or this source tree, else `envoy`
/// on `PATH`.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STARFORM_ENVOY") {
        return Some(PathBuf::from(path));
    }
    let venvs = [
        PathBuf::from(".venv/bin/envoy"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/envoy"),
    ];
    if let Some(found) = venvs.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("envoy"))
            .find(|p| p.is_file())
    })
}

/// How to adapt the shipped bootstrap for a local run.
#[derive(Debug, Clone)]
pub struct Launch {
    pub binary: PathBuf,
    /// Directory for the module, the adapted bootstrap and the log; it must exist.
    pub work_dir: PathBuf,
    /// Replaces the shipped plugin configuration when set.
    pub plugin_config: Option<String>,
    /// Worker threads = filter VMs.
    pub concurrency: u32,
    /// Histograms reach /stats/prometheus only at a flush.
    pub stats_flush_interval: &'static str,
}

impl Launch {
    pub fn new(binary: PathBuf, work_dir: PathBuf) -> Self {
        Self {
            binary,
            work_dir,
            plugin_config: None,
            concurrency: 1,
            stats_flush_interval: "0.1s",
        }
    }
}

/// A running Envoy, killed on drop.
pub struct Envoy {
    child: Child,
    pub admin_port: u16,
    pub listener_port: u16,
    log: PathBuf,
}

/// The shipped bootstrap with free ports, `module_path`, and the launch's
/// flush interval and plugin configuration.
pub fn adapt_bootstrap(
    launch: &Launch,
    module_path: &Path,
    admin: u16,
    listener: u16,
) -> Result<String, EnvoyError> {
    let mut yaml = SHIPPED_BOOTSTRAP.to_owned();
    let module = module_path.to_string_lossy();
    let flush = format!("stats_flush_interval: {}", launch.stats_flush_interval);
    let mut edits = vec![
        ("port_value: 9901", format!("port_value: {admin}")),
        ("port_value: 10000", format!("port_value: {listener}")),
        (SHIPPED_MODULE_PATH, module.into_owned()),
        ("stats_flush_interval: 5s", flush),
    ];
    if let Some(config) = &launch.plugin_config {
        edits.push((SHIPPED_PLUGIN_CONFIG, config.clone()));
    }
    for (from, to) in edits {
        if yaml.matches(from).count() != 1 {
            return Err(EnvoyError::BootstrapShape(from.to_owned()));
        }
        yaml = yaml.replacen(from, &to, 1);
    }
    Ok(yaml)
}

/// A loopback port nothing listens on now (the OS's pick). Another process
/// may take it before the caller binds it; on loopback, in tests, that is
/// rare enough.
pub fn free_port() -> Result<u16, EnvoyError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding a free port"))?;
    Ok(listener
        .local_addr()
        .map_err(io("reading a free port"))?
        .port())
}

impl Envoy {
    /// Writes the embedded filter and the adapted bootstrap into the work
    /// dir, starts Envoy and waits until `/ready` says LIVE.
    pub fn start(launch: &Launch) -> Result<Self, EnvoyError> {
        Self::start_edited(launch, Ok)
    }

    /// Envoy on a bootstrap of the caller's own, not the shipped one:
    /// `bootstrap(admin_port, listener_port)` writes it for two free ports.
    /// Only `binary`, `work_dir` and `concurrency` of `launch` apply; the
    /// caller's bootstrap carries whatever module and settings it needs.
    pub fn start_bootstrap(
        launch: &Launch,
        bootstrap: impl FnOnce(u16, u16) -> Result<String, EnvoyError>,
    ) -> Result<Self, EnvoyError> {
        let (admin_port, listener_port) = (free_port()?, free_port()?);
        let config = launch.work_dir.join("envoy.yaml");
        let yaml = bootstrap(admin_port, listener_port)?;
        fs::write(&config, yaml).map_err(io(format!("writing {}", config.display())))?;
        // stderr to a file, not --log-path: Envoy flushes a log file only every 10 s.
        let log = launch.work_dir.join("envoy.log");
        let log_file = fs::File::create(&log).map_err(io(format!("creating {}", log.display())))?;
        let child = Command::new(&launch.binary)
            .arg("-c")
            .arg(&config)
            .args(["--concurrency", &launch.concurrency.to_string()])
            .args(["--use-dynamic-base-id", "--log-level", "info"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(io(format!("starting {}", launch.binary.display())))?;
        let mut envoy = Envoy {
            child,
            admin_port,
            listener_port,
            log,
        };
        envoy.wait_ready()?;
        Ok(envoy)
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> Result<(), EnvoyError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().map_err(io("waiting for envoy"))? {
                return Err(EnvoyError::Exited {
                    status: status.to_string(),
                    log: self.log_text(),
                });
            }
            if let Ok(response) = get(self.admin_port, "/ready", &[]) {
                if response.status == 200 && response.body.trim() == "LIVE" {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(EnvoyError::NotReady {
                    log: self.log_text(),
                });
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// GET `path` on the listener.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<http::Response, EnvoyError> {
        Ok(get(self.listener_port, path, headers)?)
    }

    /// The admin's `/stats/prometheus` text.
    pub fn prometheus(&self) -> Result<String, EnvoyError> {
        Ok(get(self.admin_port, "/stats/prometheus", &[])?.body)
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `count` GETs to each path through a fresh Envoy, waits until a
/// stats flush has published the latency histogram for every request, and
/// returns the `starform_*` lines of `/stats/prometheus`.
pub fn run_sample_traffic(binary: &Path, requests: &[(String, u32)]) -> Result<String, EnvoyError> {
    let work_dir = std::env::temp_dir().join(format!("starform-demo-envoy-{}", std::process::id()));
    fs::create_dir_all(&work_dir).map_err(io(format!("creating {}", work_dir.display())))?;
    let result = (|| {
        let envoy = Envoy::start(&Launch::new(binary.to_owned(), work_dir.clone()))?;
        for (path, count) in requests {
            for _ in 0..*count {
                envoy.get(path, &[])?;
            }
        }
        // The filter hands its counters to Envoy on its tick and Envoy
        // publishes histograms at stats flushes: wait until every request
        // is counted once and the histogram has every attributed one.
        let sent: u64 = requests.iter().map(|(_, count)| u64::from(*count)).sum();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            sleep(Duration::from_millis(300));
            let text: String = envoy
                .prometheus()?
                .lines()
                .filter(|l| l.starts_with("starform_") || l.starts_with("# TYPE starform_"))
                .map(|l| format!("{l}\n"))
                .collect();
            let total = |names: &[&str]| -> u64 {
                text.lines()
                    .filter(|l| {
                        names.iter().any(|n| {
                            l.starts_with(&format!("{n}{{")) || l.starts_with(&format!("{n} "))
                        })
                    })
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .map(|v| v as u64)
                    .sum()
            };
            let attributed = total(&["starform_http_requests_total"]);
            let counted = attributed
                + total(&[
                    "starform_l7_unattributed_requests_total",
                    "starform_l7_suppressed_preview_requests_total",
                    "starform_l7_overflow_requests_total",
                ]);
            let observed = total(&["starform_http_request_duration_milliseconds_count"]);
            if (counted == sent && observed == attributed) || Instant::now() > deadline {
                return Ok(text);
            }
        }
    })();
    let _ = fs::remove_dir_all(&work_dir);
    result
}
