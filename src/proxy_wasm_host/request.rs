//! One simulated HTTP request through a filter, and what came of it.

use std::time::Duration;

use super::abi::{Action, StreamType};
use super::headers::HeaderMap;
use super::properties::PropertyPath;
use super::state::LocalResponse;

/// A request the host drives through a full HTTP context lifecycle.
///
/// The host sets, as Envoy would: `xds.route_name` (when `route_name` is
/// `Some`) from the start; `response.code` and a `:status` response header
/// (unless given) once the response starts (only when `status` is `Some`;
/// `None` simulates a stream reset before any response); and
/// `request.duration`, `request.total_size`, `response.total_size` before
/// `proxy_on_log`. `properties` are set from the start and override those.
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
    /// `request.total_size` (headers and body, as Envoy counts it).
    pub request_bytes: u64,
    /// `response.total_size`.
    pub response_bytes: u64,
    pub properties: Vec<(PropertyPath, Vec<u8>)>,
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

    pub fn bytes(mut self, request_bytes: u64, response_bytes: u64) -> Self {
        self.request_bytes = request_bytes;
        self.response_bytes = response_bytes;
        self
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
    pub local_response: Option<LocalResponse>,
    pub continued: Vec<StreamType>,
    pub closed: Vec<StreamType>,
}
