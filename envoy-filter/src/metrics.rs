//! The metric capability the core needs from its host, and a lazily defined
//! metric id.

/// proxy-wasm metric types the filter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Histogram,
}

/// A host call failed; the proxy-wasm status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("host returned status {0}")]
pub struct SinkError(pub u32);

/// Where metrics go: proxy-wasm's `define_metric` / `increment_metric` /
/// `record_metric` in Envoy, a fake in tests.
pub trait MetricSink {
    fn define(&mut self, kind: MetricKind, name: &str) -> Result<u32, SinkError>;
    /// `offset` is never 0 (Envoy rejects non-positive offsets).
    fn increment(&mut self, id: u32, offset: u64) -> Result<(), SinkError>;
    fn record(&mut self, id: u32, value: u64) -> Result<(), SinkError>;
}

/// A metric id, defined the first time it is used so that series exist only
/// for what happened. Metric ids are per VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Slot {
    #[default]
    Undefined,
    Defined(u32),
    /// The host refused to define it; not retried, so a broken host costs no
    /// name formatting per request.
    Failed,
}

/// Counts what the host refused, for the glue to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SinkErrors {
    pub count: u64,
    pub last: Option<SinkError>,
}

impl SinkErrors {
    fn note(&mut self, e: SinkError) {
        self.count = self.count.saturating_add(1);
        self.last = Some(e);
    }
}

impl Slot {
    fn id<S: MetricSink>(
        &mut self,
        sink: &mut S,
        kind: MetricKind,
        name: impl FnOnce() -> String,
        errors: &mut SinkErrors,
    ) -> Option<u32> {
        match *self {
            Slot::Defined(id) => Some(id),
            Slot::Failed => None,
            Slot::Undefined => match sink.define(kind, &name()) {
                Ok(id) => {
                    *self = Slot::Defined(id);
                    Some(id)
                }
                Err(e) => {
                    errors.note(e);
                    *self = Slot::Failed;
                    None
                }
            },
        }
    }

    /// Adds `by` to the counter, defining it first if needed. 0 is skipped:
    /// Envoy rejects it, and a series that never moved need not exist.
    pub fn add<S: MetricSink>(
        &mut self,
        sink: &mut S,
        by: u64,
        name: impl FnOnce() -> String,
        errors: &mut SinkErrors,
    ) {
        if by == 0 {
            return;
        }
        if let Some(id) = self.id(sink, MetricKind::Counter, name, errors) {
            if let Err(e) = sink.increment(id, by) {
                errors.note(e);
            }
        }
    }

    /// Records `value` into the histogram, defining it first if needed.
    pub fn record<S: MetricSink>(
        &mut self,
        sink: &mut S,
        value: u64,
        name: impl FnOnce() -> String,
        errors: &mut SinkErrors,
    ) {
        if let Some(id) = self.id(sink, MetricKind::Histogram, name, errors) {
            if let Err(e) = sink.record(id, value) {
                errors.note(e);
            }
        }
    }
}
