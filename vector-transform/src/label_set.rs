//! Rule 4: the identity a record's pod labels resolve to.

use std::borrow::Cow;

use starform_labels::is_dns_label;

use crate::config::{CompiledConfig, CANONICAL_KEYS};
use crate::outcome::{Quarantine, Reason};
use crate::scan::same_words;
use crate::view::LabelMap;

/// The values rule 4 settled on, borrowed from the record (or the
/// configuration's environment aliases) wherever normalising changed
/// nothing, so that accepting a record allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedLabels<'a> {
    pub project: Cow<'a, str>,
    pub environment: Cow<'a, str>,
    pub service: Cow<'a, str>,
    /// Trimmed; its presence makes the record a build log.
    pub build_id: Option<Cow<'a, str>>,
}

impl ResolvedLabels<'_> {
    pub fn into_owned(self) -> ResolvedLabels<'static> {
        ResolvedLabels {
            project: Cow::Owned(self.project.into_owned()),
            environment: Cow::Owned(self.environment.into_owned()),
            service: Cow::Owned(self.service.into_owned()),
            build_id: self.build_id.map(|b| Cow::Owned(b.into_owned())),
        }
    }
}

/// Index of each canonical key in [`CANONICAL_KEYS`].
const PROJECT: usize = 0;
const ENVIRONMENT: usize = 1;
const SERVICE: usize = 2;
const BUILD_ID: usize = 3;

/// Applies rule 4 to a record's label maps (`labels`, then `pod_labels`;
/// `None` where the record has no such map). A record with two maps is
/// settled over both: a key they disagree on is a `conflict`, exactly as two
/// aliases in one map would be.
pub(crate) fn resolve<'a, L: LabelMap + ?Sized>(
    config: &'a CompiledConfig,
    sources: [Option<&'a L>; 2],
) -> Result<ResolvedLabels<'a>, Quarantine> {
    if sources.iter().all(Option::is_none) {
        return Err(Quarantine::new(
            Reason::MissingLabel,
            starform_labels::keys::PROJECT,
        ));
    }
    let project = required(config, &sources, PROJECT)?;
    let environment = required(config, &sources, ENVIRONMENT)?;
    let service = required(config, &sources, SERVICE)?;
    let build_id = settle(config, &sources, BUILD_ID)?;
    Ok(ResolvedLabels {
        project,
        environment,
        service,
        build_id,
    })
}

// Inlined, like the helpers below: they run four times per record, and a
// call returning a `Result` of a `Cow` passes it through memory.
#[inline(always)]
fn required<'a, L: LabelMap + ?Sized>(
    config: &'a CompiledConfig,
    sources: &[Option<&'a L>; 2],
    index: usize,
) -> Result<Cow<'a, str>, Quarantine> {
    settle(config, sources, index)?.ok_or_else(|| {
        Quarantine::new(
            Reason::MissingLabel,
            CANONICAL_KEYS.get(index).copied().unwrap_or_default(),
        )
    })
}

/// The value all present candidates of one canonical key agree on, over
/// every source in order.
#[inline(always)]
fn settle<'a, L: LabelMap + ?Sized>(
    config: &'a CompiledConfig,
    sources: &[Option<&'a L>; 2],
    index: usize,
) -> Result<Option<Cow<'a, str>>, Quarantine> {
    let keys = config.label_keys();
    let mut first: Option<Cow<'a, str>> = None;
    for labels in sources.iter().flatten() {
        for id in keys.ids_of(index) {
            let Some(raw) = labels.lookup(id, keys) else {
                continue;
            };
            let value = raw
                .and_then(|text| candidate_value(config, index, text))
                .ok_or_else(|| Quarantine::new(Reason::InvalidValue, key_name(keys.key(id))))?;
            match &first {
                None => first = Some(value),
                Some(settled) if !same_words(settled.as_bytes(), value.as_bytes()) => {
                    return Err(Quarantine::new(Reason::Conflict, key_name(keys.key(id))))
                }
                Some(_) => {}
            }
        }
    }
    Ok(first)
}

/// A label key as a quarantine names it: borrowed when it is a canonical
/// key, copied when it is an alias from the configuration.
fn key_name(key: &str) -> Cow<'static, str> {
    CANONICAL_KEYS
        .iter()
        .find(|canonical| **canonical == key)
        .map_or_else(
            || Cow::Owned(key.to_owned()),
            |canonical| Cow::Borrowed(*canonical),
        )
}

