//! A clock the caller controls, shared by `proxy_get_current_time_nanoseconds`
//! and the module's WASI clocks so a run is reproducible.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

/// Nanoseconds since the Unix epoch. Clones share the same time: one
/// belongs to the host state, one to the WASI context of the same store.
#[derive(Debug, Clone, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    pub fn new(unix_nanos: u64) -> Self {
        Self(Arc::new(AtomicU64::new(unix_nanos)))
    }

    pub fn now_nanos(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set_nanos(&self, unix_nanos: u64) {
        self.0.store(unix_nanos, Ordering::Relaxed);
    }

    pub fn advance(&self, by: Duration) {
        let step = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.set_nanos(self.now_nanos().saturating_add(step));
    }
}

impl HostWallClock for Clock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.now_nanos())
    }
}

impl HostMonotonicClock for Clock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.now_nanos()
    }
}
