//! Plugin configuration: the JSON Envoy hands to `on_configure`, parsed and
//! compiled once. Every error names the field it is about, because the only
//! place an operator sees it is one Envoy log line.

use regex_lite::Regex;
use serde::de::{self, Deserializer};
use serde::Deserialize;
use starform_labels::config_json::{self, OneLine, ReadError};
use starform_labels::{DnsLabel, InvalidLabel};

/// Default `route_pattern`: every xDS route name Envoy Gateway generates for
/// an HTTPRoute named `<project>.<environment>.<service>`, its CORS
/// preflight routes included (docs/contracts.md §1). GRPCRoutes
/// (`grpcroute/…`) are deliberately not matched.
pub const DEFAULT_ROUTE_PATTERN: &str = r"^httproute/[^/]+/(?P<project>[^./]+)\.(?P<environment>[^./]+)\.(?P<service>[^./]+)/rule/[0-9]+/match/-?[0-9]+(?:/cors-preflight)?/[^/]*$";

/// Default `preview_pattern`: per-pull-request environments.
pub const DEFAULT_PREVIEW_PATTERN: &str = "^(pr|preview)-[a-z0-9-]+$";

/// Default `preview_environment`: the environment aggregated previews count under.
pub const DEFAULT_PREVIEW_ENVIRONMENT: &str = "preview";

/// Default `max_label_sets`: distinct label sets one VM will define metrics for.
pub const DEFAULT_MAX_LABEL_SETS: usize = 5000;

/// Default `max_cached_routes`: route names one VM remembers the outcome of.
pub const DEFAULT_MAX_CACHED_ROUTES: usize = 20_000;

/// The named groups `route_pattern` must have.
pub const REQUIRED_GROUPS: [&str; 3] = ["project", "environment", "service"];

/// What happens to requests of a preview environment (one whose name matches
/// `preview_pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreviewPolicy {
    /// Counted with `environment="preview"`: one series per project/service
    /// however many previews come and go.
    #[default]
    Aggregate,
    /// Counted under the preview's own environment name.
    Full,
    /// Counted only in `starform_l7_suppressed_preview_requests_total`.
    Suppress,
    /// Counted under the preview's own environment name, like `Full`, and
    /// marked `retention="short"` so the collector stores it apart from
    /// the long-lived series.
    ShortRetention,
}

impl PreviewPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PreviewPolicy::Aggregate => "aggregate",
            PreviewPolicy::Full => "full",
            PreviewPolicy::Suppress => "suppress",
            PreviewPolicy::ShortRetention => "short_retention",
        }
    }

    pub const ALL: [PreviewPolicy; 4] = [
        PreviewPolicy::Aggregate,
        PreviewPolicy::Full,
        PreviewPolicy::Suppress,
        PreviewPolicy::ShortRetention,
    ];
}

/// [`PreviewPolicy::ALL`]'s names, for the rejection of an unknown one.
const PREVIEW_POLICY_NAMES: [&str; 4] = ["aggregate", "full", "suppress", "short_retention"];

/// Only from a JSON string: serde's derived enum would also take
/// `{"full": null}`, a shape the contract does not know.
impl<'de> Deserialize<'de> for PreviewPolicy {
    fn deserialize<D: Deserializer<'de>>(json: D) -> Result<Self, D::Error> {
        let name = String::deserialize(json)?;
        PreviewPolicy::ALL
            .into_iter()
            .find(|policy| policy.as_str() == name)
            .ok_or_else(|| de::Error::unknown_variant(&name, &PREVIEW_POLICY_NAMES))
    }
}

/// The configuration as written (docs/contracts.md §5), read by
/// [`config_json::read`]: an absent or `null` field takes the default below.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Written {
    /// Default [`DEFAULT_ROUTE_PATTERN`].
    route_pattern: String,
    /// Default [`DEFAULT_PREVIEW_PATTERN`].
    preview_pattern: String,
    /// Default `"aggregate"`.
    preview_policy: PreviewPolicy,
    /// Default [`DEFAULT_PREVIEW_ENVIRONMENT`].
    preview_environment: String,
    /// Default [`DEFAULT_MAX_LABEL_SETS`].
    max_label_sets: usize,
    /// Default [`DEFAULT_MAX_CACHED_ROUTES`].
    max_cached_routes: usize,
}

