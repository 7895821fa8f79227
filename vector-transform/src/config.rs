//! The transform's configuration: the serde form a user writes
//! ([`TransformConfig`]) and the checked form the rules run on
//! ([`CompiledConfig`]). Every rejection names the field it is about.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use starform_labels::config_json::{self, OneLine, ReadError};
use starform_labels::{keys, DnsLabel, InvalidLabel};

use crate::label_keys::LabelKeys;
use crate::scan::same_words;

/// Default for [`TransformConfig::max_record_bytes`]: 1 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 1_048_576;

/// The four canonical pod-label keys, in the order the rules visit them.
pub const CANONICAL_KEYS: [&str; 4] = [
    keys::PROJECT,
    keys::ENVIRONMENT,
    keys::SERVICE,
    keys::BUILD_ID,
];

/// The configuration as written (JSON), read by [`config_json::read`]: an
/// absent or `null` field takes the default below; `{}` (or nothing) is the
/// default configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    /// Default `{}`. Legacy pod-label key → canonical `starform.io/*` key.
    #[serde(default)]
    pub key_aliases: BTreeMap<String, String>,
    /// Default `{}`. Normalised environment value → the value it stands for
    /// (`{"prod": "production"}`); applied once, no chains.
    #[serde(default)]
    pub environment_aliases: BTreeMap<String, String>,
    /// Default `null` (no namespace check). E.g. `"{project}-{environment}"`.
    #[serde(default)]
    pub namespace_template: Option<String>,
    /// Default [`DEFAULT_MAX_RECORD_BYTES`]. Must be > 0.
    #[serde(default = "default_max_record_bytes")]
    pub max_record_bytes: u64,
}

fn default_max_record_bytes() -> u64 {
    DEFAULT_MAX_RECORD_BYTES
}

impl TransformConfig {
    /// Reads JSON by the rules both plugins share (docs/contracts.md §5).
    pub fn from_json(json: &[u8]) -> Result<Self, ConfigError> {
        Ok(config_json::read(json)?)
    }
}

impl Default for TransformConfig {
    fn default() -> Self {
        Self {
            key_aliases: BTreeMap::new(),
            environment_aliases: BTreeMap::new(),
            namespace_template: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// Why a configuration was rejected. [`ConfigError::field`] names the field.
/// Values quoted from the configuration are shown escaped (`{:?}` or
/// [`OneLine`]), so every message is one log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not a configuration object, or a field that is unknown, repeated, not
    /// JSON, or of the wrong type or range (the rules both plugins share).
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "field `key_aliases`: {legacy:?}: {target:?} is not a canonical key (one of {CANONICAL_KEYS:?})"
    )]
    AliasTarget { legacy: String, target: String },
    #[error("field `key_aliases`: {legacy:?}: a canonical key cannot be an alias")]
    AliasIsCanonical { legacy: String },
    #[error("field `key_aliases`: the legacy key must not be empty")]
    AliasEmpty,
    #[error("field `environment_aliases`: key {key:?} is not a DNS-1123 label ({reason})")]
    EnvironmentAliasKey { key: String, reason: InvalidLabel },
    #[error(
        "field `environment_aliases`: {key:?}: the value {value:?} is not a DNS-1123 label ({reason})"
    )]
    EnvironmentAliasValue {
        key: String,
        value: String,
        reason: InvalidLabel,
    },
    #[error("field `namespace_template`: {0}")]
    NamespaceTemplate(TemplateError),
    #[error("field `max_record_bytes`: must be at least 1")]
    MaxRecordBytes,
}

impl ConfigError {
    /// The configuration field the error is about (an unknown key as
    /// written); `None` when the input is not a JSON object at all (the
    /// message then says where).
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Read(e) => e.field(),
            ConfigError::AliasTarget { .. }
            | ConfigError::AliasIsCanonical { .. }
            | ConfigError::AliasEmpty => Some("key_aliases"),
            ConfigError::EnvironmentAliasKey { .. } | ConfigError::EnvironmentAliasValue { .. } => {
                Some("environment_aliases")
            }
            ConfigError::NamespaceTemplate(_) => Some("namespace_template"),
            ConfigError::MaxRecordBytes => Some("max_record_bytes"),
        }
    }
}

/// Why a `namespace_template` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("must not be empty")]
    Empty,
    #[error("unknown placeholder {{{}}} (known: {{project}}, {{environment}}, {{service}})", OneLine(.0))]
    UnknownPlaceholder(String),
    #[error("unbalanced brace at byte {0}")]
    UnbalancedBrace(usize),
}

