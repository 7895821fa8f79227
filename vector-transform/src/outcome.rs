//! What the rules decided about one record.

use std::borrow::Cow;

/// A quarantine reason code, as written in `starform_quarantine.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    MissingLabel,
    InvalidValue,
    Conflict,
    NamespaceMismatch,
    Malformed,
    TooLarge,
    /// Only from the wasm module when it found a configuration file it could
    /// not use (see the README): it fails closed rather than guess.
    ConfigInvalid,
}

impl Reason {
    /// All reasons, in the order of the rulebook's list (and of [`Counts`]).
    pub const ALL: [Reason; 7] = [
        Reason::MissingLabel,
        Reason::InvalidValue,
        Reason::Conflict,
        Reason::NamespaceMismatch,
        Reason::Malformed,
        Reason::TooLarge,
        Reason::ConfigInvalid,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::MissingLabel => "missing_label",
            Reason::InvalidValue => "invalid_value",
            Reason::Conflict => "conflict",
            Reason::NamespaceMismatch => "namespace_mismatch",
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::ConfigInvalid => "config_invalid",
        }
    }

    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    fn index(self) -> usize {
        match self {
            Reason::MissingLabel => 0,
            Reason::InvalidValue => 1,
            Reason::Conflict => 2,
            Reason::NamespaceMismatch => 3,
            Reason::Malformed => 4,
            Reason::TooLarge => 5,
            Reason::ConfigInvalid => 6,
        }
    }
}

/// Why a record was quarantined, and which label key or field path caused it
/// (`None` for `malformed` and `too_large`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub reason: Reason,
    /// Borrowed for the keys and paths the rules know by name, so that the
    /// common verdicts allocate nothing.
    pub key: Option<Cow<'static, str>>,
}

impl Quarantine {
    pub fn new(reason: Reason, key: impl Into<Cow<'static, str>>) -> Self {
        Self {
            reason,
            key: Some(key.into()),
        }
    }

    pub fn keyless(reason: Reason) -> Self {
        Self { reason, key: None }
    }
}

/// Whether a record was accepted (`None`) or quarantined, and why.
pub type Outcome = Option<Reason>;

/// Records seen: accepted, then one count per [`Reason::ALL`] entry.
///
/// The wasm module hands these to a host as [`Counts::WORDS`] little-endian
/// `u64`s (`starform_counts`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub accepted: u64,
    pub quarantined: [u64; 7],
}

impl Counts {
    /// Number of `u64` words in the layout the module exports.
    pub const WORDS: usize = 8;

    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            None => self.accepted = self.accepted.wrapping_add(1),
            Some(reason) => {
                if let Some(n) = self.quarantined.get_mut(reason.index()) {
                    *n = n.wrapping_add(1);
                }
            }
        }
    }

    pub fn quarantined(&self, reason: Reason) -> u64 {
        self.quarantined.get(reason.index()).copied().unwrap_or(0)
    }

    pub fn total_quarantined(&self) -> u64 {
        self.quarantined.iter().fold(0, |a, b| a.wrapping_add(*b))
    }

    /// The layout read back by a host: `[accepted, missing_label, …, too_large]`.
    pub fn from_words(words: [u64; Self::WORDS]) -> Self {
        let [accepted, a, b, c, d, e, f, g] = words;
        Self {
            accepted,
            quarantined: [a, b, c, d, e, f, g],
        }
    }

    /// The inverse of [`Counts::from_words`].
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        let [a, b, c, d, e, f, g] = self.quarantined;
        [self.accepted, a, b, c, d, e, f, g]
    }

    /// `accepted N, quarantined M (reason: n, …)`, reasons with n > 0 only.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "accepted {}, quarantined {}",
            self.accepted,
            self.total_quarantined()
        );
        let parts: Vec<String> = Reason::ALL
            .into_iter()
            .filter(|r| self.quarantined(*r) > 0)
            .map(|r| format!("{}: {}", r.code(), self.quarantined(r)))
            .collect();
        if !parts.is_empty() {
            s.push_str(" (");
            s.push_str(&parts.join(", "));
            s.push(')');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::from_code(r.code()), Some(r));
        }
        assert_eq!(Reason::from_code("nope"), None);
    }

    #[test]
    fn counts_and_summary() {
        let mut c = Counts::default();
        c.record(None);
        c.record(Some(Reason::Malformed));
        c.record(Some(Reason::Malformed));
        c.record(Some(Reason::TooLarge));
        assert_eq!(c.accepted, 1);
        assert_eq!(c.total_quarantined(), 3);
        assert_eq!(
            c.summary(),
            "accepted 1, quarantined 3 (malformed: 2, too_large: 1)"
        );
        assert_eq!(Counts::default().summary(), "accepted 0, quarantined 0");
        assert_eq!(Counts::from_words([1, 0, 0, 0, 0, 2, 1, 0]), c);
        assert_eq!(Counts::from_words(c.to_words()), c);
    }
}
