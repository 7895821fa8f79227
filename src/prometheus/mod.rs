//! Renders recorded proxy-wasm metrics as Envoy's `/stats/prometheus` does:
//! tag extraction with the project's `stats_tags`, the `wasmcustom.`
//! namespace stripped, the rest of the name sanitised (`.` and anything
//! outside `[a-zA-Z0-9_]` become `_`), `{}` on series without labels, and
//! counters, then gauges, then histograms, each sorted by name and labels.
//! Unlike Envoy (whose histogram `_sum` comes from approximate quantile
//! sketches) `_sum` and `_count` are exact here.

mod tags;

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use tags::{Extracted, TagExtractor, STATS_TAGS};

use crate::proxy_wasm_host::{strip_prefix, MetricStore, MetricType, MetricValue};

/// Histogram bucket upper bounds (milliseconds) when none are configured:
/// the filter crate's list, which the Envoy bootstrap's
/// `histogram_bucket_settings` ship.
pub fn default_buckets_ms() -> Vec<f64> {
    starform_envoy_filter::names::DURATION_BUCKETS_MS
        .iter()
        .map(|&b| f64::from(b))
        .collect()
}

#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Histogram bucket upper bounds (sorted and deduplicated when
    /// rendering; `+Inf` is always added).
    pub buckets: Vec<f64>,
    /// Like Envoy's `?usedonly`: skip counters and gauges at zero and
    /// histograms without samples.
    pub used_only: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            buckets: default_buckets_ms(),
            used_only: false,
        }
    }
}

/// A Prometheus series: metric name and labels in tag-table order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Series {
    pub name: String,
    pub labels: Vec<(&'static str, String)>,
}

/// The Prometheus series of a stored stat name (`wasmcustom.` included or not).
pub fn series(stored_name: &str) -> Series {
    let extracted = TagExtractor::standard().extract(stored_name);
    Series {
        name: sanitize(strip_prefix(&extracted.name)),
        labels: extracted.tags,
    }
}