/// One piece of a namespace template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Literal(String),
    Project,
    Environment,
    Service,
}

/// A parsed `namespace_template`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceTemplate {
    parts: Vec<TemplatePart>,
}

impl NamespaceTemplate {
    /// `{` must open one of the three placeholders and `}` close it; there is
    /// no escape, because a Kubernetes namespace never contains a brace.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        if template.is_empty() {
            return Err(TemplateError::Empty);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = template;
        let mut offset = 0;
        while let Some(pos) = rest.find(['{', '}']) {
            let (before, from_brace) = rest.split_at(pos);
            literal.push_str(before);
            if from_brace.starts_with('}') {
                return Err(TemplateError::UnbalancedBrace(offset + pos));
            }
            let close = from_brace
                .find('}')
                .ok_or(TemplateError::UnbalancedBrace(offset + pos))?;
            let name = from_brace.get(1..close).unwrap_or_default();
            if name.contains('{') {
                return Err(TemplateError::UnbalancedBrace(offset + pos));
            }
            let part = match name {
                "project" => TemplatePart::Project,
                "environment" => TemplatePart::Environment,
                "service" => TemplatePart::Service,
                other => return Err(TemplateError::UnknownPlaceholder(other.to_owned())),
            };
            if !literal.is_empty() {
                parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
            }
            parts.push(part);
            let consumed = pos + close + 1;
            offset += consumed;
            rest = rest.get(consumed..).unwrap_or_default();
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(TemplatePart::Literal(literal));
        }
        Ok(Self { parts })
    }

    pub fn parts(&self) -> &[TemplatePart] {
        &self.parts
    }

    /// True when `namespace` equals the template filled with the values,
    /// without building the expected string.
    pub fn matches(
        &self,
        namespace: &str,
        project: &str,
        environment: &str,
        service: &str,
    ) -> bool {
        let mut rest = namespace.as_bytes();
        for part in &self.parts {
            let piece = match part {
                TemplatePart::Literal(s) => s.as_str(),
                TemplatePart::Project => project,
                TemplatePart::Environment => environment,
                TemplatePart::Service => service,
            }
            .as_bytes();
            // Bytes, word by word: `strip_prefix` would call libc's bytewise
            // `memcmp` (and check char boundaries), and this runs for every
            // record.
            let Some((head, tail)) = rest.split_at_checked(piece.len()) else {
                return false;
            };
            if !same_words(head, piece) {
                return false;
            }
            rest = tail;
        }
        rest.is_empty()
    }

    /// The template filled with the values.
    pub fn render(&self, project: &str, environment: &str, service: &str) -> String {
        let mut out = String::new();
        for part in &self.parts {
            out.push_str(match part {
                TemplatePart::Literal(s) => s.as_str(),
                TemplatePart::Project => project,
                TemplatePart::Environment => environment,
                TemplatePart::Service => service,
            });
        }
        out
    }
}

/// The validated configuration the rules run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledConfig {
    /// Per canonical key (index as in [`CANONICAL_KEYS`]): the candidate keys
    /// in rule order — the canonical key, then its legacy keys in byte order.
    candidates: LabelKeys,
    environment_aliases: BTreeMap<String, String>,
    namespace_template: Option<NamespaceTemplate>,
    max_record_bytes: u64,
}

