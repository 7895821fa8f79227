//! What an attributed identity is counted as: the preview policy, and the
//! outcome a route name resolves to (cached per route name).

use regex_lite::Regex;
use starform_labels::{DnsLabel, Identity};

use crate::config::{Config, PreviewPolicy};
use crate::registry::LabelSetId;
use crate::route::Unattributed;

/// How an identity is counted once the preview policy has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Counted under this label set.
    Count(Identity),
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
            return Decision::Count(identity);
        }
        match self.policy {
            PreviewPolicy::Full => Decision::Count(identity),
            PreviewPolicy::Aggregate => {
                identity.environment = self.aggregate_as.clone();
                Decision::Count(identity)
            }
            PreviewPolicy::Suppress => Decision::Suppress,
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

    /// Asserts `rule` counts environment `env` as environment `counted`.
    fn assert_counts(rule: &PreviewRule, env: &str, counted: &str) {
        assert_eq!(
            rule.decide(identity(env)),
            Decision::Count(identity(counted)),
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
    fn custom_preview_pattern() {
        let r = rule(r#"{"preview_pattern":"^review-[0-9]+$","preview_policy":"suppress"}"#);
        assert_eq!(r.decide(identity("review-7")), Decision::Suppress);
        assert_counts(&r, "pr-7", "pr-7");
    }
}
