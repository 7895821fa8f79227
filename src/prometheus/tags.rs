//! Envoy-style tag extraction (`stats_config.stats_tags`) for the filter's
//! metric names, which carry their labels inline as `<tag>=.=<value>;.;`.
//!
//! For each specifier, Envoy searches the full stat name with the regex; the
//! first capture group is cut out of the name and the second is the tag
//! value. All regexes run on the original name; the cuts are applied
//! together. [`STATS_TAGS`] (the filter crate's table) is the one list the
//! filter, this host, the docs and the Envoy bootstrap agree on.

use std::sync::OnceLock;

use regex::Regex;

/// The project's `stats_tags` as `(tag name, regex)`, in label order
/// (`project` first: it is the tenant key). Owned by the filter, which
/// writes the names these regexes take apart.
pub use starform_envoy_filter::names::STATS_TAGS;

/// A stat name split into its tag-extracted name and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    pub name: String,
    /// `(tag name, value)` in table order.
    pub tags: Vec<(&'static str, String)>,
}

/// Compiled tag specifiers.
#[derive(Debug)]
pub struct TagExtractor {
    specs: Vec<(&'static str, Regex)>,
}

impl TagExtractor {
    pub fn new(specs: &[(&'static str, &str)]) -> Result<Self, regex::Error> {
        let specs = specs
            .iter()
            .map(|(name, regex)| Regex::new(regex).map(|re| (*name, re)))
            .collect::<Result<_, _>>()?;
        Ok(Self { specs })
    }

    /// [`STATS_TAGS`], compiled once. The table is constant and a unit test
    /// compiles it, so the error arm is unreachable in practice; it degrades
    /// to no extraction rather than a panic.
    pub fn standard() -> &'static Self {
        static STANDARD: OnceLock<TagExtractor> = OnceLock::new();
        STANDARD.get_or_init(|| Self::new(&STATS_TAGS).unwrap_or(Self { specs: Vec::new() }))
    }

    pub fn extract(&self, name: &str) -> Extracted {
        let mut cut = vec![false; name.len()];
        let mut tags = Vec::new();
        for (tag, re) in &self.specs {
            let Some(caps) = re.captures(name) else {
                continue;
            };
            let (Some(remove), Some(value)) = (caps.get(1), caps.get(2)) else {
                continue;
            };
            for flag in cut.get_mut(remove.range()).into_iter().flatten() {
                *flag = true;
            }
            tags.push((*tag, value.as_str().to_owned()));
        }
        let name = name
            .char_indices()
            .filter(|(i, _)| !cut.get(*i).copied().unwrap_or(false))
            .map(|(_, c)| c)
            .collect();
        Extracted { name, tags }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_table_compiles() {
        assert_eq!(
            TagExtractor::new(&STATS_TAGS).unwrap().specs.len(),
            STATS_TAGS.len()
        );
        assert_eq!(TagExtractor::standard().specs.len(), STATS_TAGS.len());
    }

    #[test]
    fn extracts_all_identity_tags_in_table_order() {
        let e = TagExtractor::standard().extract(
            "wasmcustom.starform_http_requests_total_project=.=acme;.;environment=.=prod;.;service=.=web;.;code_class=.=2xx;.;",
        );
        assert_eq!(e.name, "wasmcustom.starform_http_requests_total");
        assert_eq!(
            e.tags,
            vec![
                ("project", "acme".to_owned()),
                ("environment", "prod".to_owned()),
                ("service", "web".to_owned()),
                ("code_class", "2xx".to_owned()),
            ]
        );
    }

    #[test]
    fn extracts_reason_and_leaves_plain_names() {
        let e = TagExtractor::standard()
            .extract("wasmcustom.starform_l7_unattributed_requests_total_reason=.=no_route;.;");
        assert_eq!(e.name, "wasmcustom.starform_l7_unattributed_requests_total");
        assert_eq!(e.tags, vec![("reason", "no_route".to_owned())]);
        let plain =
            TagExtractor::standard().extract("wasmcustom.starform_l7_overflow_requests_total");
        assert_eq!(plain.name, "wasmcustom.starform_l7_overflow_requests_total");
        assert!(plain.tags.is_empty());
    }

    #[test]
    fn values_are_taken_lazily_up_to_the_first_terminator() {
        let e =
            TagExtractor::standard().extract("m_project=.=a;.;environment=.=b;.;service=.=c;.;x");
        assert_eq!(e.name, "mx");
        assert_eq!(
            e.tags.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
    }
}
