//! The per-request path allocates nothing after warm-up: a counting global
//! allocator around what the glue runs per request — the route name's
//! outcome, the stream's entry in a map keyed by context id, the record at
//! the end of the stream — and the tick's flush. (The host's answers, the
//! route name and `:status`, land in the module's scratch buffer, not in
//! allocated memory: `envoy-filter/src/abi.rs`.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hashbrown::HashMap;
use starform_envoy_filter::{
    Config, MetricKind, MetricSink, Outcome, Recorder, RequestFacts, SinkError,
};

struct Counting;

thread_local! {
    // Per thread, so that the test harness's other threads do not count.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the slot may already be gone while a thread exits.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is forwarded to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Envoy's side of the metric calls, without allocating.
struct Host {
    defined: u32,
    increments: u64,
    samples: u64,
}

impl MetricSink for Host {
    fn define(&mut self, _kind: MetricKind, _name: &str) -> Result<u32, SinkError> {
        self.defined += 1;
        Ok(self.defined)
    }
    fn increment(&mut self, _id: u32, _offset: u64) -> Result<(), SinkError> {
        self.increments += 1;
        Ok(())
    }
    fn record(&mut self, _id: u32, _value: u64) -> Result<(), SinkError> {
        self.samples += 1;
        Ok(())
    }
}

struct Stream {
    outcome: Outcome,
    facts: RequestFacts,
}

/// What the glue does for one request (`glue.rs`): the outcome at the
/// context creation, the sizes at the body callbacks, the record at the log.
struct Glue {
    recorder: Recorder,
    host: Host,
    streams: HashMap<u32, Stream>,
    next_context_id: u32,
}

impl Glue {
    fn request(&mut self, route: &[u8], code: i64, millis: u64) -> bool {
        self.next_context_id += 1;
        let id = self.next_context_id;
        let outcome = self.recorder.outcome(Some(route));
        self.streams.insert(
            id,
            Stream {
                outcome,
                facts: RequestFacts::default(),
            },
        );
        if let Some(stream) = self.streams.get_mut(&id) {
            stream.facts.request_bytes += 17;
            stream.facts.response_bytes += 3;
        }
        let Some(mut stream) = self.streams.remove(&id) else {
            return false;
        };
        stream.facts.response_code = Some(code);
        stream.facts.duration_nanos = Some(millis * 1_000_000);
        self.recorder
            .record(stream.outcome, &stream.facts, &mut self.host);
        matches!(stream.outcome, Outcome::Attributed(_))
    }
}

#[test]
fn per_request_path_allocates_nothing_after_warm_up() {
    let config = Config::parse(b"{}").unwrap();
    let mut glue = Glue {
        recorder: Recorder::new(&config),
        host: Host {
            defined: 0,
            increments: 0,
            samples: 0,
        },
        streams: HashMap::new(),
        next_context_id: 2,
    };
    let mut routes: Vec<Vec<u8>> = (0..16)
        .map(|i| format!("httproute/ns/t{i}.prod.api/rule/0/match/0/h").into_bytes())
        .collect();
    routes.push(b"legacy-route".to_vec());
    routes.push(b"httproute/ns/Bad.prod.api/rule/0/match/0/h".to_vec());
    let codes = [200, 201, 304, 404, 503, 0];
    let send = |glue: &mut Glue, n: usize| {
        glue.request(
            &routes[n % routes.len()],
            codes[n % codes.len()],
            n as u64 % 7,
        )
    };

    // Warm-up: every route and code seen, every series defined, the maps
    // and the flush list at their working size.
    for n in 0..routes.len() * codes.len() * 4 {
        send(&mut glue, n);
    }
    glue.recorder.flush(&mut glue.host);
    let defined = glue.host.defined;

    let before = allocations();
    let mut attributed = 0;
    for n in 0..100_000 {
        attributed += usize::from(send(&mut glue, n));
        if n % 1000 == 999 {
            glue.recorder.flush(&mut glue.host);
        }
    }
    let allocated = allocations() - before;

    assert_eq!(allocated, 0, "allocations on the per-request path");
    assert!(attributed > 80_000, "{attributed} attributed");
    assert_eq!(glue.host.defined, defined, "nothing defined after warm-up");
    assert!(glue.host.samples >= 80_000 && glue.host.increments > 0);
}
