//! The module's exports (wasm32 only): translate host pointers to slices, run
//! the pure core, hand back the one reused output buffer. The exports are
//! documented in vector-transform/README.md.
//!
//! `malloc` and `free` are the module's C allocator (`heap`), exported by
//! build.rs.

use std::cell::{Cell, UnsafeCell};

use crate::config::{CompiledConfig, ConfigError};
use crate::ndjson;
use crate::outcome::Counts;
use crate::preopens;
use crate::scan::Scratch;
use crate::transform::{transform_unconfigured_into, transform_with_scratch};

/// Output capacity kept between calls; a larger buffer (left by one huge
/// record) is released at the start of the next call.
const RETAINED_OUTPUT_BYTES: usize = 1 << 20;

enum Configuration {
    /// Neither `starform_configure` nor the first record has happened yet.
    Pending,
    Ready(CompiledConfig),
    /// No usable configuration file: fail closed (`config_invalid`, with the
    /// configuration field at fault, or the file's name when it is missing).
    Invalid(String),
}

struct State {
    configuration: Configuration,
    output: Vec<u8>,
    scratch: Scratch,
    counts: Counts,
}

/// The state, and whether a call is inside the module.
struct Module {
    state: UnsafeCell<State>,
    inside: Cell<bool>,
}

thread_local! {
    static MODULE: Module = Module {
        state: UnsafeCell::new(State {
            configuration: Configuration::Pending,
            output: Vec::new(),
            scratch: Scratch::default(),
            counts: Counts::default(),
        }),
        inside: Cell::new(false),
    };
}

impl State {
    /// After a call the host interrupted: the buffers it was writing start
    /// afresh (a half-written key memo entry, a half-grown buffer); the
    /// configuration and the counters stay.
    fn recover(&mut self) {
        self.output = Vec::new();
        self.scratch = Scratch::default();
        log(format_args!(
            "the previous call did not return (the host trapped it: an interpreter stack smaller than the record needed, a time limit); buffers reset"
        ));
    }

    fn begin(&mut self) {
        self.output.clear();
        self.output.shrink_to(RETAINED_OUTPUT_BYTES);
    }

    fn transform_one(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if matches!(self.configuration, Configuration::Pending) {
            self.configuration = from_file();
        }
        let outcome = match &self.configuration {
            Configuration::Ready(config) => {
                transform_with_scratch(config, input, out, &mut self.scratch)
            }
            Configuration::Invalid(key) => transform_unconfigured_into(Some(key), input, out),
            Configuration::Pending => transform_unconfigured_into(None, input, out),
        };
        self.counts.record(outcome);
    }
}

/// The configuration of a module its host never configured (Fluent Bit):
/// `log-transform.json` in the first directory the host preopened that has
/// one (Fluent Bit preopens `Accessible_Paths`, in order). None of them
/// having it is an error like an invalid file: Fluent Bit preopens
/// directories only for the module to read, so a missing file is a mount
/// gone wrong, and accepting records under rules nobody configured would
/// hide it.
fn from_file() -> Configuration {
    let dirs = preopens::directories();
    let found = preopens::find_file(&dirs, preopens::CONFIG_FILE_NAME);
    let Some((path, read)) = found else {
        log(format_args!(
            "no {} in the preopened directories [{}]; quarantining every record as config_invalid",
            preopens::CONFIG_FILE_NAME,
            dirs.join(", ")
        ));
        return Configuration::Invalid(preopens::CONFIG_FILE_NAME.to_owned());
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(e) => {
            log(format_args!(
                "{path}: {e}; quarantining every record as config_invalid"
            ));
            return Configuration::Invalid(preopens::CONFIG_FILE_NAME.to_owned());
        }
    };
    match CompiledConfig::from_json(&bytes) {
        Ok(config) => {
            log(format_args!("configuration: {path}"));
            Configuration::Ready(config)
        }
        Err(e) => {
            log(format_args!(
                "{path}: {e}; quarantining every record as config_invalid"
            ));
            Configuration::Invalid(
                e.field()
                    .map_or_else(|| preopens::CONFIG_FILE_NAME.to_owned(), str::to_owned),
            )
        }
    }
}

/// One line on the host's stderr (Fluent Bit's log), with the version stamp.
/// A failed write is ignored: `eprintln!` would panic, and logging must not
/// stop records.
fn log(message: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "{} {}: {message}",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
}

/// Runs `f` on the state. A call that finds another one still inside is
/// the next call after a trap: a host (WAMR, wasmtime) may stop the module
/// mid-call (Fluent Bit then drops that record, logs the exception and goes
/// on calling), which unwinds no Rust code. The state is then recovered,
/// not refused: with a borrow left held forever, every later record would
/// be quarantined.
fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    MODULE.with(|module| {
        // SAFETY: the only references to the state are the ones made here,
        // and they end with `f`. The module is single-threaded and its
        // imports (WASI) never call back into it, so a call finding
        // `inside` set is not nested in another: the earlier call was
        // trapped, and the host discarded its frames and the reference
        // with them.
        let state = unsafe { &mut *module.state.get() };
        if module.inside.replace(true) {
            state.recover();
        }
        let result = f(state);
        module.inside.set(false);
        result
    })
}

