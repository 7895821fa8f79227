use std::fmt;
use std::str::FromStr;

/// Longest DNS-1123 label (RFC 1123 §2.1, as Kubernetes enforces it).
pub const MAX_LABEL_LEN: usize = 63;

/// Why a string is not a DNS-1123 label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidLabel {
    #[error("empty")]
    Empty,
    #[error("longer than {MAX_LABEL_LEN} characters ({0})")]
    TooLong(usize),
    #[error("character {0:?} is not one of [a-z0-9-]")]
    BadChar(char),
    #[error("must start and end with [a-z0-9]")]
    EdgeHyphen,
}

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, alphanumeric at both ends.
///
/// Constructed only through [`DnsLabel::parse`] (exact) or
/// [`DnsLabel::normalize`] (trim + lowercase, nothing else), so holding one
/// proves validity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsLabel(String);

impl DnsLabel {
    /// Accepts `s` exactly as given.
    pub fn parse(s: &str) -> Result<Self, InvalidLabel> {
        validate(s)?;
        Ok(Self(s.to_owned()))
    }

    /// Trims surrounding whitespace and lowercases, then validates.
    ///
    /// No other rewriting: `my_svc` stays invalid rather than becoming
    /// `my-svc`, because such a rewrite could merge two identities.
    pub fn normalize(s: &str) -> Result<Self, InvalidLabel> {
        let trimmed = s.trim();
        if trimmed.bytes().all(|b| !b.is_ascii_uppercase()) {
            return Self::parse(trimmed);
        }
        // Only ASCII is ever valid, so ASCII lowercasing loses nothing: a
        // non-ASCII character is rejected below either way.
        Self::parse(&trimmed.to_ascii_lowercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// True when `s` is a DNS-1123 label, without allocating: what [`validate`]
/// accepts, checked eight bytes at a time (the log transform asks this of
/// every record's label values, under an interpreter that pays per
/// instruction).
pub fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if bytes.len() > MAX_LABEL_LEN || first == b'-' || last == b'-' {
        return false;
    }
    let mut rest = bytes;
    while let Some((head, tail)) = rest.split_first_chunk::<8>() {
        if !label_word(u64::from_le_bytes(*head)) {
            return false;
        }
        rest = tail;
    }
    // The last few bytes, padded with a letter.
    let mut padded = [b'a'; 8];
    if let Some(start) = padded.get_mut(..rest.len()) {
        start.copy_from_slice(rest);
    }
    label_word(u64::from_le_bytes(padded))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is `c` or above, for a word
/// with no byte of 0x80 or above (no byte carries into the next).
const fn at_least(word: u64, c: u8) -> u64 {
    word.wrapping_add(ONES * (0x80 - c as u64))
}

/// Every byte of `word` is one of `[a-z0-9-]`.
fn label_word(word: u64) -> bool {
    if word & HIGH_BITS != 0 {
        return false;
    }
    let lower = at_least(word, b'a') & !at_least(word, b'z' + 1);
    let digit = at_least(word, b'0') & !at_least(word, b'9' + 1);
    let hyphen = at_least(word, b'-') & !at_least(word, b'-' + 1);
    (lower | digit | hyphen) & HIGH_BITS == HIGH_BITS
}

fn validate(s: &str) -> Result<(), InvalidLabel> {
    let bytes = s.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err(InvalidLabel::Empty);
    };
    // Bytes, not chars: every allowed character is one ASCII byte, and this
    // runs on every log record's labels.
    if let Some(at) = bytes
        .iter()
        .position(|b| !matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
    {
        let c = s.get(at..).and_then(|rest| rest.chars().next());
        return Err(InvalidLabel::BadChar(
            c.unwrap_or(char::REPLACEMENT_CHARACTER),
        ));
    }
    if s.len() > MAX_LABEL_LEN {
        return Err(InvalidLabel::TooLong(s.len()));
    }
    if first == b'-' || last == b'-' {
        return Err(InvalidLabel::EdgeHyphen);
    }
    Ok(())
}

impl FromStr for DnsLabel {
    type Err = InvalidLabel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for DnsLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DnsLabel {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_labels() {
        for s in ["a", "0", "acme", "my-svc", "a1-b2", &"x".repeat(63)] {
            assert_eq!(
                DnsLabel::parse(s).map(|l| l.into_string()),
                Ok(s.to_owned())
            );
        }
    }

    #[test]
    fn rejects_each_invalid_class() {
        assert_eq!(DnsLabel::parse(""), Err(InvalidLabel::Empty));
        assert_eq!(
            DnsLabel::parse(&"x".repeat(64)),
            Err(InvalidLabel::TooLong(64))
        );
        assert_eq!(DnsLabel::parse("my_svc"), Err(InvalidLabel::BadChar('_')));
        assert_eq!(DnsLabel::parse("Acme"), Err(InvalidLabel::BadChar('A')));
        assert_eq!(DnsLabel::parse("a.b"), Err(InvalidLabel::BadChar('.')));
        assert_eq!(DnsLabel::parse("café"), Err(InvalidLabel::BadChar('é')));
        assert_eq!(DnsLabel::parse("-a"), Err(InvalidLabel::EdgeHyphen));
        assert_eq!(DnsLabel::parse("a-"), Err(InvalidLabel::EdgeHyphen));
        assert_eq!(DnsLabel::parse(" a"), Err(InvalidLabel::BadChar(' ')));
    }

    #[test]
    fn normalize_trims_and_lowercases_only() {
        assert_eq!(
            DnsLabel::normalize("  Acme-Prod \t").map(DnsLabel::into_string),
            Ok("acme-prod".into())
        );
        assert_eq!(
            DnsLabel::normalize("my_svc"),
            Err(InvalidLabel::BadChar('_'))
        );
        assert_eq!(DnsLabel::normalize("   "), Err(InvalidLabel::Empty));
        // Unicode case folding must not smuggle in ASCII: 'K' (Kelvin sign) stays invalid.
        assert!(DnsLabel::normalize("\u{212A}ey").is_err());
    }

    #[test]
    fn is_dns_label_agrees_with_parse() {
        for s in ["", "a", "A", "a-", "ok-1", "x_y"] {
            assert_eq!(is_dns_label(s), DnsLabel::parse(s).is_ok(), "{s:?}");
        }
        // Every character in every position of labels one to seventeen
        // bytes long (both sides of each word boundary), and the lengths
        // around the limit.
        let base = "k".repeat(17);
        for len in 1..=17 {
            for at in 0..len {
                for c in (0u8..=0x7f).map(char::from).chain(['é', '\u{80}']) {
                    let mut s: String = base.chars().take(len).collect();
                    s.replace_range(at..=at, c.encode_utf8(&mut [0; 4]));
                    assert_eq!(is_dns_label(&s), DnsLabel::parse(&s).is_ok(), "{s:?}");
                }
            }
        }
        for len in 60..=66 {
            let s = "a".repeat(len);
            assert_eq!(is_dns_label(&s), DnsLabel::parse(&s).is_ok(), "{len}");
        }
    }
}
