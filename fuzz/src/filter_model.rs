//! What the filter must count a sequence of route names as, under the
//! default patterns, a preview policy and `max_label_sets`.

use crate::contract::{is_preview, route_verdict, RouteVerdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Aggregate,
    Full,
    Suppress,
    ShortRetention,
}

impl Policy {
    pub const ALL: [Policy; 4] = [
        Policy::Aggregate,
        Policy::Full,
        Policy::Suppress,
        Policy::ShortRetention,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Aggregate => "aggregate",
            Policy::Full => "full",
            Policy::Suppress => "suppress",
            Policy::ShortRetention => "short_retention",
        }
    }
}

/// How one request must be counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    Unattributed(&'static str),
    Suppressed,
    Overflow,
    /// Index into [`Model::sets`].
    Set(usize),
}

/// The label sets a VM has given series to, in order of first use.
#[derive(Debug)]
pub struct Model {
    policy: Policy,
    limit: usize,
    pub sets: Vec<[String; 3]>,
}

impl Model {
    pub fn new(policy: Policy, max_label_sets: usize) -> Self {
        Model {
            policy,
            limit: max_label_sets,
            sets: Vec::new(),
        }
    }

    /// Whether a label set's series carry `retention="short"`: previews
    /// under `short_retention`, nothing else.
    pub fn marked(&self, environment: &str) -> bool {
        self.policy == Policy::ShortRetention && is_preview(environment)
    }

    pub fn count(&mut self, route_name: Option<&[u8]>) -> Counted {
        let [project, mut environment, service] = match route_verdict(route_name) {
            RouteVerdict::Unattributed(reason) => return Counted::Unattributed(reason),
            RouteVerdict::Identity(parts) => parts,
        };
        if is_preview(&environment) {
            match self.policy {
                Policy::Full | Policy::ShortRetention => {}
                Policy::Aggregate => environment = "preview".to_owned(),
                Policy::Suppress => return Counted::Suppressed,
            }
        }
        let set = [project, environment, service];
        if let Some(i) = self.sets.iter().position(|s| *s == set) {
            return Counted::Set(i);
        }
        if self.sets.len() >= self.limit {
            return Counted::Overflow;
        }
        self.sets.push(set);
        Counted::Set(self.sets.len() - 1)
    }
}