/// One candidate's value after normalisation, or `None` when invalid.
#[inline(always)]
fn candidate_value<'a>(
    config: &'a CompiledConfig,
    index: usize,
    text: Cow<'a, str>,
) -> Option<Cow<'a, str>> {
    let normalised = match text {
        Cow::Borrowed(text) => normalise(index, text)?,
        Cow::Owned(text) => Cow::Owned(normalise(index, &text)?.into_owned()),
    };
    if index == ENVIRONMENT {
        if let Some(alias) = config.environment_alias(&normalised) {
            return Some(Cow::Borrowed(alias));
        }
    }
    Some(normalised)
}

/// Rule 4's normalisation of one value: a build id is trimmed and must not
/// be empty; any other value is trimmed, ASCII-lowercased and must then be a
/// DNS-1123 label (nothing else is rewritten: `my_svc` stays invalid).
#[inline(always)]
fn normalise(index: usize, text: &str) -> Option<Cow<'_, str>> {
    // Nearly every value is already a label: nothing to trim or lowercase.
    if index != BUILD_ID && is_dns_label(text) {
        return Some(Cow::Borrowed(text));
    }
    let trimmed = text.trim();
    if index == BUILD_ID {
        return (!trimmed.is_empty()).then_some(Cow::Borrowed(trimmed));
    }
    // Only ASCII is ever valid, so ASCII lowercasing loses nothing.
    let value = if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    };
    is_dns_label(&value).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    fn resolve(
        config: &CompiledConfig,
        labels: Option<&Map<String, Value>>,
    ) -> Result<ResolvedLabels<'static>, Quarantine> {
        super::resolve(config, [labels, None]).map(ResolvedLabels::into_owned)
    }

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

    /// `labels` under the default configuration are quarantined for
    /// `reason`, naming `key`.
    fn assert_quarantined(labels: &Map<String, Value>, reason: Reason, key: &'static str) {
        let q = resolve(&CompiledConfig::default(), Some(labels)).unwrap_err();
        assert_eq!(q, Quarantine::new(reason, key));
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
            (&*r.project, &*r.environment, &*r.service),
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
        assert_quarantined(&l, Reason::InvalidValue, "starform.io/service");
    }

    #[test]
    fn missing_dimensions_are_reported_in_order() {
        let mut l = labels(full());
        l.remove("starform.io/environment");
        l.insert("starform.io/service".into(), json!(""));
        assert_quarantined(&l, Reason::MissingLabel, "starform.io/environment");
    }

    #[test]
    fn non_string_values_are_invalid() {
        let mut l = labels(full());
        l.insert("starform.io/environment".into(), json!(7));
        assert_quarantined(&l, Reason::InvalidValue, "starform.io/environment");
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
        assert_quarantined(&l, Reason::InvalidValue, "starform.io/build-id");
    }

    #[test]
    fn aliases_are_candidates_and_conflicts_are_caught() {
        let c = config(
            r#"{"key_aliases": {"team": "starform.io/project", "app": "starform.io/service"}}"#,
        );
        let l = labels(json!({"team": "Acme", "starform.io/environment": "prod", "app": "web"}));
        let r = resolve(&c, Some(&l)).unwrap();
        assert_eq!((&*r.project, &*r.service), ("acme", "web"));

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

#[cfg(test)]
mod two_sources {
    use super::*;
    use serde_json::{json, Map, Value};

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn both(a: Value, b: Value) -> Result<ResolvedLabels<'static>, Quarantine> {
        let (a, b) = (map(a), map(b));
        resolve(&CompiledConfig::default(), [Some(&a), Some(&b)]).map(ResolvedLabels::into_owned)
    }

    #[test]
    fn sources_that_agree_resolve() {
        let r = both(
            json!({"starform.io/project": "acme", "starform.io/environment": "prod"}),
            json!({"starform.io/project": " ACME", "starform.io/service": "web"}),
        )
        .unwrap();
        assert_eq!(
            (&*r.project, &*r.environment, &*r.service),
            ("acme", "prod", "web")
        );
    }

    #[test]
    fn sources_that_disagree_conflict_on_that_key() {
        let q = both(
            json!({"starform.io/project": "acme", "starform.io/environment": "prod", "starform.io/service": "web"}),
            json!({"starform.io/project": "globex"}),
        )
        .unwrap_err();
        assert_eq!(q, Quarantine::new(Reason::Conflict, "starform.io/project"));
    }

    #[test]
    fn second_source_alone_is_enough() {
        let b = map(
            json!({"starform.io/project": "acme", "starform.io/environment": "prod", "starform.io/service": "web"}),
        );
        let config = CompiledConfig::default();
        let r = resolve::<Map<String, Value>>(&config, [None, Some(&b)]).unwrap();
        assert_eq!(r.project, "acme");
    }
}
