//! Label sets and their metric ids, bounded by `max_label_sets`.
//!
//! Nothing is ever evicted: a label set's series live as long as the VM, and
//! Envoy sums same-named metrics across VMs, so the bound is per worker.

use hashbrown::HashMap;
use starform_labels::Identity;

use crate::metrics::Slot;
use crate::names;
use crate::request::CodeClass;

/// Index of a label set in its [`Registry`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LabelSetId(u32);

/// One (project, environment, service) and its metric slots.
#[derive(Debug)]
pub struct LabelSet {
    pub identity: Identity,
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
    fn new(identity: Identity) -> Self {
        LabelSet {
            identity,
            requests: [Slot::Undefined; CodeClass::ALL.len()],
            duration: Slot::Undefined,
            request_bytes: Slot::Undefined,
            response_bytes: Slot::Undefined,
            pending: Pending::default(),
        }
    }

    fn tags(identity: &Identity) -> [(&'static str, &str); 3] {
        [
            ("project", identity.project.as_str()),
            ("environment", identity.environment.as_str()),
            ("service", identity.service.as_str()),
        ]
    }

    pub fn requests_name(identity: &Identity, class: CodeClass) -> String {
        let [p, e, s] = Self::tags(identity);
        names::tagged(
            names::REQUESTS_TOTAL,
            &[p, e, s, ("code_class", class.as_str())],
        )
    }

    pub fn name(identity: &Identity, base: &str) -> String {
        names::tagged(base, &Self::tags(identity))
    }
}

/// The label sets one VM has seen.
#[derive(Debug)]
pub struct Registry {
    limit: usize,
    index: HashMap<Identity, LabelSetId>,
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

    /// The id of `identity`'s label set, adding it while there is room.
    /// `None`: it is new and the registry is full (overflow).
    pub fn get_or_insert(&mut self, identity: Identity) -> Option<LabelSetId> {
        if let Some(id) = self.index.get(&identity) {
            return Some(*id);
        }
        if self.sets.len() >= self.limit {
            return None;
        }
        let id = LabelSetId(u32::try_from(self.sets.len()).ok()?);
        self.index.insert(identity.clone(), id);
        self.sets.push(LabelSet::new(identity));
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
        let a = r.get_or_insert(id("a")).unwrap();
        let b = r.get_or_insert(id("b")).unwrap();
        assert_ne!(a, b);
        assert_eq!(r.get_or_insert(id("c")), None);
        assert_eq!(r.get_or_insert(id("a")), Some(a));
        assert_eq!(r.get_or_insert(id("b")), Some(b));
        assert_eq!(r.len(), 2);
        assert_eq!(r.get_mut(a).unwrap().identity, id("a"));
    }
}
