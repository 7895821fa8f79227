//! Plugin configuration: the JSON Envoy hands to `on_configure`, parsed and
//! compiled once. Every error names the field it is about, because the only
//! place an operator sees it is one Envoy log line.

use std::cell::Cell;
use std::fmt::{self, Write as _};

use regex_lite::Regex;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;
use starform_labels::{DnsLabel, InvalidLabel};

/// Default `route_pattern`: Envoy Gateway's xDS route name for an HTTPRoute
/// named `<project>.<environment>.<service>` (docs/contracts.md §1).
pub const DEFAULT_ROUTE_PATTERN: &str = r"^httproute/[^/]+/(?P<project>[^./]+)\.(?P<environment>[^./]+)\.(?P<service>[^./]+)/rule/[0-9]+/match/-?[0-9]+/[^/]*$";

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreviewPolicy {
    /// Counted with `environment="preview"`: one series per project/service
    /// however many previews come and go.
    #[default]
    Aggregate,
    /// Counted under the preview's own environment name.
    Full,
    /// Counted only in `starform_l7_suppressed_preview_requests_total`.
    Suppress,
}

impl PreviewPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PreviewPolicy::Aggregate => "aggregate",
            PreviewPolicy::Full => "full",
            PreviewPolicy::Suppress => "suppress",
        }
    }
}

/// The configuration as written. Every field is optional; a missing field
/// takes the default documented on [`Config`]. Values stay JSON until
/// [`Config::parse`] converts each one, so a type error names its field.
#[derive(Debug, Default)]
struct RawConfig {
    route_pattern: Option<Value>,
    preview_pattern: Option<Value>,
    preview_policy: Option<Value>,
    preview_environment: Option<Value>,
    max_label_sets: Option<Value>,
    max_cached_routes: Option<Value>,
}

/// The fields a configuration may have, as written in JSON.
pub const FIELDS: [&str; 6] = [
    "route_pattern",
    "preview_pattern",
    "preview_policy",
    "preview_environment",
    "max_label_sets",
    "max_cached_routes",
];

impl RawConfig {
    fn slot(&mut self, key: &str) -> Option<(&'static str, &mut Option<Value>)> {
        Some(match key {
            "route_pattern" => ("route_pattern", &mut self.route_pattern),
            "preview_pattern" => ("preview_pattern", &mut self.preview_pattern),
            "preview_policy" => ("preview_policy", &mut self.preview_policy),
            "preview_environment" => ("preview_environment", &mut self.preview_environment),
            "max_label_sets" => ("max_label_sets", &mut self.max_label_sets),
            "max_cached_routes" => ("max_cached_routes", &mut self.max_cached_routes),
            _ => return None,
        })
    }

    /// Reads the JSON object. A value JSON itself rejects (a number beyond
    /// f64, a cut-off string) fails inside the parser, before any field
    /// conversion could name it: `reading` tells which field's value the
    /// parser was in, so that error names its field too (fuzzing finding F2).
    fn from_json(text: &str) -> Result<Self, ConfigError> {
        let reading = Cell::new(None);
        let mut json = serde_json::Deserializer::from_str(text);
        RawVisitor { reading: &reading }
            .deserialize(&mut json)
            .and_then(|raw| json.end().map(|()| raw))
            .map_err(|source| match reading.get() {
                Some(field) => ConfigError::FieldJson { field, source },
                None => ConfigError::Json(source),
            })
    }
}

struct RawVisitor<'a> {
    reading: &'a Cell<Option<&'static str>>,
}

impl<'de> DeserializeSeed<'de> for RawVisitor<'_> {
    type Value = RawConfig;

    fn deserialize<D: Deserializer<'de>>(self, json: D) -> Result<RawConfig, D::Error> {
        json.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RawVisitor<'_> {
    type Value = RawConfig;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawConfig, A::Error> {
        let mut raw = RawConfig::default();
        let mut seen = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let Some((field, slot)) = raw.slot(&key) else {
                return Err(de::Error::unknown_field(&key, &FIELDS));
            };
            if seen.contains(&field) {
                return Err(de::Error::duplicate_field(field));
            }
            seen.push(field);
            self.reading.set(Some(field));
            // `null` is as good as absent, as it was with serde's `Option`.
            *slot = Some(map.next_value::<Value>()?).filter(|v| !v.is_null());
            self.reading.set(None);
        }
        Ok(raw)
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
    #[error("plugin configuration is not UTF-8: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// Not JSON, not an object, or an unknown or repeated field (serde
    /// names it).
    #[error("plugin configuration is not a valid JSON object: {}", OneLine(.0))]
    Json(#[source] serde_json::Error),
    /// The field's value is not JSON (a number beyond f64, a cut-off value).
    #[error("field `{field}`: not valid JSON: {}", OneLine(.source))]
    FieldJson {
        field: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("field `{field}`: {}", OneLine(.source))]
    FieldType {
        field: &'static str,
        #[source]
        source: serde_json::Error,
    },
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

/// Shows `T` on one line. A rejection is one Envoy log line, and a message
/// may quote what the configuration holds (a key, a value, a pattern), which
/// may contain newlines or other control characters: they are shown escaped
/// (`\n`, `\u{7f}`). Found by fuzzing (`filter_config`, F1).
pub struct OneLine<T>(pub T);

impl<T: fmt::Display> fmt::Display for OneLine<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaping(f), "{}", self.0)
    }
}

