//! Bench-only instrumentation (cargo feature `call-counts`, never shipped):
//! counts, per kind, how often the host enters the module for a stream and
//! how often the module calls the host while serving one, and hands the
//! counts to Envoy as counters `starform_calls_<kind>` on the tick. Without
//! the feature every function here is empty and compiles away.
//! `bench/call_counts.py` turns the counters into calls per request.

/// What is counted: a module entry (`Entry*`) or a host call (`Host*`).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "call-counts"), allow(dead_code))]
pub enum Kind {
    EntryContextCreate,
    EntryRequestBody,
    EntryResponseBody,
    EntryLog,
    EntryDone,
    EntryMemoryAllocate,
    HostGetProperty,
    HostGetHeaderMapValue,
    HostGetCurrentTime,
    HostRecordMetric,
    HostIncrementMetric,
    HostDefineMetric,
}

#[cfg(feature = "call-counts")]
mod imp {
    use super::Kind;
    use std::cell::Cell;

    const KINDS: usize = Kind::HostDefineMetric as usize + 1;

    const NAMES: [&str; KINDS] = [
        "entry_context_create",
        "entry_request_body",
        "entry_response_body",
        "entry_log",
        "entry_done",
        "entry_memory_allocate",
        "host_get_property",
        "host_get_header_map_value",
        "host_get_current_time",
        "host_record_metric",
        "host_increment_metric",
        "host_define_metric",
    ];

    thread_local! {
        static PENDING: Cell<[u64; KINDS]> = const { Cell::new([0; KINDS]) };
        static IDS: Cell<[Option<u32>; KINDS]> = const { Cell::new([None; KINDS]) };
        /// Set while a stream callback runs: only those calls are counted.
        static IN_STREAM: Cell<bool> = const { Cell::new(false) };
    }

    pub fn hit(kind: Kind) {
        // Stream callbacks come first in `Kind`, then the allocation
        // callback and the host calls, counted only inside a stream callback.
        let stream_entry = (kind as usize) < Kind::EntryMemoryAllocate as usize;
        if !(stream_entry || IN_STREAM.get()) {
            return;
        }
        PENDING.with(|p| {
            let mut counts = p.get();
            if let Some(n) = counts.get_mut(kind as usize) {
                *n += 1;
            }
            p.set(counts);
        });
    }

    pub fn stream_begin() {
        IN_STREAM.set(true);
    }

    pub fn stream_end() {
        IN_STREAM.set(false);
    }

    /// Hands the counts to the host (from the tick; not counted itself).
    pub fn flush() {
        let counts = PENDING.with(|p| p.replace([0; KINDS]));
        let mut ids = IDS.get();
        for ((name, n), id) in NAMES.iter().zip(counts).zip(ids.iter_mut()) {
            if n == 0 {
                continue;
            }
            if id.is_none() {
                *id = crate::abi::define_metric(
                    crate::abi::MetricType::Counter,
                    &format!("starform_calls_{name}"),
                )
                .ok();
            }
            if let Some(id) = *id {
                let _ = crate::abi::increment_metric(id, i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        IDS.set(ids);
    }
}

#[cfg(not(feature = "call-counts"))]
mod imp {
    use super::Kind;

    #[inline(always)]
    pub fn hit(_: Kind) {}
    #[inline(always)]
    pub fn stream_begin() {}
    #[inline(always)]
    pub fn stream_end() {}
    #[inline(always)]
    pub fn flush() {}
}

pub use imp::{flush, hit, stream_begin, stream_end};

/// Counts a stream callback's entry and its host calls until dropped.
pub struct StreamCall;

impl StreamCall {
    #[inline(always)]
    pub fn enter(kind: Kind) -> Self {
        hit(kind);
        stream_begin();
        StreamCall
    }
}

impl Drop for StreamCall {
    #[inline(always)]
    fn drop(&mut self) {
        stream_end();
    }
}
