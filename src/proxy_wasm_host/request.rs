//! One simulated HTTP request through a filter, and what came of it.

use std::time::Duration;

use super::abi::Action;
use super::headers::HeaderMap;
use super::properties::PropertyPath;

/// A request the host drives through a full HTTP context lifecycle.
///
/// The host sets, as Envoy would: `xds.route_name` (when `route_name` is
/// `Some`) from the start; `response.code` and a `:status` response header
/// (unless given) once the response starts (only when `status` is `Some`;
/// `None` simulates a stream reset before any response); the body callbacks
/// with the bodies' sizes; then it advances the clock by `duration` and sets
/// `request.duration`, `request.total_size`, `response.total_size` (headers
/// and body, as Envoy counts them) before `proxy_on_log`. `properties` are
/// set from the start and override those.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub route_name: Option<Vec<u8>>,
    pub request_headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub request_body: Vec<u8>,
    pub request_trailers: Vec<(Vec<u8>, Vec<u8>)>,
    pub status: Option<u16>,
    pub response_headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub response_body: Vec<u8>,
    pub response_trailers: Vec<(Vec<u8>, Vec<u8>)>,
    pub duration: Duration,
    pub properties: Vec<(PropertyPath, Vec<u8>)>,
}

/// Envoy's approximation of a header block's size: names and values.
fn headers_size(headers: &[(Vec<u8>, Vec<u8>)]) -> u64 {
    headers
        .iter()
        .map(|(k, v)| (k.len() + v.len()) as u64)
        .sum()
}

impl Request {
    /// A request matched to the route named `route_name`, answered 200.
    pub fn to_route(route_name: impl Into<Vec<u8>>) -> Self {
        Self {
            route_name: Some(route_name.into()),
            status: Some(200),
            ..Self::default()
        }
    }

    /// A request no route matched (no `xds.route_name`), answered `status`.
    pub fn unrouted(status: u16) -> Self {
        Self {
            status: Some(status),
            ..Self::default()
        }
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    pub fn no_response(mut self) -> Self {
        self.status = None;
        self
    }

    pub fn duration_ms(mut self, ms: u64) -> Self {
        self.duration = Duration::from_millis(ms);
        self
    }

    /// Bodies of `request_bytes` and `response_bytes` bytes.
    pub fn bytes(mut self, request_bytes: usize, response_bytes: usize) -> Self {
        self.request_body = vec![b'.'; request_bytes];
        self.response_body = vec![b'.'; response_bytes];
        self
    }

    /// `request.total_size`: headers and body.
    pub fn request_total_size(&self) -> u64 {
        headers_size(&self.request_headers) + self.request_body.len() as u64
    }

    /// `response.total_size`: headers and body (`:status` included).
    pub fn response_total_size(&self) -> u64 {
        let status = if self.status.is_some() {
            ":status".len() as u64 + 3
        } else {
            0
        };
        headers_size(&self.response_headers) + status + self.response_body.len() as u64
    }

    pub fn header(mut self, name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        self.request_headers.push((name.into(), value.into()));
        self
    }

    pub fn response_header(mut self, name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        self.response_headers.push((name.into(), value.into()));
        self
    }

    pub fn request_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.request_body = body.into();
        self
    }

    pub fn response_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.response_body = body.into();
        self
    }

    pub fn property(mut self, path: impl Into<PropertyPath>, value: impl Into<Vec<u8>>) -> Self {
        self.properties.push((path.into(), value.into()));
        self
    }
}

/// What the filter did with a [`Request`].
#[derive(Debug, Clone)]
pub struct RequestOutcome {
    pub context_id: u32,
    /// Return value of each HTTP callback that ran, in order.
    pub actions: Vec<(&'static str, Action)>,
    /// `proxy_on_done`'s return value (`None` if not exported).
    pub done: Option<bool>,
    /// Headers as the filter left them.
    pub request_headers: HeaderMap,
    pub response_headers: Option<HeaderMap>,
}
