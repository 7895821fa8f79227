//! The facts of one finished request, as the core consumes them. How they
//! are obtained (which properties, how many host calls) is the glue's
//! business; the core only says which it needs and when.

/// Source of one request's facts. The core asks for the route name first and
/// for [`RequestFacts`] only when the request is attributed, so unattributed,
/// overflowing and suppressed requests cost one host read.
pub trait FactSource {
    /// The xDS route name (raw bytes), `None` when absent or unreadable.
    fn route_name(&mut self) -> Option<&[u8]>;
    fn request_facts(&mut self) -> RequestFacts;
}

/// What an attributed request contributes to its series. `None` = the host
/// did not say (absent, unreadable or malformed property).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestFacts {
    /// HTTP status sent downstream.
    pub response_code: Option<i64>,
    /// From the first request byte to the last response byte.
    pub duration_nanos: Option<u64>,
    /// Request size including headers.
    pub request_bytes: Option<u64>,
    /// Response size including headers.
    pub response_bytes: Option<u64>,
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

/// Envoy's integer properties (`response.code`, `request.duration`,
/// `*.total_size`): 8 bytes, little-endian. Anything else is malformed.
pub fn decode_i64_le(bytes: &[u8]) -> Option<i64> {
    <[u8; 8]>::try_from(bytes).ok().map(i64::from_le_bytes)
}

/// As [`decode_i64_le`], for quantities that cannot be negative.
pub fn decode_u64_le(bytes: &[u8]) -> Option<u64> {
    decode_i64_le(bytes).and_then(|v| u64::try_from(v).ok())
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
        let cases = [
            (Some(100), "1xx"),
            (Some(199), "1xx"),
            (Some(200), "2xx"),
            (Some(204), "2xx"),
            (Some(301), "3xx"),
            (Some(404), "4xx"),
            (Some(499), "4xx"),
            (Some(500), "5xx"),
            (Some(503), "5xx"),
            (Some(599), "5xx"),
            (Some(0), "none"),
            (Some(99), "none"),
            (Some(600), "none"),
            (Some(-200), "none"),
            (Some(i64::MAX), "none"),
            (None, "none"),
        ];
        for (code, class) in cases {
            assert_eq!(CodeClass::of(code).as_str(), class, "{code:?}");
        }
        for (i, c) in CodeClass::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn integer_properties() {
        assert_eq!(decode_i64_le(&200i64.to_le_bytes()), Some(200));
        assert_eq!(decode_i64_le(&(-1i64).to_le_bytes()), Some(-1));
        assert_eq!(decode_u64_le(&(-1i64).to_le_bytes()), None);
        assert_eq!(decode_u64_le(&1_500_000i64.to_le_bytes()), Some(1_500_000));
        // Wrong widths (e.g. a 4-byte value or a string) are malformed.
        assert_eq!(decode_i64_le(&200i32.to_le_bytes()), None);
        assert_eq!(decode_i64_le(b"200"), None);
        assert_eq!(decode_i64_le(&[]), None);
    }

    #[test]
    fn millis_round_down() {
        assert_eq!(whole_millis(0), 0);
        assert_eq!(whole_millis(999_999), 0);
        assert_eq!(whole_millis(1_000_000), 1);
        assert_eq!(whole_millis(2_500_000_000), 2500);
    }
}
