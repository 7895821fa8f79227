//! Rule 4: the identity a record's pod labels resolve to.

use serde_json::{Map, Value};
use starform_labels::DnsLabel;

use crate::config::{CompiledConfig, CANONICAL_KEYS};
use crate::outcome::{Quarantine, Reason};

/// The values rule 4 settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLabels {
    pub project: String,
    pub environment: String,
    pub service: String,
    /// Trimmed; its presence makes the record a build log.
    pub build_id: Option<String>,
}

/// Index of each canonical key in [`CANONICAL_KEYS`].
const PROJECT: usize = 0;
const ENVIRONMENT: usize = 1;
const SERVICE: usize = 2;
const BUILD_ID: usize = 3;

/// Applies rule 4 to a label map; `None` means the record has no labels.
pub fn resolve(
    config: &CompiledConfig,
    labels: Option<&Map<String, Value>>,
) -> Result<ResolvedLabels, Quarantine> {
    let Some(labels) = labels else {
        return Err(Quarantine::new(
            Reason::MissingLabel,
            starform_labels::keys::PROJECT,
        ));
    };
    let project = required(config, labels, PROJECT)?;
    let environment = required(config, labels, ENVIRONMENT)?;
    let service = required(config, labels, SERVICE)?;
    let build_id = settle(config, labels, BUILD_ID)?;
    Ok(ResolvedLabels {
        project,
        environment,
        service,
        build_id,
    })
}

fn required(
    config: &CompiledConfig,
    labels: &Map<String, Value>,
    index: usize,
) -> Result<String, Quarantine> {
    settle(config, labels, index)?.ok_or_else(|| {
        Quarantine::new(
            Reason::MissingLabel,
            CANONICAL_KEYS.get(index).copied().unwrap_or_default(),
        )
    })
}

/// The value all present candidates of one canonical key agree on.
fn settle(
    config: &CompiledConfig,
    labels: &Map<String, Value>,
    index: usize,
) -> Result<Option<String>, Quarantine> {
    let mut first: Option<String> = None;
    for key in config.candidates(index) {
        let Some(raw) = labels.get(key) else { continue };
        let value = candidate_value(config, index, raw)
            .ok_or_else(|| Quarantine::new(Reason::InvalidValue, key))?;
        match &first {
            None => first = Some(value),
            Some(settled) if *settled != value => {
                return Err(Quarantine::new(Reason::Conflict, key))
            }
            Some(_) => {}
        }
    }
    Ok(first)
}

