//! The candidate label keys of a configuration, numbered: every key rule 4
//! reads, in rule order (the project's candidates, then the environment's,
//! the service's, the build id's), each with the fast scan's fingerprint.
//! The scan matches a label's key against these as it reads the record, so
//! rule 4 then finds a candidate by its number instead of comparing strings.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::scan::{bloom_bit, fingerprint_of};

/// Numbers each [`LabelKeys`] made in this process.
static MADE: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub(crate) struct LabelKeys {
    /// Unique to this list in this process (a clone keeps it: same keys):
    /// the scan's key memo holds label numbers only for the list it
    /// learnt them from.
    id: u64,
    keys: Vec<String>,
    prints: Vec<u64>,
    /// The scan's bloom bits of `prints`: a label whose bit is not among
    /// them is no candidate.
    bloom: u64,
    /// The numbers of canonical key `i`'s candidates are `first[i]..first[i + 1]`.
    first: [usize; 5],
}

impl LabelKeys {
    /// `candidates[i]`: canonical key `i`'s candidate keys in rule order.
    pub(crate) fn new(candidates: &[Vec<String>; 4]) -> Self {
        let mut keys = Vec::new();
        let mut first = [0; 5];
        for (i, list) in candidates.iter().enumerate() {
            if let Some(slot) = first.get_mut(i) {
                *slot = keys.len();
            }
            keys.extend(list.iter().cloned());
        }
        first[4] = keys.len();
        let prints: Vec<u64> = keys.iter().map(|k| fingerprint_of(k.as_bytes())).collect();
        let bloom = prints
            .iter()
            .fold(0, |bits, print| bits | bloom_bit(*print));
        Self {
            id: MADE.fetch_add(1, Ordering::Relaxed) + 1,
            keys,
            prints,
            bloom,
            first,
        }
    }

    /// See the field.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// How many candidate keys there are.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// See the field.
    pub(crate) fn bloom(&self) -> u64 {
        self.bloom
    }

    /// The numbers of canonical key `index`'s candidates, in rule order.
    #[inline(always)]
    pub(crate) fn ids_of(&self, index: usize) -> std::ops::Range<usize> {
        let from = self.first.get(index).copied().unwrap_or_default();
        let to = self.first.get(index + 1).copied().unwrap_or_default();
        from..to.max(from)
    }

    /// Canonical key `index`'s candidates in rule order.
    pub(crate) fn keys_of(&self, index: usize) -> &[String] {
        self.keys.get(self.ids_of(index)).unwrap_or_default()
    }

    /// The number of the first candidate from number `from` on whose
    /// fingerprint is `print` (different keys can share one: the caller
    /// confirms with [`LabelKeys::key`]).
    #[inline(always)]
    pub(crate) fn find_print(&self, print: u64, from: usize) -> Option<usize> {
        let rest = self.prints.get(from..)?;
        rest.iter().position(|p| *p == print).map(|at| from + at)
    }

    /// Candidate key number `id`.
    #[inline(always)]
    pub(crate) fn key(&self, id: usize) -> &str {
        self.keys.get(id).map_or("", String::as_str)
    }

    /// The number of the candidate equal to `key`, for a key the scan had to
    /// decode (it held an escape).
    pub(crate) fn find_decoded(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }
}

/// Two lists are equal when they number the same keys alike.
impl PartialEq for LabelKeys {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys && self.first == other.first
    }
}

impl Eq for LabelKeys {}