impl Default for Written {
    fn default() -> Self {
        Self {
            route_pattern: DEFAULT_ROUTE_PATTERN.to_owned(),
            preview_pattern: DEFAULT_PREVIEW_PATTERN.to_owned(),
            preview_policy: PreviewPolicy::default(),
            preview_environment: DEFAULT_PREVIEW_ENVIRONMENT.to_owned(),
            max_label_sets: DEFAULT_MAX_LABEL_SETS,
            max_cached_routes: DEFAULT_MAX_CACHED_ROUTES,
        }
    }
}

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `route_pattern` (default [`DEFAULT_ROUTE_PATTERN`]): regex over the
    /// xDS route name with the named groups `project`, `environment`,
    /// `service`.
    pub route_pattern: Regex,
    /// `preview_pattern` (default [`DEFAULT_PREVIEW_PATTERN`]): regex over
    /// the (already valid) environment value marking a preview environment.
    pub preview_pattern: Regex,
    /// `preview_policy` (default `"aggregate"`).
    pub preview_policy: PreviewPolicy,
    /// `preview_environment` (default [`DEFAULT_PREVIEW_ENVIRONMENT`], a
    /// DNS-1123 label): the `environment` value of aggregated previews.
    pub preview_environment: DnsLabel,
    /// `max_label_sets` (default [`DEFAULT_MAX_LABEL_SETS`], at least 1):
    /// distinct (project, environment, service) label sets per VM. Requests
    /// for a new label set beyond it count only in
    /// `starform_l7_overflow_requests_total`.
    pub max_label_sets: usize,
    /// `max_cached_routes` (default [`DEFAULT_MAX_CACHED_ROUTES`], at least
    /// 1): route names whose outcome a VM remembers. When full the cache is
    /// emptied and refills; label sets and their metric ids are kept, so only
    /// the pattern match is redone.
    pub max_cached_routes: usize,
}

/// Why a plugin configuration was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not a configuration object, or a field that is unknown, repeated, not
    /// JSON, or of the wrong type or range (the rules both plugins share).
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("field `{field}`: invalid regex: {}", OneLine(.source))]
    Regex {
        field: &'static str,
        #[source]
        source: regex_lite::Error,
    },
    #[error("field `{field}`: missing named group `(?P<{group}>...)`")]
    MissingGroup {
        field: &'static str,
        group: &'static str,
    },
    #[error("field `{field}`: not a DNS-1123 label: {}", OneLine(.source))]
    Label {
        field: &'static str,
        #[source]
        source: InvalidLabel,
    },
    #[error("field `{field}`: must be at least 1")]
    Zero { field: &'static str },
}

impl ConfigError {
    /// The field the error is about (an unknown key as written), when it is
    /// about one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Read(e) => e.field(),
            ConfigError::Regex { field, .. }
            | ConfigError::MissingGroup { field, .. }
            | ConfigError::Label { field, .. }
            | ConfigError::Zero { field } => Some(field),
        }
    }
}

impl Config {
    /// Parses the plugin configuration bytes. Empty (or whitespace-only)
    /// bytes and `{}` give all defaults.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        let written: Written = config_json::read(bytes)?;
        let route_pattern = regex_field("route_pattern", &written.route_pattern)?;
        for group in REQUIRED_GROUPS {
            if !route_pattern.capture_names().flatten().any(|n| n == group) {
                return Err(ConfigError::MissingGroup {
                    field: "route_pattern",
                    group,
                });
            }
        }
        Ok(Config {
            route_pattern,
            preview_pattern: regex_field("preview_pattern", &written.preview_pattern)?,
            preview_policy: written.preview_policy,
            preview_environment: DnsLabel::parse(&written.preview_environment).map_err(
                |source| ConfigError::Label {
                    field: "preview_environment",
                    source,
                },
            )?,
            max_label_sets: positive("max_label_sets", written.max_label_sets)?,
            max_cached_routes: positive("max_cached_routes", written.max_cached_routes)?,
        })
    }
}

fn regex_field(name: &'static str, pattern: &str) -> Result<Regex, ConfigError> {
    Regex::new(pattern).map_err(|source| ConfigError::Regex {
        field: name,
        source,
    })
}

