//! The transform's configuration: the serde form a user writes
//! ([`TransformConfig`]) and the checked form the rules run on
//! ([`CompiledConfig`]). Every rejection names the field it is about.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use starform_labels::{keys, DnsLabel, InvalidLabel};

/// Default for [`TransformConfig::max_record_bytes`]: 1 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 1_048_576;

/// The four canonical pod-label keys, in the order the rules visit them.
pub const CANONICAL_KEYS: [&str; 4] = [
    keys::PROJECT,
    keys::ENVIRONMENT,
    keys::SERVICE,
    keys::BUILD_ID,
];

/// The configuration as written (JSON). `{}` is the default configuration.
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
    /// The configuration's fields, as written in JSON.
    pub const FIELDS: [&'static str; 4] = [
        "key_aliases",
        "environment_aliases",
        "namespace_template",
        "max_record_bytes",
    ];

    /// Parses JSON, naming the field when one is unknown or of the wrong type
    /// (serde's own message names an unknown field but not a mistyped one).
    pub fn from_json(json: &[u8]) -> Result<Self, ConfigError> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        let Value::Object(fields) = &value else {
            return Err(ConfigError::Syntax(
                "the configuration must be a JSON object".into(),
            ));
        };
        for (name, field) in fields {
            let checked = match name.as_str() {
                "key_aliases" | "environment_aliases" => check::<BTreeMap<String, String>>(field),
                "namespace_template" => check::<Option<String>>(field),
                "max_record_bytes" => check::<u64>(field),
                _ => return Err(ConfigError::UnknownField(name.clone())),
            };
            checked.map_err(|message| ConfigError::FieldType {
                field: name.clone(),
                message,
            })?;
        }
        serde_json::from_value(value).map_err(|e| ConfigError::Syntax(e.to_string()))
    }
}

fn check<T: serde::de::DeserializeOwned>(value: &Value) -> Result<(), String> {
    T::deserialize(value).map(drop).map_err(|e| e.to_string())
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
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON, or not an object.
    #[error("configuration: {0}")]
    Syntax(String),
    #[error("{}: unknown field (expected one of {fields:?})", OneLine(.0), fields = TransformConfig::FIELDS)]
    UnknownField(String),
    #[error("{field}: {message}")]
    FieldType { field: String, message: String },
    #[error(
        "key_aliases[{legacy:?}]: {target:?} is not a canonical key (one of {CANONICAL_KEYS:?})"
    )]
    AliasTarget { legacy: String, target: String },
    #[error("key_aliases[{legacy:?}]: a canonical key cannot be an alias")]
    AliasIsCanonical { legacy: String },
    #[error("key_aliases: the legacy key must not be empty")]
    AliasEmpty,
    #[error("environment_aliases[{key:?}]: the key is not a DNS-1123 label ({reason})")]
    EnvironmentAliasKey { key: String, reason: InvalidLabel },
    #[error(
        "environment_aliases[{key:?}]: the value {value:?} is not a DNS-1123 label ({reason})"
    )]
    EnvironmentAliasValue {
        key: String,
        value: String,
        reason: InvalidLabel,
    },
    #[error("namespace_template: {0}")]
    NamespaceTemplate(TemplateError),
    #[error("max_record_bytes: must be greater than 0")]
    MaxRecordBytes,
}

impl ConfigError {
    /// The configuration field the error is about (`None` when the input is
    /// not a JSON object at all; the message then says where).
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::Syntax(_) => None,
            ConfigError::UnknownField(field) | ConfigError::FieldType { field, .. } => Some(field),
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

/// A name taken from the configuration, shown on one line: a rejection is
/// one log line (Fluent Bit's stderr), and a key may hold a newline. Control
/// characters are escaped (`\n`, `\u{1b}`); everything else is as written.
struct OneLine<'a>(&'a str);

impl std::fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                std::fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
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
        let mut rest = namespace;
        for part in &self.parts {
            let piece = match part {
                TemplatePart::Literal(s) => s.as_str(),
                TemplatePart::Project => project,
                TemplatePart::Environment => environment,
                TemplatePart::Service => service,
            };
            match rest.strip_prefix(piece) {
                Some(r) => rest = r,
                None => return false,
            }
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
    candidates: [Vec<String>; 4],
    environment_aliases: BTreeMap<String, String>,
    namespace_template: Option<NamespaceTemplate>,
    max_record_bytes: u64,
}

impl Default for CompiledConfig {
    fn default() -> Self {
        Self {
            candidates: CANONICAL_KEYS.map(|k| vec![k.to_owned()]),
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
            if let Some(list) = compiled.candidates.get_mut(index) {
                list.push(legacy.clone());
            }
        }
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
        self.candidates
            .get(index)
            .map(Vec::as_slice)
            .unwrap_or_default()
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

    fn err(json: &str) -> ConfigError {
        CompiledConfig::from_json(json.as_bytes()).unwrap_err()
    }

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
    fn unknown_and_mistyped_fields_are_named() {
        let e = err(r#"{"key_alias": {}}"#);
        assert_eq!(e, ConfigError::UnknownField("key_alias".into()));
        assert_eq!(e.field(), Some("key_alias"));
        for (json, field) in [
            (r#"{"max_record_bytes": "big"}"#, "max_record_bytes"),
            (r#"{"max_record_bytes": -1}"#, "max_record_bytes"),
            (r#"{"max_record_bytes": null}"#, "max_record_bytes"),
            (r#"{"key_aliases": {"a": 1}}"#, "key_aliases"),
            (r#"{"environment_aliases": []}"#, "environment_aliases"),
            (r#"{"namespace_template": 5}"#, "namespace_template"),
        ] {
            let e = err(json);
            assert!(matches!(e, ConfigError::FieldType { .. }), "{json}: {e:?}");
            assert_eq!(e.field(), Some(field), "{json}");
            assert!(e.to_string().starts_with(field), "{e}");
        }
        assert!(matches!(err("not json"), ConfigError::Syntax(_)));
        assert!(matches!(err("[]"), ConfigError::Syntax(_)));
        assert_eq!(
            TransformConfig::from_json(br#"{"namespace_template": null}"#).unwrap(),
            TransformConfig::default()
        );
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
        ] {
            let message = err(json).to_string();
            assert!(
                !message.contains(['\n', '\r', '\0', '\u{1b}']),
                "{message:?}"
            );
        }
        assert_eq!(
            err(r#"{"a\nb": 1}"#).to_string(),
            format!(
                "a\\nb: unknown field (expected one of {:?})",
                TransformConfig::FIELDS
            )
        );
        assert!(err(r#"{"namespace_template": "{environm\nt}"}"#)
            .to_string()
            .starts_with("namespace_template: unknown placeholder {environm\\nt} "));
        // Printable names are shown exactly as written.
        assert!(err(r#"{"key_alias": {}}"#)
            .to_string()
            .starts_with("key_alias: unknown field"));
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
