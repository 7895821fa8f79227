//! Properties (`proxy_get_property` / `proxy_set_property`): a path of
//! segments, NUL-joined on the wire, mapped to raw bytes encoded the way
//! Envoy serialises CEL values (strings raw, integers/durations/timestamps
//! as 8-byte little-endian, booleans as one byte).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Well-known Envoy attribute paths the host sets for each request.
pub mod paths {
    /// The matched route's name (string); absent when no route matched.
    pub const ROUTE_NAME: &str = "xds.route_name";
    /// Response status code (int64).
    pub const RESPONSE_CODE: &str = "response.code";
    /// Request duration (duration: int64 nanoseconds).
    pub const REQUEST_DURATION: &str = "request.duration";
    /// Request size, headers included (int64).
    pub const REQUEST_TOTAL_SIZE: &str = "request.total_size";
    /// Response size, headers included (int64).
    pub const RESPONSE_TOTAL_SIZE: &str = "response.total_size";
}

/// A property path. Built from segments; `"a.b"` via [`PropertyPath::dotted`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PropertyPath(Vec<u8>);

impl PropertyPath {
    pub fn from_segments<S: AsRef<[u8]>>(segments: impl IntoIterator<Item = S>) -> Self {
        let mut raw = Vec::new();
        for (i, segment) in segments.into_iter().enumerate() {
            if i > 0 {
                raw.push(0);
            }
            raw.extend_from_slice(segment.as_ref());
        }
        Self(raw)
    }

    /// `"xds.route_name"` → segments `xds`, `route_name`.
    pub fn dotted(path: &str) -> Self {
        Self::from_segments(path.split('.'))
    }

    /// The path exactly as a guest passed it.
    pub fn from_abi(raw: &[u8]) -> Self {
        Self(raw.to_vec())
    }

    pub fn as_abi(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for PropertyPath {
    fn from(path: &str) -> Self {
        Self::dotted(path)
    }
}

impl fmt::Display for PropertyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<u8> = self
            .0
            .iter()
            .map(|&b| if b == 0 { b'.' } else { b })
            .collect();
        f.write_str(&String::from_utf8_lossy(&shown))
    }
}

/// Property values keyed by path.
#[derive(Debug, Clone, Default)]
pub struct Properties(BTreeMap<PropertyPath, Vec<u8>>);

impl Properties {
    pub fn get(&self, path: &PropertyPath) -> Option<&[u8]> {
        self.0.get(path).map(Vec::as_slice)
    }

    pub fn set(&mut self, path: PropertyPath, value: Vec<u8>) {
        self.0.insert(path, value);
    }
}

/// Encoders for property values in Envoy's wire form.
pub mod value {
    use super::Duration;

    pub fn int64(v: i64) -> Vec<u8> {
        v.to_le_bytes().to_vec()
    }

    pub fn uint64(v: u64) -> Vec<u8> {
        v.to_le_bytes().to_vec()
    }

    /// Durations are int64 nanoseconds (saturating).
    pub fn duration(d: Duration) -> Vec<u8> {
        int64(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    pub fn boolean(v: bool) -> Vec<u8> {
        vec![u8::from(v)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_nul_joined() {
        assert_eq!(
            PropertyPath::dotted("xds.route_name").as_abi(),
            b"xds\0route_name"
        );
        assert_eq!(PropertyPath::from_segments(["a"]).as_abi(), b"a");
        assert_eq!(
            PropertyPath::from_abi(b"response\0code"),
            PropertyPath::from(paths::RESPONSE_CODE)
        );
        assert_eq!(
            PropertyPath::dotted("request.duration").to_string(),
            "request.duration"
        );
    }

    #[test]
    fn values_use_envoy_encoding() {
        assert_eq!(value::int64(503), vec![0xf7, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            value::duration(Duration::from_millis(2)),
            value::int64(2_000_000)
        );
        assert_eq!(value::boolean(true), vec![1]);
    }
}