impl Default for CompiledConfig {
    fn default() -> Self {
        Self {
            candidates: LabelKeys::new(&CANONICAL_KEYS.map(|k| vec![k.to_owned()])),
            environment_aliases: BTreeMap::new(),
            namespace_template: None,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl CompiledConfig {
    /// Parses and validates a JSON configuration.
    pub fn from_json(json: &[u8]) -> Result<Self, ConfigError> {
        Self::compile(&TransformConfig::from_json(json)?)
    }

    /// Validates a configuration.
    pub fn compile(config: &TransformConfig) -> Result<Self, ConfigError> {
        let mut compiled = Self::default();
        let mut candidates = CANONICAL_KEYS.map(|k| vec![k.to_owned()]);
        // BTreeMap iterates in byte order of the legacy key, which is the
        // order the rulebook visits the aliases in.
        for (legacy, target) in &config.key_aliases {
            if legacy.is_empty() {
                return Err(ConfigError::AliasEmpty);
            }
            if CANONICAL_KEYS.contains(&legacy.as_str()) {
                return Err(ConfigError::AliasIsCanonical {
                    legacy: legacy.clone(),
                });
            }
            let index = CANONICAL_KEYS
                .iter()
                .position(|k| k == target)
                .ok_or_else(|| ConfigError::AliasTarget {
                    legacy: legacy.clone(),
                    target: target.clone(),
                })?;
            if let Some(list) = candidates.get_mut(index) {
                list.push(legacy.clone());
            }
        }
        compiled.candidates = LabelKeys::new(&candidates);
        for (key, value) in &config.environment_aliases {
            DnsLabel::parse(key).map_err(|reason| ConfigError::EnvironmentAliasKey {
                key: key.clone(),
                reason,
            })?;
            DnsLabel::parse(value).map_err(|reason| ConfigError::EnvironmentAliasValue {
                key: key.clone(),
                value: value.clone(),
                reason,
            })?;
        }
        compiled.environment_aliases = config.environment_aliases.clone();
        compiled.namespace_template = config
            .namespace_template
            .as_deref()
            .map(NamespaceTemplate::parse)
            .transpose()
            .map_err(ConfigError::NamespaceTemplate)?;
        if config.max_record_bytes == 0 {
            return Err(ConfigError::MaxRecordBytes);
        }
        compiled.max_record_bytes = config.max_record_bytes;
        Ok(compiled)
    }

    /// Candidate label keys for the canonical key at `index` of
    /// [`CANONICAL_KEYS`], in rule order.
    pub fn candidates(&self, index: usize) -> &[String] {
        self.candidates.keys_of(index)
    }

    /// Every candidate key, numbered (what the fast scan matches labels against).
    pub(crate) fn label_keys(&self) -> &LabelKeys {
        &self.candidates
    }

    /// The environment value `normalised` stands for (itself when unaliased).
    pub fn resolve_environment<'a>(&'a self, normalised: &'a str) -> &'a str {
        self.environment_aliases
            .get(normalised)
            .map_or(normalised, String::as_str)
    }

    /// The value an aliased environment stands for; `None` when unaliased.
    pub fn environment_alias(&self, normalised: &str) -> Option<&str> {
        self.environment_aliases.get(normalised).map(String::as_str)
    }

    pub fn namespace_template(&self) -> Option<&NamespaceTemplate> {
        self.namespace_template.as_ref()
    }

    pub fn max_record_bytes(&self) -> u64 {
        self.max_record_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_object_is_the_default() {
        assert_eq!(
            CompiledConfig::from_json(b"{}").unwrap(),
            CompiledConfig::default()
        );
        assert_eq!(
            serde_json::from_str::<TransformConfig>("{}").unwrap(),
            TransformConfig::default()
        );
    }

    #[test]
    fn empty_and_null_fields_are_the_default() {
        for json in ["", " \n", "{}"] {
            assert_eq!(
                TransformConfig::from_json(json.as_bytes()).unwrap(),
                TransformConfig::default(),
                "{json:?}"
            );
        }
        // `null` is absent for every field, whatever its type.
        assert_eq!(
            TransformConfig::from_json(
                br#"{"key_aliases": null, "environment_aliases": null,
                     "namespace_template": null, "max_record_bytes": null}"#
            )
            .unwrap(),
            TransformConfig::default()
        );
    }

    fn err(json: &str) -> ConfigError {
        CompiledConfig::from_json(json.as_bytes()).unwrap_err()
    }

    /// The read error `json` is rejected with, which must name `field` first
    /// in its message.
    fn field_error(json: &str, field: &str) -> ReadError {
        let e = err(json);
        assert_eq!(e.field(), Some(field), "{json}");
        assert_message_starts(json, &format!("field `{field}`: "));
        match e {
            ConfigError::Read(read) => read,
            other => panic!("{json}: not a read error: {other}"),
        }
    }

    /// Each of `cases` (JSON, field) is rejected naming its field, by a read
    /// error `is_kind` accepts, with a message going on with `says`.
    fn assert_field_errors(cases: &[(&str, &str)], is_kind: fn(&ReadError) -> bool, says: &str) {
        for (json, field) in cases {
            let e = field_error(json, field);
            assert!(is_kind(&e), "{json}: {e:?}");
            assert_message_starts(json, &format!("field `{field}`: {says}"));
        }
    }

    fn assert_message_starts(json: &str, start: &str) {
        let message = err(json).to_string();
        assert!(message.starts_with(start), "{json}: {message}");
    }

    #[test]
    fn an_unknown_field_is_named() {
        let e = field_error(r#"{"key_alias": {}}"#, "key_alias");
        assert!(matches!(e, ReadError::Unknown { .. }));
        assert_eq!(
            e.to_string(),
            "field `key_alias`: unknown (expected one of `key_aliases`, \
             `environment_aliases`, `namespace_template`, `max_record_bytes`)"
        );
    }

    #[test]
    fn a_repeated_field_is_named() {
        let cases = [
            (
                r#"{"max_record_bytes": 5, "max_record_bytes": 6}"#,
                "max_record_bytes",
            ),
            (
                r#"{"namespace_template": null, "namespace_template": "{project}"}"#,
                "namespace_template",
            ),
            (
                r#"{"key_aliases": {}, "max_record_bytes": 1, "key_aliases": {}}"#,
                "key_aliases",
            ),
        ];
        assert_field_errors(
            &cases,
            |e| matches!(e, ReadError::Repeated { .. }),
            "repeated",
        );
    }

    #[test]
    fn mistyped_and_out_of_range_fields_are_named() {
        let cases = [
            (r#"{"max_record_bytes": "big"}"#, "max_record_bytes"),
            (r#"{"max_record_bytes": -1}"#, "max_record_bytes"),
            (r#"{"max_record_bytes": 1.5}"#, "max_record_bytes"),
            (
                r#"{"max_record_bytes": 18446744073709551616}"#,
                "max_record_bytes",
            ),
            (r#"{"key_aliases": {"a": 1}}"#, "key_aliases"),
            (r#"{"environment_aliases": []}"#, "environment_aliases"),
            (r#"{"namespace_template": 5}"#, "namespace_template"),
        ];
        assert_field_errors(&cases, |e| matches!(e, ReadError::Invalid { .. }), "");
        assert_eq!(
            err(r#"{"max_record_bytes": 0}"#).field(),
            Some("max_record_bytes")
        );
    }

    #[test]
    fn a_value_that_is_not_json_names_its_field() {
        let cases = [
            (r#"{"max_record_bytes": 1e999}"#, "max_record_bytes"),
            (
                r#"{"key_aliases": {}, "max_record_bytes": -1e400, "x": 1}"#,
                "max_record_bytes",
            ),
            (r#"{"namespace_template": "{proj"#, "namespace_template"),
            (
                r#"{"environment_aliases": {"a": tru}}"#,
                "environment_aliases",
            ),
        ];
        assert_field_errors(
            &cases,
            |e| matches!(e, ReadError::NotJson { .. }),
            "not valid JSON: ",
        );
    }

    #[test]
    fn not_an_object_gives_the_position() {
        for json in ["not json", "[]", "null", r#"{"max_record_bytes": 5,}"#] {
            let e = err(json);
            assert!(
                matches!(e, ConfigError::Read(ReadError::NotObject(_))),
                "{json}: {e}"
            );
            assert_eq!(e.field(), None);
            assert!(e.to_string().contains("line 1 column"), "{e}");
        }
        assert!(matches!(
            CompiledConfig::from_json(b"{\"namespace_template\": \"\xff\"}"),
            Err(ConfigError::Read(ReadError::NotUtf8(_)))
        ));
    }

    /// Found by fuzzing (fuzz target `transform_config`): a key or a
    /// placeholder holding a newline made the rejection two log lines.
    #[test]
    fn rejections_naming_what_was_written_stay_on_one_line() {
        for json in [
            r#"{"a\nb": 1}"#,
            r#"{"rd_b\r\u0000x": 1}"#,
            r#"{"namespace_template": "{environm\nt}"}"#,
            r#"{"namespace_template": "{s\rvice}-{\u001b}"}"#,
            r#"{"key_aliases": {"a\nb": "x\u007f"}}"#,
            r#"{"environment_aliases": {"a\rb": "c"}}"#,
            r#"{"environment_aliases": {"prod": "a\u001bb"}}"#,
            r#"{"max_record_bytes": "1\n2"}"#,
            "{\"max_record_bytes\": 1,\n\n}",
        ] {
            let message = err(json).to_string();
            assert!(!message.contains(char::is_control), "{message:?}");
        }
        assert_message_starts(r#"{"a\nb": 1}"#, "field `a\\nb`: unknown (expected one of ");
        assert_message_starts(
            r#"{"namespace_template": "{environm\nt}"}"#,
            "field `namespace_template`: unknown placeholder {environm\\nt} ",
        );
    }

    #[test]
    fn key_aliases_are_checked() {
        let e = err(r#"{"key_aliases": {"app": "starform.io/nope"}}"#);
        assert_eq!(e.field(), Some("key_aliases"));
        assert!(e.to_string().contains("app"), "{e}");
        let e = err(r#"{"key_aliases": {"starform.io/service": "starform.io/project"}}"#);
        assert_eq!(
            e,
            ConfigError::AliasIsCanonical {
                legacy: "starform.io/service".into()
            }
        );
        assert_eq!(
            err(r#"{"key_aliases": {"": "starform.io/project"}}"#),
            ConfigError::AliasEmpty
        );
    }

    #[test]
    fn candidates_are_canonical_then_legacy_in_byte_order() {
        let c = CompiledConfig::from_json(
            br#"{"key_aliases": {"team": "starform.io/project", "app.kubernetes.io/part-of": "starform.io/project", "app": "starform.io/service"}}"#,
        )
        .unwrap();
        assert_eq!(
            c.candidates(0),
            ["starform.io/project", "app.kubernetes.io/part-of", "team"]
        );
        assert_eq!(c.candidates(1), ["starform.io/environment"]);
        assert_eq!(c.candidates(2), ["starform.io/service", "app"]);
        assert_eq!(c.candidates(3), ["starform.io/build-id"]);
    }

    #[test]
    fn environment_aliases_must_be_labels_and_apply_once() {
        let e = err(r#"{"environment_aliases": {"Prod": "production"}}"#);
        assert_eq!(e.field(), Some("environment_aliases"));
        assert!(matches!(e, ConfigError::EnvironmentAliasKey { .. }));
        let e = err(r#"{"environment_aliases": {"prod": "pro_duction"}}"#);
        assert!(matches!(e, ConfigError::EnvironmentAliasValue { .. }));
        let c =
            CompiledConfig::from_json(br#"{"environment_aliases": {"a": "b", "b": "c"}}"#).unwrap();
        assert_eq!(c.resolve_environment("a"), "b");
        assert_eq!(c.resolve_environment("b"), "c");
        assert_eq!(c.resolve_environment("z"), "z");
    }

    #[test]
    fn max_record_bytes_must_be_positive() {
        assert_eq!(
            err(r#"{"max_record_bytes": 0}"#),
            ConfigError::MaxRecordBytes
        );
        assert_eq!(
            ConfigError::MaxRecordBytes.field(),
            Some("max_record_bytes")
        );
        let c = CompiledConfig::from_json(br#"{"max_record_bytes": 10}"#).unwrap();
        assert_eq!(c.max_record_bytes(), 10);
    }

    #[test]
    fn namespace_template_parses_and_matches() {
        let t = NamespaceTemplate::parse("{project}-{environment}").unwrap();
        assert!(t.matches("acme-prod", "acme", "prod", "web"));
        assert!(!t.matches("acme-prod-x", "acme", "prod", "web"));
        assert!(!t.matches("acme", "acme", "prod", "web"));
        assert_eq!(t.render("acme", "prod", "web"), "acme-prod");
        let t = NamespaceTemplate::parse("tenant-{service}").unwrap();
        assert!(t.matches("tenant-web", "a", "b", "web"));
        assert_eq!(
            NamespaceTemplate::parse("fixed")
                .unwrap()
                .render("a", "b", "c"),
            "fixed"
        );
    }

    #[test]
    fn namespace_template_rejects_bad_braces() {
        assert_eq!(NamespaceTemplate::parse(""), Err(TemplateError::Empty));
        assert_eq!(
            NamespaceTemplate::parse("{team}"),
            Err(TemplateError::UnknownPlaceholder("team".into()))
        );
        assert_eq!(
            NamespaceTemplate::parse("a}"),
            Err(TemplateError::UnbalancedBrace(1))
        );
        assert_eq!(
            NamespaceTemplate::parse("x-{project"),
            Err(TemplateError::UnbalancedBrace(2))
        );
        assert_eq!(
            NamespaceTemplate::parse("{{project}}"),
            Err(TemplateError::UnbalancedBrace(0))
        );
        let e = err(r#"{"namespace_template": "{x}"}"#);
        assert_eq!(e.field(), Some("namespace_template"));
    }
}