/// Envoy's `sanitizeName`: invalid characters become `_`, and a leading
/// digit gets a `_` prefix.
fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn labels(labels: &[(&'static str, String)], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", sanitize(k), escape_label_value(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    format!("{{{}}}", parts.join(","))
}

/// A metric's series: labels → value.
type Family = BTreeMap<Vec<(&'static str, String)>, Value>;

enum Value {
    Scalar(u64),
    Samples(Vec<u64>),
}

/// Renders the stats of one or more VMs; same-named stats are summed, as
/// Envoy's stats are shared by the VMs of all its workers.
pub fn render<'a>(
    stores: impl IntoIterator<Item = &'a MetricStore>,
    options: &RenderOptions,
) -> String {
    // (kind, metric name) → series labels → value
    let mut families: BTreeMap<(MetricType, String), Family> = BTreeMap::new();
    for store in stores {
        for (key, value) in store.iter() {
            let Series { name, labels } = series(&key.name);
            let family = families.entry((key.kind, name)).or_default();
            match (
                family.entry(labels).or_insert_with(|| empty(key.kind)),
                value,
            ) {
                (Value::Scalar(total), MetricValue::Counter(v) | MetricValue::Gauge(v)) => {
                    *total = total.saturating_add(*v);
                }
                (Value::Samples(all), MetricValue::Histogram(samples)) => {
                    all.extend_from_slice(samples)
                }
                _ => {}
            }
        }
    }

    let mut buckets: Vec<f64> = options
        .buckets
        .iter()
        .copied()
        .filter(|b| b.is_finite())
        .collect();
    buckets.sort_by(f64::total_cmp);
    buckets.dedup();

    let mut out = String::new();
    for ((kind, name), family) in &families {
        let used: Vec<_> = family
            .iter()
            .filter(|(_, value)| {
                !options.used_only
                    || match value {
                        Value::Scalar(v) => *v > 0,
                        Value::Samples(s) => !s.is_empty(),
                    }
            })
            .collect();
        if used.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# TYPE {name} {}", kind.prometheus_type());
        for (series_labels, value) in used {
            match value {
                Value::Scalar(v) => {
                    let _ = writeln!(out, "{name}{} {v}", labels(series_labels, None));
                }
                Value::Samples(samples) => {
                    render_histogram(&mut out, name, series_labels, samples, &buckets)
                }
            }
        }
    }
    out
}

fn empty(kind: MetricType) -> Value {
    match kind {
        MetricType::Histogram => Value::Samples(Vec::new()),
        MetricType::Counter | MetricType::Gauge => Value::Scalar(0),
    }
}

fn render_histogram(
    out: &mut String,
    name: &str,
    series: &[(&'static str, String)],
    samples: &[u64],
    buckets: &[f64],
) {
    for bound in buckets {
        // u64 → f64 loses precision only above 2^53, far beyond any bound.
        let count = samples.iter().filter(|&&s| (s as f64) <= *bound).count();
        let le = format!("{bound}");
        let _ = writeln!(
            out,
            "{name}_bucket{} {count}",
            labels(series, Some(("le", &le)))
        );
    }
    let _ = writeln!(
        out,
        "{name}_bucket{} {}",
        labels(series, Some(("le", "+Inf"))),
        samples.len()
    );
    let sum: u128 = samples.iter().map(|&s| u128::from(s)).sum();
    let _ = writeln!(out, "{name}_sum{} {sum}", labels(series, None));
    let _ = writeln!(
        out,
        "{name}_count{} {}",
        labels(series, None),
        samples.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &str =
        "starform_http_requests_total_project=.=acme;.;environment=.=prod;.;service=.=web;.;code_class=.=2xx;.;";
    const DUR: &str = "starform_http_request_duration_milliseconds_project=.=acme;.;environment=.=prod;.;service=.=web;.;";

    #[test]
    fn series_strips_namespace_and_tags() {
        let s = series(&format!("wasmcustom.{REQ}"));
        assert_eq!(s.name, "starform_http_requests_total");
        assert_eq!(s.labels.len(), 4);
        assert_eq!(series("wasmcustom.a.b-c").name, "a_b_c");
        assert_eq!(series("9lives").name, "_9lives");
    }

    #[test]
    fn renders_counters_then_histograms_with_cumulative_buckets() {
        let mut m = MetricStore::new();
        let c = m.define(MetricType::Counter, REQ).unwrap();
        m.increment(c, 3);
        let h = m.define(MetricType::Histogram, DUR).unwrap();
        for v in [1, 7, 3000] {
            m.record(h, v);
        }
        let opts = RenderOptions {
            buckets: vec![10.0, 1.0, 0.5, 1.0, f64::NAN],
            used_only: false,
        };
        let text = render([&m], &opts);
        let l = r#"project="acme",environment="prod",service="web""#;
        let expected = format!(
            "# TYPE starform_http_requests_total counter\n\
             starform_http_requests_total{{{l},code_class=\"2xx\"}} 3\n\
             # TYPE starform_http_request_duration_milliseconds histogram\n\
             starform_http_request_duration_milliseconds_bucket{{{l},le=\"0.5\"}} 0\n\
             starform_http_request_duration_milliseconds_bucket{{{l},le=\"1\"}} 1\n\
             starform_http_request_duration_milliseconds_bucket{{{l},le=\"10\"}} 2\n\
             starform_http_request_duration_milliseconds_bucket{{{l},le=\"+Inf\"}} 3\n\
             starform_http_request_duration_milliseconds_sum{{{l}}} 3008\n\
             starform_http_request_duration_milliseconds_count{{{l}}} 3\n"
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn sums_vms_and_honours_used_only() {
        let mut a = MetricStore::new();
        let mut b = MetricStore::new();
        let ca = a
            .define(MetricType::Counter, "starform_l7_overflow_requests_total")
            .unwrap();
        let cb = b
            .define(MetricType::Counter, "starform_l7_overflow_requests_total")
            .unwrap();
        a.define(
            MetricType::Counter,
            "starform_l7_suppressed_preview_requests_total",
        )
        .unwrap();
        a.increment(ca, 1);
        b.increment(cb, 2);
        let all = render([&a, &b], &RenderOptions::default());
        assert_eq!(
            all,
            "# TYPE starform_l7_overflow_requests_total counter\nstarform_l7_overflow_requests_total{} 3\n\
             # TYPE starform_l7_suppressed_preview_requests_total counter\nstarform_l7_suppressed_preview_requests_total{} 0\n"
        );
        let used = render(
            [&a, &b],
            &RenderOptions {
                used_only: true,
                ..RenderOptions::default()
            },
        );
        assert_eq!(used, "# TYPE starform_l7_overflow_requests_total counter\nstarform_l7_overflow_requests_total{} 3\n");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn default_buckets_render_as_integers() {
        let le: Vec<String> = default_buckets_ms()
            .iter()
            .map(|b| format!("{b}"))
            .collect();
        assert_eq!(
            le,
            [
                "1", "2", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000",
                "10000"
            ]
        );
    }
}
