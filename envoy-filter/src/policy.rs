//! What an attributed identity is counted as: the preview policy, and the
//! outcome a route name resolves to (cached per route name).

use regex_lite::Regex;
use starform_labels::{DnsLabel, Identity};

use crate::config::{Config, PreviewPolicy};
use crate::names;
use crate::registry::LabelSetId;
use crate::route::Unattributed;

/// Which store a label set's series are meant for (docs/contracts.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retention {
    /// Unmarked: the long-lived store.
    Standard,
    /// Marked `retention="short"`: a preview under
    /// `preview_policy: "short_retention"`.
    Short,
}

impl Retention {
    /// The tag that marks the series, if any.
    pub fn tag(self) -> Option<(&'static str, &'static str)> {
        match self {
            Retention::Standard => None,
            Retention::Short => Some((names::RETENTION_TAG, names::SHORT_RETENTION)),
        }
    }
}

/// How an identity is counted once the preview policy has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Counted under this label set, in series marked for this retention.
    Count(Identity, Retention),
    /// A preview under `preview_policy: "suppress"`.
    Suppress,
}

/// The preview rule of a configuration.
#[derive(Debug, Clone)]
pub struct PreviewRule {
    pattern: Regex,
    policy: PreviewPolicy,
    aggregate_as: DnsLabel,
}

impl PreviewRule {
    pub fn new(config: &Config) -> Self {
        PreviewRule {
            pattern: config.preview_pattern.clone(),
            policy: config.preview_policy,
            aggregate_as: config.preview_environment.clone(),
        }
    }

    pub fn decide(&self, mut identity: Identity) -> Decision {
        if !self.pattern.is_match(identity.environment.as_str()) {
            return Decision::Count(identity, Retention::Standard);
        }
        match self.policy {
            PreviewPolicy::Full => Decision::Count(identity, Retention::Standard),
            PreviewPolicy::Aggregate => {
                identity.environment = self.aggregate_as.clone();
                Decision::Count(identity, Retention::Standard)
            }
            PreviewPolicy::Suppress => Decision::Suppress,
            PreviewPolicy::ShortRetention => Decision::Count(identity, Retention::Short),
        }
    }
}

/// What a request on a given route is counted as. Copy, so the per-request
/// path copies it out of the route cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Counted in the label set's series.
    Attributed(LabelSetId),
    /// Counted in `starform_l7_unattributed_requests_total{reason}`.
    Unattributed(Unattributed),
    /// Counted in `starform_l7_suppressed_preview_requests_total`.
    SuppressedPreview,
    /// A new label set beyond `max_label_sets`: counted in
    /// `starform_l7_overflow_requests_total`.
    Overflow,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(e: &str) -> Identity {
        Identity {
            project: DnsLabel::parse("acme").unwrap(),
            environment: DnsLabel::parse(e).unwrap(),
            service: DnsLabel::parse("api").unwrap(),
        }
    }

    fn rule(json: &str) -> PreviewRule {
        PreviewRule::new(&Config::parse(json.as_bytes()).unwrap())
    }

    /// Asserts `rule` counts environment `env` as environment `counted`, in
    /// unmarked series.
    fn assert_counts(rule: &PreviewRule, env: &str, counted: &str) {
        assert_eq!(
            rule.decide(identity(env)),
            Decision::Count(identity(counted), Retention::Standard),
            "{env}"
        );
    }

    #[test]
    fn aggregate_is_the_default() {
        let r = rule("{}");
        assert_counts(&r, "pr-123", "preview");
        assert_counts(&r, "preview-feat-x", "preview");
        assert_counts(&r, "prod", "prod");
        // Near misses of the default pattern are ordinary environments.
        for env in ["pr", "pr123", "preprod", "xpr-1"] {
            assert_counts(&r, env, env);
        }
    }

    #[test]
    fn aggregate_uses_the_configured_environment() {
        let r = rule(r#"{"preview_environment":"review"}"#);
        assert_counts(&r, "pr-9", "review");
    }

    #[test]
    fn full_keeps_the_preview_name() {
        let r = rule(r#"{"preview_policy":"full"}"#);
        assert_counts(&r, "pr-123", "pr-123");
        assert_counts(&r, "prod", "prod");
    }

    #[test]
    fn suppress_drops_previews_only() {
        let r = rule(r#"{"preview_policy":"suppress"}"#);
        assert_eq!(r.decide(identity("pr-123")), Decision::Suppress);
        assert_counts(&r, "prod", "prod");
    }

    #[test]
    fn short_retention_keeps_the_preview_name_and_marks_previews_only() {
        let r = rule(r#"{"preview_policy":"short_retention"}"#);
        for env in ["pr-123", "preview-feat-x"] {
            assert_eq!(
                r.decide(identity(env)),
                Decision::Count(identity(env), Retention::Short),
                "{env}"
            );
        }
        for env in ["prod", "pr", "preprod", "preview"] {
            assert_counts(&r, env, env);
        }
        // `preview_environment` is the aggregate's name only.
        let r = rule(r#"{"preview_policy":"short_retention","preview_environment":"review"}"#);
        assert_eq!(
            r.decide(identity("pr-9")),
            Decision::Count(identity("pr-9"), Retention::Short)
        );
    }

    #[test]
    fn only_short_retention_marks_anything() {
        assert_eq!(Retention::Standard.tag(), None);
        assert_eq!(Retention::Short.tag(), Some(("retention", "short")));
        for policy in PreviewPolicy::ALL {
            let r = rule(&format!(r#"{{"preview_policy":"{}"}}"#, policy.as_str()));
            let marked = matches!(
                r.decide(identity("pr-1")),
                Decision::Count(_, Retention::Short)
            );
            assert_eq!(
                marked,
                policy == PreviewPolicy::ShortRetention,
                "{policy:?}"
            );
            assert_counts(&r, "prod", "prod");
        }
    }

    #[test]
    fn custom_preview_pattern() {
        let r = rule(r#"{"preview_pattern":"^review-[0-9]+$","preview_policy":"suppress"}"#);
        assert_eq!(r.decide(identity("review-7")), Decision::Suppress);
        assert_counts(&r, "pr-7", "pr-7");
        let r = rule(r#"{"preview_pattern":"^review-[0-9]+$","preview_policy":"short_retention"}"#);
        assert_eq!(
            r.decide(identity("review-7")),
            Decision::Count(identity("review-7"), Retention::Short)
        );
        assert_counts(&r, "pr-7", "pr-7");
    }
}
