//! Metric names and their tag encoding (docs/contracts.md §3–4).
//!
//! proxy-wasm metrics have no labels, so tags travel inside the name, Istio
//! style: `<base>_<tag>=.=<value>;.;<tag>=.=<value>;.;`. Envoy's
//! `stats_config.stats_tags` ([`STATS_TAGS`]) cuts them back out. Values are
//! DNS-1123 labels or fixed words, so they never contain `=`, `;` or `.`.

/// Envoy puts this in front of every metric a wasm module defines; its
/// Prometheus output strips it again.
pub const ENVOY_PREFIX: &str = "wasmcustom.";

pub const REQUESTS_TOTAL: &str = "starform_http_requests_total";
pub const REQUEST_DURATION_MS: &str = "starform_http_request_duration_milliseconds";
pub const REQUEST_BYTES_TOTAL: &str = "starform_http_request_bytes_total";
pub const RESPONSE_BYTES_TOTAL: &str = "starform_http_response_bytes_total";
pub const UNATTRIBUTED_TOTAL: &str = "starform_l7_unattributed_requests_total";
pub const OVERFLOW_TOTAL: &str = "starform_l7_overflow_requests_total";
pub const SUPPRESSED_PREVIEW_TOTAL: &str = "starform_l7_suppressed_preview_requests_total";

/// The tag marking the series of a preview under `preview_policy:
/// "short_retention"`, and its one value: the collector sends exactly these
/// series to the short-retention store (docs/contracts.md §3). It comes last
/// in a name, so a marked name is the unmarked one plus
/// `retention=.=short;.;`.
pub const RETENTION_TAG: &str = "retention";
pub const SHORT_RETENTION: &str = "short";

/// `(tag name, regex)` for Envoy's `stats_config.stats_tags`. The regex's
/// first group is cut from the name, its second is the value. Only the
/// first tag of a name (`project`, or `reason`) carries the `_` joining it to
/// the base name, so its regex takes it too.
pub const STATS_TAGS: [(&str, &str); 6] = [
    ("project", r"(_project=\.=(.+?);\.;)"),
    ("environment", r"(environment=\.=(.+?);\.;)"),
    ("service", r"(service=\.=(.+?);\.;)"),
    ("code_class", r"(code_class=\.=(.+?);\.;)"),
    ("reason", r"(_reason=\.=(.+?);\.;)"),
    (RETENTION_TAG, r"(retention=\.=(.+?);\.;)"),
];

/// Bucket upper bounds (milliseconds) shipped in the bootstraps'
/// `histogram_bucket_settings` for [`REQUEST_DURATION_MS`]. Envoy, not the
/// filter, owns the buckets; this list is what deploy/ configures.
pub const DURATION_BUCKETS_MS: [u32; 13] =
    [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// `base` with `tags` encoded into it.
pub fn tagged(base: &str, tags: &[(&str, &str)]) -> String {
    let len = base.len()
        + 1
        + tags
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>();
    let mut name = String::with_capacity(len);
    name.push_str(base);
    if !tags.is_empty() {
        name.push('_');
    }
    for (key, value) in tags {
        name.push_str(key);
        name.push_str("=.=");
        name.push_str(value);
        name.push_str(";.;");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn encoding() {
        assert_eq!(
            tagged(OVERFLOW_TOTAL, &[]),
            "starform_l7_overflow_requests_total"
        );
        assert_eq!(
            tagged(
                REQUESTS_TOTAL,
                &[("project", "acme"), ("environment", "prod"), ("service", "api"), ("code_class", "2xx")]
            ),
            "starform_http_requests_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;code_class=.=2xx;.;"
        );
        assert_eq!(
            tagged(UNATTRIBUTED_TOTAL, &[("reason", "no_route")]),
            "starform_l7_unattributed_requests_total_reason=.=no_route;.;"
        );
    }

    /// Replays what Envoy's tag extraction does with [`STATS_TAGS`] (every
    /// regex runs on the original name; first group removed, second is the
    /// value) and checks the result is the base name plus exact tags.
    #[test]
    fn stats_tags_cut_names_back_to_base_and_tags() {
        let cases = [
            (
                tagged(
                    REQUESTS_TOTAL,
                    &[
                        ("project", "acme"),
                        ("environment", "pr-1"),
                        ("service", "api"),
                        ("code_class", "none"),
                    ],
                ),
                REQUESTS_TOTAL,
                vec![
                    ("project", "acme"),
                    ("environment", "pr-1"),
                    ("service", "api"),
                    ("code_class", "none"),
                ],
            ),
            (
                tagged(
                    REQUEST_DURATION_MS,
                    &[("project", "a"), ("environment", "b"), ("service", "c")],
                ),
                REQUEST_DURATION_MS,
                vec![("project", "a"), ("environment", "b"), ("service", "c")],
            ),
            (
                tagged(
                    REQUESTS_TOTAL,
                    &[
                        ("project", "acme"),
                        ("environment", "pr-1"),
                        ("service", "api"),
                        ("code_class", "2xx"),
                        (RETENTION_TAG, SHORT_RETENTION),
                    ],
                ),
                REQUESTS_TOTAL,
                vec![
                    ("project", "acme"),
                    ("environment", "pr-1"),
                    ("service", "api"),
                    ("code_class", "2xx"),
                    ("retention", "short"),
                ],
            ),
            (
                tagged(
                    REQUEST_DURATION_MS,
                    &[
                        ("project", "a"),
                        ("environment", "pr-1"),
                        ("service", "c"),
                        (RETENTION_TAG, SHORT_RETENTION),
                    ],
                ),
                REQUEST_DURATION_MS,
                vec![
                    ("project", "a"),
                    ("environment", "pr-1"),
                    ("service", "c"),
                    ("retention", "short"),
                ],
            ),
            (
                tagged(UNATTRIBUTED_TOTAL, &[("reason", "invalid_value")]),
                UNATTRIBUTED_TOTAL,
                vec![("reason", "invalid_value")],
            ),
            (tagged(OVERFLOW_TOTAL, &[]), OVERFLOW_TOTAL, vec![]),
        ];
        for (name, base, want) in cases {
            let full = format!("{ENVOY_PREFIX}{name}");
            let mut cut: Vec<std::ops::Range<usize>> = Vec::new();
            let mut tags = Vec::new();
            for (tag, re) in STATS_TAGS {
                if let Some(c) = Regex::new(re).unwrap().captures(&full) {
                    cut.push(c.get(1).unwrap().range());
                    tags.push((tag, c.get(2).unwrap().as_str().to_owned()));
                }
            }
            let rest: String = full
                .char_indices()
                .filter(|(i, _)| !cut.iter().any(|r| r.contains(i)))
                .map(|(_, c)| c)
                .collect();
            assert_eq!(rest, format!("{ENVOY_PREFIX}{base}"), "{name}");
            let want: Vec<_> = want.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
            assert_eq!(tags, want, "{name}");
        }
    }
}