fn positive(name: &'static str, n: usize) -> Result<usize, ConfigError> {
    if n == 0 {
        Err(ConfigError::Zero { field: name })
    } else {
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> ConfigError {
        Config::parse(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn empty_and_empty_object_give_defaults() {
        for input in ["", "  \n", "\t\r", "{}"] {
            let c = Config::parse(input.as_bytes()).unwrap();
            assert_eq!(c.route_pattern.as_str(), DEFAULT_ROUTE_PATTERN);
            assert_eq!(c.preview_pattern.as_str(), DEFAULT_PREVIEW_PATTERN);
            assert_eq!(c.preview_policy, PreviewPolicy::Aggregate);
            assert_eq!(c.preview_environment.as_str(), "preview");
            assert_eq!(c.max_label_sets, 5000);
            assert_eq!(c.max_cached_routes, 20_000);
        }
    }

    #[test]
    fn every_field_is_read() {
        let c = Config::parse(
            br#"{"route_pattern":"^(?P<project>a)(?P<environment>b)(?P<service>c)$",
                 "preview_pattern":"^pv$","preview_policy":"suppress",
                 "preview_environment":"review",
                 "max_label_sets":7,"max_cached_routes":9}"#,
        )
        .unwrap();
        assert_eq!(
            c.route_pattern.as_str(),
            "^(?P<project>a)(?P<environment>b)(?P<service>c)$"
        );
        assert_eq!(c.preview_pattern.as_str(), "^pv$");
        assert_eq!(c.preview_policy, PreviewPolicy::Suppress);
        assert_eq!(c.preview_environment.as_str(), "review");
        assert_eq!((c.max_label_sets, c.max_cached_routes), (7, 9));
        for (json, policy) in [
            (r#"{"preview_policy":"full"}"#, PreviewPolicy::Full),
            (
                r#"{"preview_policy":"aggregate"}"#,
                PreviewPolicy::Aggregate,
            ),
            (
                r#"{"preview_policy":"short_retention"}"#,
                PreviewPolicy::ShortRetention,
            ),
        ] {
            assert_eq!(
                Config::parse(json.as_bytes()).unwrap().preview_policy,
                policy
            );
        }
    }

    #[test]
    fn an_unknown_policy_is_refused_naming_every_known_one() {
        assert_eq!(
            PreviewPolicy::ALL.map(PreviewPolicy::as_str),
            PREVIEW_POLICY_NAMES
        );
        let e = err(r#"{"preview_policy": "short"}"#).to_string();
        for name in PREVIEW_POLICY_NAMES {
            assert!(e.contains(&format!("`{name}`")), "{e}");
        }
    }

    #[test]
    fn not_utf8_or_not_json_is_rejected() {
        assert!(matches!(
            Config::parse(b"{\"route_pattern\":\"\xff\"}"),
            Err(ConfigError::Read(ReadError::NotUtf8(_)))
        ));
        for json in ["route_pattern: x", "[]", "null"] {
            let e = err(json);
            assert!(
                matches!(e, ConfigError::Read(ReadError::NotObject(_))),
                "{e}"
            );
            assert_eq!(e.field(), None);
        }
    }

    #[test]
    fn unknown_field_is_named() {
        let e = err(r#"{"max_labelsets": 3}"#);
        assert!(matches!(e, ConfigError::Read(ReadError::Unknown { .. })));
        assert_eq!(e.field(), Some("max_labelsets"));
        assert!(
            e.to_string().starts_with("field `max_labelsets`: unknown"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_name_the_field() {
        for (json, field) in [
            (r#"{"route_pattern": 3}"#, "route_pattern"),
            (r#"{"preview_pattern": false}"#, "preview_pattern"),
            (r#"{"preview_policy": "drop"}"#, "preview_policy"),
            (r#"{"preview_environment": 1}"#, "preview_environment"),
            (
                r#"{"preview_environment": "Preview"}"#,
                "preview_environment",
            ),
            (r#"{"max_label_sets": "10"}"#, "max_label_sets"),
            (r#"{"max_label_sets": -1}"#, "max_label_sets"),
            (r#"{"max_label_sets": 1e20}"#, "max_label_sets"),
            (r#"{"max_cached_routes": 1.5}"#, "max_cached_routes"),
            (
                r#"{"max_cached_routes": 18446744073709551616}"#,
                "max_cached_routes",
            ),
            (r#"{"preview_policy": {"full": null}}"#, "preview_policy"),
        ] {
            let e = err(json);
            assert_eq!(e.field(), Some(field), "{json}: {e}");
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    /// A value JSON itself refuses names its field, not only a position
    /// (docs/reliability.md, finding F2).
    #[test]
    fn values_that_are_not_json_name_their_field() {
        for (json, field) in [
            (
                r#"{"max_cached_routes": 918446E44073709551615}"#,
                "max_cached_routes",
            ),
            (r#"{"max_label_sets": 1e999, "x": 1}"#, "max_label_sets"),
            (
                r#"{"preview_policy": 3, "route_pattern": -1e400}"#,
                "route_pattern",
            ),
            (r#"{"preview_environment": "pr"#, "preview_environment"),
            (r#"{"preview_pattern": tru}"#, "preview_pattern"),
        ] {
            let e = err(json);
            assert!(
                matches!(e, ConfigError::Read(ReadError::NotJson { .. })),
                "{json}: {e}"
            );
            assert_eq!(e.field(), Some(field), "{json}: {e}");
            assert!(e.to_string().contains("line 1 column"), "{e}");
        }
        // Outside any value the position is all there is.
        for json in [
            r#"{"max_label_sets": 3,}"#,
            r#"{"max_label_sets": 3"#,
            r#"{"max_label_sets": 3 "max_cached_routes": 4}"#,
            "{} {}",
        ] {
            assert!(
                matches!(err(json), ConfigError::Read(ReadError::NotObject(_))),
                "{json}"
            );
        }
    }

    #[test]
    fn repeated_fields_are_named_and_null_is_absent() {
        for json in [
            r#"{"max_label_sets": 3, "max_label_sets": 4}"#,
            r#"{"max_label_sets": null, "max_label_sets": 4}"#,
        ] {
            let e = err(json);
            assert_eq!(e.field(), Some("max_label_sets"), "{json}: {e}");
            assert!(
                e.to_string()
                    .starts_with("field `max_label_sets`: repeated"),
                "{e}"
            );
        }
        // `null` is absent for every field, whatever its type.
        let c = Config::parse(
            br#"{"route_pattern": null, "preview_pattern": null, "preview_policy": null,
                 "preview_environment": null, "max_label_sets": null,
                 "max_cached_routes": null}"#,
        )
        .unwrap();
        assert_eq!(c.route_pattern.as_str(), DEFAULT_ROUTE_PATTERN);
        assert_eq!(c.preview_pattern.as_str(), DEFAULT_PREVIEW_PATTERN);
        assert_eq!(c.preview_policy, PreviewPolicy::Aggregate);
        assert_eq!(c.preview_environment.as_str(), DEFAULT_PREVIEW_ENVIRONMENT);
        assert_eq!(c.max_label_sets, DEFAULT_MAX_LABEL_SETS);
        assert_eq!(c.max_cached_routes, DEFAULT_MAX_CACHED_ROUTES);
    }

    #[test]
    fn rejections_quoting_the_configuration_stay_on_one_line() {
        for json in [
            r#"{"a\nb": 1}"#,
            r#"{"p(\u000attr": 5}"#,
            "{\"prev\u{7f}y\": 1}",
            r#"{"max_label_sets": "1\n2"}"#,
            r#"{"route_pattern": "(?P<project>x\n"}"#,
            r#"{"preview_environment": "a\u001bb"}"#,
            r#"{"preview_policy": "\r"}"#,
            r#"{"max_label_sets": 1, "max_label_sets": 1}"#,
            "{\"max_label_sets\": 1,\n\n}",
            "{\"preview_environment\": \"a\nb",
        ] {
            let message = Config::parse(json.as_bytes()).unwrap_err().to_string();
            assert!(!message.contains(char::is_control), "{json}: {message:?}");
        }
        let message = Config::parse(br#"{"a\nb": 1}"#).unwrap_err().to_string();
        assert!(message.starts_with("field `a\\nb`: unknown"), "{message}");
    }

    #[test]
    fn bad_regex_names_the_field() {
        let e = err(r#"{"route_pattern": "(?P<project>"}"#);
        assert!(
            matches!(
                e,
                ConfigError::Regex {
                    field: "route_pattern",
                    ..
                }
            ),
            "{e}"
        );
        let e = err(r#"{"preview_pattern": "["}"#);
        assert!(
            matches!(
                e,
                ConfigError::Regex {
                    field: "preview_pattern",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("preview_pattern"));
    }

    #[test]
    fn each_missing_group_is_named() {
        for (json, group) in [
            (
                r#"{"route_pattern": "^(?P<environment>x)(?P<service>y)$"}"#,
                "project",
            ),
            (
                r#"{"route_pattern": "^(?P<project>x)(?P<service>y)$"}"#,
                "environment",
            ),
            (
                r#"{"route_pattern": "^(?P<project>x)(?P<environment>y)(z)$"}"#,
                "service",
            ),
        ] {
            let e = err(json);
            assert!(
                matches!(e, ConfigError::MissingGroup { field: "route_pattern", group: g } if g == group),
                "{e}"
            );
            assert!(e.to_string().contains(group));
        }
    }

    #[test]
    fn zero_limits_are_rejected() {
        assert_eq!(
            err(r#"{"max_label_sets": 0}"#).field(),
            Some("max_label_sets")
        );
        assert_eq!(
            err(r#"{"max_cached_routes": 0}"#).field(),
            Some("max_cached_routes")
        );
    }
}