/// One candidate's value after normalisation, or `None` when invalid.
fn candidate_value(config: &CompiledConfig, index: usize, raw: &Value) -> Option<String> {
    let text = raw.as_str()?;
    if index == BUILD_ID {
        let trimmed = text.trim();
        return (!trimmed.is_empty()).then(|| trimmed.to_owned());
    }
    let label = DnsLabel::normalize(text).ok()?;
    if index == ENVIRONMENT {
        return Some(config.resolve_environment(label.as_str()).to_owned());
    }
    Some(label.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn full() -> Value {
        json!({
            "starform.io/project": "acme",
            "starform.io/environment": "prod",
            "starform.io/service": "web",
        })
    }

    fn config(json: &str) -> CompiledConfig {
        CompiledConfig::from_json(json.as_bytes()).unwrap()
    }

    #[test]
    fn no_label_map_is_missing_project() {
        let q = resolve(&CompiledConfig::default(), None).unwrap_err();
        assert_eq!(
            q,
            Quarantine::new(Reason::MissingLabel, "starform.io/project")
        );
    }

    #[test]
    fn valid_labels_resolve() {
        let r = resolve(&CompiledConfig::default(), Some(&labels(full()))).unwrap();
        assert_eq!(
            (
                r.project.as_str(),
                r.environment.as_str(),
                r.service.as_str()
            ),
            ("acme", "prod", "web")
        );
        assert_eq!(r.build_id, None);
    }

    #[test]
    fn values_are_trimmed_and_lowercased_only() {
        let mut l = labels(full());
        l.insert("starform.io/project".into(), json!("\u{3000} ACME\t"));
        assert_eq!(
            resolve(&CompiledConfig::default(), Some(&l))
                .unwrap()
                .project,
            "acme"
        );
        l.insert("starform.io/service".into(), json!("My_Svc"));
        let q = resolve(&CompiledConfig::default(), Some(&l)).unwrap_err();
        assert_eq!(
            q,
            Quarantine::new(Reason::InvalidValue, "starform.io/service")
        );
    }

    #[test]
    fn missing_dimensions_are_reported_in_order() {
        let mut l = labels(full());
        l.remove("starform.io/environment");
        l.insert("starform.io/service".into(), json!(""));
        let q = resolve(&CompiledConfig::default(), Some(&l)).unwrap_err();
        assert_eq!(
            q,
            Quarantine::new(Reason::MissingLabel, "starform.io/environment")
        );
    }

    #[test]
    fn non_string_values_are_invalid() {
        let mut l = labels(full());
        l.insert("starform.io/environment".into(), json!(7));
        let q = resolve(&CompiledConfig::default(), Some(&l)).unwrap_err();
        assert_eq!(
            q,
            Quarantine::new(Reason::InvalidValue, "starform.io/environment")
        );
    }

    #[test]
    fn build_id_is_trimmed_and_must_not_be_empty() {
        let mut l = labels(full());
        l.insert("starform.io/build-id".into(), json!("  Build_42 "));
        assert_eq!(
            resolve(&CompiledConfig::default(), Some(&l))
                .unwrap()
                .build_id
                .as_deref(),
            Some("Build_42")
        );
        l.insert("starform.io/build-id".into(), json!(" \n"));
        let q = resolve(&CompiledConfig::default(), Some(&l)).unwrap_err();
        assert_eq!(
            q,
            Quarantine::new(Reason::InvalidValue, "starform.io/build-id")
        );
    }

    #[test]
    fn aliases_are_candidates_and_conflicts_are_caught() {
        let c = config(
            r#"{"key_aliases": {"team": "starform.io/project", "app": "starform.io/service"}}"#,
        );
        let l = labels(json!({"team": "Acme", "starform.io/environment": "prod", "app": "web"}));
        let r = resolve(&c, Some(&l)).unwrap();
        assert_eq!((r.project.as_str(), r.service.as_str()), ("acme", "web"));

        let l = labels(
            json!({"starform.io/project": "acme", "team": " ACME ", "starform.io/environment": "prod", "app": "web"}),
        );
        assert_eq!(resolve(&c, Some(&l)).unwrap().project, "acme");

        let l = labels(
            json!({"starform.io/project": "acme", "team": "other", "starform.io/environment": "prod", "app": "web"}),
        );
        assert_eq!(
            resolve(&c, Some(&l)).unwrap_err(),
            Quarantine::new(Reason::Conflict, "team")
        );
    }

    #[test]
    fn legacy_keys_are_visited_in_byte_order() {
        let c =
            config(r#"{"key_aliases": {"b": "starform.io/project", "a": "starform.io/project"}}"#);
        // "a" is visited before "b": "b" is the one that conflicts.
        let l = labels(
            json!({"b": "two", "a": "one", "starform.io/environment": "e", "starform.io/service": "s"}),
        );
        assert_eq!(
            resolve(&c, Some(&l)).unwrap_err(),
            Quarantine::new(Reason::Conflict, "b")
        );
        // An invalid earlier candidate decides before a later conflict.
        let l = labels(
            json!({"b": "two", "a": "O_O", "starform.io/environment": "e", "starform.io/service": "s"}),
        );
        assert_eq!(
            resolve(&c, Some(&l)).unwrap_err(),
            Quarantine::new(Reason::InvalidValue, "a")
        );
    }

    #[test]
    fn environment_aliases_apply_before_comparing() {
        let c = config(
            r#"{"key_aliases": {"env": "starform.io/environment"}, "environment_aliases": {"prod": "production", "production": "live"}}"#,
        );
        let l = labels(
            json!({"starform.io/project": "a", "starform.io/environment": "Prod", "env": "production", "starform.io/service": "s"}),
        );
        // prod → production (once, not on to live); production → live: these differ.
        assert_eq!(
            resolve(&c, Some(&l)).unwrap_err(),
            Quarantine::new(Reason::Conflict, "env")
        );
        let l = labels(
            json!({"starform.io/project": "a", "starform.io/environment": "PROD", "starform.io/service": "s"}),
        );
        assert_eq!(resolve(&c, Some(&l)).unwrap().environment, "production");
    }
}
