//! Label sets and their metric ids, bounded by `max_label_sets`.
//!
//! Nothing is ever evicted: a label set's series live as long as the VM, and
//! Envoy sums same-named metrics across VMs, so the bound is per worker.

use hashbrown::HashMap;
use starform_labels::Identity;

use crate::metrics::Slot;
use crate::names;
use crate::policy::Retention;
use crate::request::CodeClass;

/// Index of a label set in its [`Registry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelSetId(u32);

/// One (project, environment, service), the store its series are marked
/// for, and its metric slots.
#[derive(Debug)]
pub struct LabelSet {
    pub identity: Identity,
    pub retention: Retention,
    pub requests: [Slot; CodeClass::ALL.len()],
    pub duration: Slot,
    pub request_bytes: Slot,
    pub response_bytes: Slot,
    /// Counted in VM memory since the last flush.
    pub pending: Pending,
}

/// A label set's counter increments not yet handed to the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pending {
    pub requests: [u64; CodeClass::ALL.len()],
    pub request_bytes: u64,
    pub response_bytes: u64,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        *self == Pending::default()
    }
}

impl LabelSet {
    fn new(identity: Identity, retention: Retention) -> Self {
        LabelSet {
            identity,
            retention,
            requests: [Slot::Undefined; CodeClass::ALL.len()],
            duration: Slot::Undefined,
            request_bytes: Slot::Undefined,
            response_bytes: Slot::Undefined,
            pending: Pending::default(),
        }
    }

    /// The tags of `base`'s series: the identity, `code_class` when given,
    /// and the retention mark last.
    fn tagged(
        identity: &Identity,
        retention: Retention,
        base: &str,
        class: Option<CodeClass>,
    ) -> String {
        let mut tags = Vec::with_capacity(5);
        tags.extend([
            ("project", identity.project.as_str()),
            ("environment", identity.environment.as_str()),
            ("service", identity.service.as_str()),
        ]);
        tags.extend(class.map(|class| ("code_class", class.as_str())));
        tags.extend(retention.tag());
        names::tagged(base, &tags)
    }

    pub fn requests_name(identity: &Identity, retention: Retention, class: CodeClass) -> String {
        Self::tagged(identity, retention, names::REQUESTS_TOTAL, Some(class))
    }

    pub fn name(identity: &Identity, retention: Retention, base: &str) -> String {
        Self::tagged(identity, retention, base, None)
    }
}

/// The label sets one VM has seen.
#[derive(Debug)]
pub struct Registry {
    limit: usize,
    index: HashMap<(Identity, Retention), LabelSetId>,
    sets: Vec<LabelSet>,
}

impl Registry {
    pub fn new(limit: usize) -> Self {
        Registry {
            limit,
            index: HashMap::new(),
            sets: Vec::new(),
        }
    }

    /// The id of the label set of `identity` marked for `retention`,
    /// adding it while there is room. `None`: it is new and the registry is
    /// full (overflow).
    pub fn get_or_insert(
        &mut self,
        identity: Identity,
        retention: Retention,
    ) -> Option<LabelSetId> {
        let key = (identity, retention);
        if let Some(id) = self.index.get(&key) {
            return Some(*id);
        }
        if self.sets.len() >= self.limit {
            return None;
        }
        let id = LabelSetId(u32::try_from(self.sets.len()).ok()?);
        self.sets.push(LabelSet::new(key.0.clone(), retention));
        self.index.insert(key, id);
        Some(id)
    }

    pub fn get(&self, id: LabelSetId) -> Option<&LabelSet> {
        self.sets.get(usize::try_from(id.0).ok()?)
    }

    pub fn get_mut(&mut self, id: LabelSetId) -> Option<&mut LabelSet> {
        self.sets.get_mut(usize::try_from(id.0).ok()?)
    }

    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use starform_labels::DnsLabel;

    fn id(p: &str) -> Identity {
        Identity {
            project: DnsLabel::parse(p).unwrap(),
            environment: DnsLabel::parse("prod").unwrap(),
            service: DnsLabel::parse("api").unwrap(),
        }
    }

    #[test]
    fn bounded_and_stable() {
        let mut r = Registry::new(2);
        let a = r.get_or_insert(id("a"), Retention::Standard).unwrap();
        let b = r.get_or_insert(id("b"), Retention::Standard).unwrap();
        assert_ne!(a, b);
        assert_eq!(r.get_or_insert(id("c"), Retention::Standard), None);
        assert_eq!(r.get_or_insert(id("a"), Retention::Standard), Some(a));
        assert_eq!(r.get_or_insert(id("b"), Retention::Standard), Some(b));
        assert_eq!(r.len(), 2);
        assert_eq!(r.get_mut(a).unwrap().identity, id("a"));
    }

    #[test]
    fn a_marked_label_set_is_its_own() {
        let mut r = Registry::new(3);
        let a = r.get_or_insert(id("a"), Retention::Standard).unwrap();
        let short = r.get_or_insert(id("a"), Retention::Short).unwrap();
        assert_ne!(a, short);
        assert_eq!(r.get_or_insert(id("a"), Retention::Short), Some(short));
        assert_eq!(r.get_mut(short).unwrap().retention, Retention::Short);
        assert_eq!(r.get_mut(a).unwrap().retention, Retention::Standard);
    }

    /// The mark goes last, after the identity and the code class: a marked
    /// name is the unmarked one with the mark appended.
    #[test]
    fn names_carry_the_mark_last() {
        let acme = id("acme");
        for class in CodeClass::ALL {
            let plain = LabelSet::requests_name(&acme, Retention::Standard, class);
            assert_eq!(
                plain,
                format!(
                    "starform_http_requests_total_project=.=acme;.;environment=.=prod;.;service=.=api;.;code_class=.={};.;",
                    class.as_str()
                )
            );
            assert_eq!(
                LabelSet::requests_name(&acme, Retention::Short, class),
                format!("{plain}retention=.=short;.;")
            );
        }
        let plain = LabelSet::name(&acme, Retention::Standard, names::REQUEST_DURATION_MS);
        assert_eq!(
            plain,
            "starform_http_request_duration_milliseconds_project=.=acme;.;environment=.=prod;.;service=.=api;.;"
        );
        assert_eq!(
            LabelSet::name(&acme, Retention::Short, names::REQUEST_DURATION_MS),
            format!("{plain}retention=.=short;.;")
        );
    }
}
