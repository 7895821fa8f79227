//! `starform-wasm route`: what identity the compiled Envoy filter derives
//! from xDS route names, by running the embedded module — not a
//! re-implementation of its parsing.
//!
//! All routes go through one VM, in order, as one Envoy worker would see
//! them, so `max_label_sets` overflow shows up as it would in Envoy. Each
//! route gets one simulated request (status 200); its outcome is read back
//! from the counters the filter incremented, through the same tag extraction
//! Envoy applies. One JSON object per route, on its own line, keys in this
//! order:
//!
//! - attributed: `{"route":…,"project":…,"environment":…,"service":…}`
//!   (`environment` is the aggregate value, e.g. `preview`, when the
//!   `aggregate` preview policy folded it), plus `"retention":"short"` for a
//!   preview the `short_retention` policy marks
//! - unattributed: `{"route":…,"unattributed":"no_route"|"pattern_mismatch"|"invalid_value"}`
//! - preview under the `suppress` policy: `{"route":…,"suppressed":"preview"}`
//! - beyond `max_label_sets`: `{"route":…,"overflow":true}`
//!
//! A route name that is not UTF-8 is shown with U+FFFD replacements.
//! Exit codes: 0 success, 2 bad `--config` (unreadable, or rejected by the
//! filter — its log line names the field), 1 anything else.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::PathBuf;

use starform_envoy_filter::names;
use starform_playground::route::{self, RouteOutcome};
use starform_wasm::prometheus;
use starform_wasm::proxy_wasm_host::{FilterHost, HostError, Request};

use super::Failure;

/// Show the project/environment/service the Envoy filter derives from xDS route names.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Plugin configuration (JSON) for the filter; default: the filter's defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// xDS route names, e.g. httproute/default/acme.prod.web/rule/0/match/0/example_com
    #[arg(value_name = "ROUTE_NAME", required = true)]
    routes: Vec<OsString>,
}

pub fn run(args: Args) -> Result<(), Failure> {
    let config = match &args.config {
        Some(path) => std::fs::read(path).map_err(|e| {
            Failure::usage(format!("--config {}: cannot read: {e}", path.display()))
        })?,
        None => Vec::new(),
    };
    let mut host = FilterHost::envoy_filter(&config).map_err(|e| match (&e, &args.config) {
        (HostError::ConfigurationRejected { .. }, Some(path)) => {
            Failure::usage(format!("--config {}: {e}", path.display()))
        }
        _ => Failure::runtime(e.to_string()),
    })?;
    let mut out = std::io::stdout().lock();
    for route in &args.routes {
        let line = outcome(&mut host, route.as_encoded_bytes())?;
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Runs one request for `route` and describes what the filter counted, in
/// the line the playground prints too ([`starform_playground::route::line`]).
fn outcome(host: &mut FilterHost, route: &[u8]) -> Result<String, Failure> {
    let shown = String::from_utf8_lossy(route).into_owned();
    let before = host.metrics().counters();
    host.request(&Request::to_route(route))
        .and_then(|_| host.tick())
        .map_err(|e| Failure::runtime(format!("route {shown:?}: {e}")))?;
    let mut counted = None;
    for (name, value) in host.metrics().counters() {
        if before.get(&name).copied().unwrap_or(0) >= value {
            continue;
        }
        let series = prometheus::series(&name);
        let label = |key: &str| {
            series
                .labels
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
        };
        counted = match series.name.as_str() {
            names::REQUESTS_TOTAL => {
                match (label("project"), label("environment"), label("service")) {
                    (Some(project), Some(environment), Some(service)) => {
                        Some(RouteOutcome::Attributed {
                            project,
                            environment,
                            service,
                            retention: label(names::RETENTION_TAG),
                        })
                    }
                    _ => counted,
                }
            }
            names::UNATTRIBUTED_TOTAL => Some(RouteOutcome::Unattributed(label("reason"))),
            names::SUPPRESSED_PREVIEW_TOTAL => Some(RouteOutcome::SuppressedPreview),
            names::OVERFLOW_TOTAL => Some(RouteOutcome::Overflow),
            _ => counted,
        };
    }
    match counted {
        Some(outcome) => Ok(route::line(&shown, &outcome)),
        None => Err(Failure::runtime(format!(
            "route {shown:?}: the filter counted no request outcome"
        ))),
    }
}