/// # Safety
/// `ptr` must be null or point to `len` readable bytes.
unsafe fn bytes<'a>(ptr: *const u8, len: u32) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        return &[];
    }
    // SAFETY: the caller guarantees `len` readable bytes at `ptr`.
    unsafe { std::slice::from_raw_parts(ptr, len as usize) }
}

/// Fluent Bit `filter_wasm` entry point (Event_Format json): one record in,
/// a pointer to one NUL-terminated JSON object out. The tag and time are not
/// used. The pointer stays valid until the next call into the module.
///
/// # Safety
/// `record_ptr` must point to `record_len` readable bytes (or be null).
#[no_mangle]
pub unsafe extern "C" fn starform_filter_log(
    _tag_ptr: *const u8,
    _tag_len: u32,
    _time_sec: u32,
    _time_nsec: u32,
    record_ptr: *const u8,
    record_len: u32,
) -> *const u8 {
    // SAFETY: forwarded from this function's contract.
    let input = unsafe { bytes(record_ptr, record_len) };
    with_state(|state| {
        state.begin();
        let mut out = std::mem::take(&mut state.output);
        state.transform_one(input, &mut out);
        out.push(0);
        state.output = out;
        state.output.as_ptr()
    })
}

/// Batch entry point: NDJSON in, one output line per input line out (see
/// `ndjson`). Returns the output length; the bytes are at
/// `starform_output_ptr` until the next call.
///
/// # Safety
/// `ptr` must point to `len` readable bytes (or be null).
#[no_mangle]
pub unsafe extern "C" fn starform_transform_batch(ptr: *const u8, len: u32) -> u32 {
    // SAFETY: forwarded from this function's contract.
    let input = unsafe { bytes(ptr, len) };
    with_state(|state| {
        state.begin();
        let mut out = std::mem::take(&mut state.output);
        ndjson::for_each_line(input, &mut out, |record, out| {
            state.transform_one(record, out);
        });
        state.output = out;
        output_len(state)
    })
}

/// Sets the configuration (JSON). Returns 0 when it is valid; otherwise 1,
/// the module keeps its previous configuration, and the error message (which
/// names the field) is at `starform_output_ptr`/`starform_output_len`.
///
/// # Safety
/// `ptr` must point to `len` readable bytes (or be null).
#[no_mangle]
pub unsafe extern "C" fn starform_configure(ptr: *const u8, len: u32) -> u32 {
    // SAFETY: forwarded from this function's contract.
    let json = unsafe { bytes(ptr, len) };
    with_state(|state| {
        state.begin();
        match CompiledConfig::from_json(json) {
            Ok(config) => {
                state.configuration = Configuration::Ready(config);
                0
            }
            Err(e) => {
                write_error(&mut state.output, &e);
                1
            }
        }
    })
}

fn write_error(out: &mut Vec<u8>, e: &ConfigError) {
    out.extend_from_slice(e.to_string().as_bytes());
}

/// Makes the module a WASI reactor: hosts (WAMR, wasmtime) call this once
/// after instantiation, before any other export, and WAMR warns about a
/// WASI module that exports neither this nor `_start`.
#[no_mangle]
pub extern "C" fn _initialize() {
    extern "C" {
        /// Synthesised by the linker: runs the static constructors
        /// (wasi-libc's among them) once.
        fn __wasm_call_ctors();
    }
    // SAFETY: called once by the host before any other export, as the
    // reactor convention requires.
    unsafe { __wasm_call_ctors() }
}

/// Start of the output of the last call.
#[no_mangle]
pub extern "C" fn starform_output_ptr() -> *const u8 {
    with_state(|state| state.output.as_ptr())
}

/// Length of the output of the last call (without the NUL that
/// `starform_filter_log` appends).
#[no_mangle]
pub extern "C" fn starform_output_len() -> u32 {
    with_state(|state| output_len(state))
}

fn output_len(state: &State) -> u32 {
    let len = state.output.len();
    let len = if state.output.last() == Some(&0) {
        len.saturating_sub(1)
    } else {
        len
    };
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Writes the outcome counters (accepted, then one per reason code in the
/// contract's order, then `config_invalid`) as little-endian `u64`s into the
/// output buffer and returns its start.
#[no_mangle]
pub extern "C" fn starform_counts() -> *const u8 {
    with_state(|state| {
        state.begin();
        for word in state.counts.to_words() {
            state.output.extend_from_slice(&word.to_le_bytes());
        }
        state.output.as_ptr()
    })
}