struct Escaping<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for c in text.chars() {
            if c.is_control() {
                write!(self.0, "{}", c.escape_default())?;
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl ConfigError {
    /// The field the error is about, when it is about one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ConfigError::FieldType { field, .. }
            | ConfigError::FieldJson { field, .. }
            | ConfigError::Regex { field, .. }
            | ConfigError::MissingGroup { field, .. }
            | ConfigError::Label { field, .. }
            | ConfigError::Zero { field } => Some(field),
            ConfigError::NotUtf8(_) | ConfigError::Json(_) => None,
        }
    }
}

impl Config {
    /// Parses the plugin configuration bytes. Empty (or whitespace-only)
    /// bytes and `{}` give all defaults.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        let text = std::str::from_utf8(bytes)?;
        let raw = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            RawConfig::from_json(text)?
        };

        let route_pattern = regex_field(
            "route_pattern",
            field(
                "route_pattern",
                raw.route_pattern,
                DEFAULT_ROUTE_PATTERN.to_owned(),
            )?,
        )?;
        for group in REQUIRED_GROUPS {
            if !route_pattern.capture_names().flatten().any(|n| n == group) {
                return Err(ConfigError::MissingGroup {
                    field: "route_pattern",
                    group,
                });
            }
        }
        let preview_pattern = regex_field(
            "preview_pattern",
            field(
                "preview_pattern",
                raw.preview_pattern,
                DEFAULT_PREVIEW_PATTERN.to_owned(),
            )?,
        )?;
        Ok(Config {
            route_pattern,
            preview_pattern,
            preview_policy: field(
                "preview_policy",
                raw.preview_policy,
                PreviewPolicy::default(),
            )?,
            preview_environment: DnsLabel::parse(&field(
                "preview_environment",
                raw.preview_environment,
                DEFAULT_PREVIEW_ENVIRONMENT.to_owned(),
            )?)
            .map_err(|source| ConfigError::Label {
                field: "preview_environment",
                source,
            })?,
            max_label_sets: positive(
                "max_label_sets",
                field("max_label_sets", raw.max_label_sets, DEFAULT_MAX_LABEL_SETS)?,
            )?,
            max_cached_routes: positive(
                "max_cached_routes",
                field(
                    "max_cached_routes",
                    raw.max_cached_routes,
                    DEFAULT_MAX_CACHED_ROUTES,
                )?,
            )?,
        })
    }
}

fn field<T: DeserializeOwned>(
    name: &'static str,
    value: Option<Value>,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => serde_json::from_value(v).map_err(|source| ConfigError::FieldType {
            field: name,
            source,
        }),
    }
}

fn regex_field(name: &'static str, pattern: String) -> Result<Regex, ConfigError> {
    Regex::new(&pattern).map_err(|source| ConfigError::Regex {
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
        for input in ["", "  \n", "{}"] {
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
        ] {
            assert_eq!(
                Config::parse(json.as_bytes()).unwrap().preview_policy,
                policy
            );
        }
    }

    #[test]
    fn not_utf8_or_not_json_is_rejected() {
        assert!(matches!(
            Config::parse(b"{\"route_pattern\":\"\xff\"}"),
            Err(ConfigError::NotUtf8(_))
        ));
        assert!(matches!(err("route_pattern: x"), ConfigError::Json(_)));
        assert!(matches!(err("[]"), ConfigError::Json(_)));
        assert!(matches!(err("null"), ConfigError::Json(_)));
    }

    #[test]
    fn unknown_field_is_named() {
        let e = err(r#"{"max_labelsets": 3}"#);
        assert!(matches!(e, ConfigError::Json(_)));
        assert!(e.to_string().contains("max_labelsets"), "{e}");
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
            (r#"{"max_cached_routes": 1.5}"#, "max_cached_routes"),
        ] {
            let e = err(json);
            assert_eq!(e.field(), Some(field), "{json}: {e}");
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    /// Fuzzing finding F2: a value JSON itself refuses was named only by
    /// its position.
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
            assert!(matches!(e, ConfigError::FieldJson { .. }), "{json}: {e}");
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
            assert!(matches!(err(json), ConfigError::Json(_)), "{json}");
        }
    }

    #[test]
    fn repeated_fields_are_named_and_null_is_absent() {
        for json in [
            r#"{"max_label_sets": 3, "max_label_sets": 4}"#,
            r#"{"max_label_sets": null, "max_label_sets": 4}"#,
        ] {
            let e = err(json);
            assert!(matches!(e, ConfigError::Json(_)), "{json}: {e}");
            assert!(
                e.to_string().contains("duplicate field `max_label_sets`"),
                "{e}"
            );
        }
        let c = Config::parse(br#"{"max_label_sets": null, "preview_policy": null}"#).unwrap();
        assert_eq!(c.max_label_sets, DEFAULT_MAX_LABEL_SETS);
        assert_eq!(c.preview_policy, PreviewPolicy::Aggregate);
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
        ] {
            let message = Config::parse(json.as_bytes()).unwrap_err().to_string();
            assert!(!message.contains(char::is_control), "{json}: {message:?}");
        }
        let message = Config::parse(br#"{"a\nb": 1}"#).unwrap_err().to_string();
        assert!(message.contains("unknown field `a\\nb`"), "{message}");
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
