//! The facts of one finished request, as the core consumes them. How they
//! are obtained is the glue's business: the status from the `:status`
//! response header, the duration from the host clock, the sizes from the body
//! callbacks' size arguments (docs/performance.md says why these, and what
//! each costs), gathered only for requests the core attributes.

/// What an attributed request contributes to its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestFacts {
    /// HTTP status sent downstream; `None` when no response started (stream
    /// reset) or the `:status` header was malformed.
    pub response_code: Option<i64>,
    /// From the filter seeing the request (its context created) to the end
    /// of the stream; `None` when the host clock could not be read or went
    /// backwards.
    pub duration_nanos: Option<u64>,
    /// Request body bytes (headers excluded).
    pub request_bytes: u64,
    /// Response body bytes (headers excluded).
    pub response_bytes: u64,
}

/// `code_class` tag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeClass {
    Informational,
    Success,
    Redirection,
    ClientError,
    ServerError,
    /// No response code: 0, absent, or outside 100..=599.
    None,
}

impl CodeClass {
    pub const ALL: [CodeClass; 6] = [
        CodeClass::Informational,
        CodeClass::Success,
        CodeClass::Redirection,
        CodeClass::ClientError,
        CodeClass::ServerError,
        CodeClass::None,
    ];

    pub fn of(code: Option<i64>) -> Self {
        match code {
            Some(100..=199) => CodeClass::Informational,
            Some(200..=299) => CodeClass::Success,
            Some(300..=399) => CodeClass::Redirection,
            Some(400..=499) => CodeClass::ClientError,
            Some(500..=599) => CodeClass::ServerError,
            _ => CodeClass::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CodeClass::Informational => "1xx",
            CodeClass::Success => "2xx",
            CodeClass::Redirection => "3xx",
            CodeClass::ClientError => "4xx",
            CodeClass::ServerError => "5xx",
            CodeClass::None => "none",
        }
    }

    /// Position in [`CodeClass::ALL`].
    pub fn index(self) -> usize {
        match self {
            CodeClass::Informational => 0,
            CodeClass::Success => 1,
            CodeClass::Redirection => 2,
            CodeClass::ClientError => 3,
            CodeClass::ServerError => 4,
            CodeClass::None => 5,
        }
    }
}

/// A `:status` header value: three ASCII digits. Anything else (Envoy
/// never sends it) is malformed.
pub fn parse_status(value: &[u8]) -> Option<i64> {
    match value {
        [a, b, c] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
            Some(i64::from(a - b'0') * 100 + i64::from(b - b'0') * 10 + i64::from(c - b'0'))
        }
        _ => None,
    }
}

/// Whole milliseconds, rounded down (a 0.9 ms request lands in the first
/// bucket, `le="1"`).
pub fn whole_millis(nanos: u64) -> u64 {
    nanos / 1_000_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_classes() {
        let cases: [(&[i64], &str); 6] = [
            (&[100, 199], "1xx"),
            (&[200, 204], "2xx"),
            (&[301], "3xx"),
            (&[404, 499], "4xx"),
            (&[500, 503, 599], "5xx"),
            (&[0, 99, 600, -200, i64::MAX], "none"),
        ];
        for (codes, class) in cases {
            for &code in codes {
                assert_eq!(CodeClass::of(Some(code)).as_str(), class, "{code}");
            }
        }
        assert_eq!(CodeClass::of(None).as_str(), "none");
        for (i, c) in CodeClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn status_values() {
        assert_eq!(parse_status(b"200"), Some(200));
        assert_eq!(parse_status(b"503"), Some(503));
        assert_eq!(parse_status(b"099"), Some(99));
        for bad in [
            &b""[..],
            b"20",
            b"2000",
            b"20x",
            b" 200",
            b"-20",
            b"\xff\xff\xff",
        ] {
            assert_eq!(parse_status(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn millis_round_down() {
        assert_eq!(whole_millis(0), 0);
        assert_eq!(whole_millis(999_999), 0);
        assert_eq!(whole_millis(1_000_000), 1);
        assert_eq!(whole_millis(2_500_000_000), 2500);
    }
}
