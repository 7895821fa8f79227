//! Runs the compiled log transform module (`modules::VECTOR_TRANSFORM`) in
//! wasmtime, through the same exports a collector uses (see
//! vector-transform/README.md). One [`LogTransform`] is one module instance:
//! all of its state lives in its own `Store`, so tests can run many in
//! parallel.

use std::path::Path;
use std::sync::OnceLock;

use starform_vector_transform::Counts;
use wasmtime::{Config, Engine, Instance, Linker, Memory, Module, OperatorCost, Store, TypedFunc};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// Why the host could not run the module.
#[derive(Debug, thiserror::Error)]
pub enum LogHostError {
    #[error("compiling the log transform module: {0}")]
    Compile(String),
    #[error("instantiating the log transform module: {0}")]
    Instantiate(wasmtime::Error),
    /// The module rejected the configuration; the message names the field.
    #[error("{0}")]
    Config(String),
    /// The module trapped (or an export call failed) — a bug in the module.
    #[error("the log transform module failed in {export}: {error}")]
    Call {
        export: &'static str,
        error: wasmtime::Error,
    },
    /// The module returned something outside its memory or the ABI.
    #[error("the log transform module broke its ABI: {0}")]
    Abi(String),
}

/// How a module's instances count the work they do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    /// Full speed, nothing counted.
    Off,
    /// Every wasm instruction executed is counted (wasmtime fuel: one unit
    /// per instruction, control markers such as `block`/`end` free): the
    /// deterministic measure of what an interpreter (WAMR in Fluent Bit)
    /// pays, whatever the machine. A bulk-memory instruction
    /// (`memory.copy`, `memory.fill`) is one instruction like any other, as
    /// an interpreter dispatches it once and runs a native memmove; wasmtime
    /// by default would also charge a unit per byte it moves.
    Instructions,
}

/// One engine per metering mode for every log module in the process: a
/// compiled module is only usable with the engine that compiled it.
fn engine(metering: Metering) -> Result<&'static Engine, LogHostError> {
    static PLAIN: OnceLock<Result<Engine, String>> = OnceLock::new();
    static METERED: OnceLock<Result<Engine, String>> = OnceLock::new();
    let cell = match metering {
        Metering::Off => &PLAIN,
        Metering::Instructions => &METERED,
    };
    cell.get_or_init(|| {
        let mut config = Config::new();
        if metering == Metering::Instructions {
            let mut cost = OperatorCost::new();
            cost.variable.memory_copy_per_byte = 0;
            cost.variable.memory_fill_per_byte = 0;
            cost.variable.memory_init_per_byte = 0;
            config.consume_fuel(true).operator_cost(cost);
        }
        Engine::new(&config).map_err(|e| format!("{e:#}"))
    })
    .as_ref()
    .map_err(|e| LogHostError::Compile(format!("starting the wasm engine: {e}")))
}

/// A compiled log transform module, ready to start instances from. Cheap to
/// clone.
#[derive(Clone)]
pub struct LogModule {
    module: Module,
    metering: Metering,
}

impl LogModule {
    /// Compiles `bytes` (binary wasm or WAT text); whether it has the exports
    /// the host needs is checked when an instance starts.
    pub fn compile(bytes: &[u8]) -> Result<Self, LogHostError> {
        Self::compile_with(bytes, Metering::Off)
    }

    /// [`LogModule::compile`] with instances that count instructions
    /// ([`LogTransform::instructions`]).
    pub fn compile_with(bytes: &[u8], metering: Metering) -> Result<Self, LogHostError> {
        Module::new(engine(metering)?, bytes)
            .map(|module| Self { module, metering })
            .map_err(|e| LogHostError::Compile(format!("{e:#}")))
    }

    /// The embedded module (`modules::VECTOR_TRANSFORM`), compiled once per
    /// process and shared by every instance.
    pub fn vector_transform() -> Result<&'static Self, LogHostError> {
        static COMPILED: OnceLock<Result<LogModule, String>> = OnceLock::new();
        COMPILED
            .get_or_init(|| {
                Self::compile(crate::modules::VECTOR_TRANSFORM).map_err(|e| match e {
                    LogHostError::Compile(message) => message,
                    other => other.to_string(),
                })
            })
            .as_ref()
            .map_err(|e| LogHostError::Compile(e.clone()))
    }
}

struct Exports {
    memory: Memory,
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<u32, ()>,
    configure: TypedFunc<(u32, u32), u32>,
    filter_log: TypedFunc<(u32, u32, u32, u32, u32, u32), u32>,
    transform_batch: TypedFunc<(u32, u32), u32>,
    output_ptr: TypedFunc<(), u32>,
    output_len: TypedFunc<(), u32>,
    counts: TypedFunc<(), u32>,
}

impl Exports {
    fn find(store: &mut Store<WasiP1Ctx>, instance: &Instance) -> Result<Self, LogHostError> {
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| LogHostError::Abi("no exported memory".into()))?;
        Ok(Self {
            memory,
            malloc: export(store, instance, "malloc")?,
            free: export(store, instance, "free")?,
            configure: export(store, instance, "starform_configure")?,
            filter_log: export(store, instance, "starform_filter_log")?,
            transform_batch: export(store, instance, "starform_transform_batch")?,
            output_ptr: export(store, instance, "starform_output_ptr")?,
            output_len: export(store, instance, "starform_output_len")?,
            counts: export(store, instance, "starform_counts")?,
        })
    }
}

/// The module's export `name` with the signature the ABI gives it.
fn export<P, R>(
    store: &mut Store<WasiP1Ctx>,
    instance: &Instance,
    name: &str,
) -> Result<TypedFunc<P, R>, LogHostError>
where
    P: wasmtime::WasmParams,
    R: wasmtime::WasmResults,
{
    instance
        .get_typed_func(&mut *store, name)
        .map_err(LogHostError::Instantiate)
}

/// One instance of the log transform module.
pub struct LogTransform {
    store: Store<WasiP1Ctx>,
    exports: Exports,
    /// What the module wrote to stderr, for instances that capture it.
    stderr: Option<MemoryOutputPipe>,
}

/// Fuel given to a metered instance: more than any run can spend.
pub const FUEL: u64 = u64::MAX / 2;

impl LogTransform {
    /// An instance with the default configuration (`{}`).
    pub fn new() -> Result<Self, LogHostError> {
        Self::with_config(b"{}")
    }

    /// An instance configured with `config` (JSON, see docs/contracts.md).
    pub fn with_config(config: &[u8]) -> Result<Self, LogHostError> {
        Self::with_module(LogModule::vector_transform()?, config)
    }

    /// An instance of `module` (e.g. a module file other than the embedded
    /// one) configured with `config`.
    pub fn with_module(module: &LogModule, config: &[u8]) -> Result<Self, LogHostError> {
        // No preopened directories, environment or stdio: the module gets its
        // configuration only through `starform_configure`.
        let mut host = Self::instantiate(module, WasiCtxBuilder::new().build_p1())?;
        host.configure(config)?;
        Ok(host)
    }

    /// An instance set up the way Fluent Bit's `filter_wasm` sets it up
    /// (fluent-bit `src/wasm/flb_wasm.c`): each of `accessible_paths`
    /// preopened under its own path, in order (WAMR's WASI `dir_list`), the
    /// module required to be a WASI reactor (WAMR runs `_initialize` at
    /// instantiation and warns about a WASI module that is neither a
    /// command nor a reactor), and never configured by the host. Its stderr
    /// is kept ([`LogTransform::stderr`]).
    pub fn fluent_bit(
        module: &LogModule,
        accessible_paths: &[&Path],
    ) -> Result<Self, LogHostError> {
        let exports = |name: &str| module.module.get_export(name).is_some();
        if !exports("_initialize") || exports("_start") {
            return Err(LogHostError::Abi(
                "a WASI module Fluent Bit loads must be a reactor: export _initialize, not _start"
                    .into(),
            ));
        }
        let mut wasi = WasiCtxBuilder::new();
        for dir in accessible_paths {
            let guest = dir
                .to_str()
                .ok_or_else(|| LogHostError::Abi(format!("{}: not a UTF-8 path", dir.display())))?;
            wasi.preopened_dir(dir, guest, FsPerms::ReadOnly)
                .map_err(LogHostError::Instantiate)?;
        }
        let stderr = MemoryOutputPipe::new(64 * 1024);
        wasi.stderr(stderr.clone());
        let mut host = Self::instantiate(module, wasi.build_p1())?;
        host.stderr = Some(stderr);
        Ok(host)
    }

    fn instantiate(module: &LogModule, wasi: WasiP1Ctx) -> Result<Self, LogHostError> {
        let engine = module.module.engine();
        let mut linker: Linker<WasiP1Ctx> = Linker::new(engine);
        p1::add_to_linker_sync(&mut linker, |ctx| ctx).map_err(LogHostError::Instantiate)?;
        let mut store = Store::new(engine, wasi);
        if module.metering == Metering::Instructions {
            store.set_fuel(FUEL).map_err(LogHostError::Instantiate)?;
        }
        let instance = linker
            .instantiate(&mut store, &module.module)
            .map_err(LogHostError::Instantiate)?;
        if let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize") {
            init.call(&mut store, ())
                .map_err(|error| LogHostError::Call {
                    export: "_initialize",
                    error,
                })?;
        }
        let exports = Exports::find(&mut store, &instance)?;
        Ok(Self {
            store,
            exports,
            stderr: None,
        })
    }

    /// Instructions executed by this instance so far (module compiled with
    /// [`Metering::Instructions`]; `None` otherwise).
    pub fn instructions(&self) -> Option<u64> {
        let left = self.store.get_fuel().ok()?;
        Some(FUEL.saturating_sub(left))
    }

    /// Lets the module run `budget` more instructions, then traps it
    /// mid-call, as a host's limit would (WAMR's interpreter stack, a
    /// deadline). Only for a module compiled with
    /// [`Metering::Instructions`]; [`LogTransform::instructions`] counts
    /// from the full budget again after `set_instruction_budget(FUEL)`.
    pub fn set_instruction_budget(&mut self, budget: u64) -> Result<(), LogHostError> {
        self.store
            .set_fuel(budget)
            .map_err(|e| LogHostError::Abi(format!("module is not metered: {e}")))
    }

    /// What the module wrote to stderr (instances made by
    /// [`LogTransform::fluent_bit`]).
    pub fn stderr(&self) -> Option<String> {
        self.stderr
            .as_ref()
            .map(|pipe| String::from_utf8_lossy(&pipe.contents()).into_owned())
    }

    /// One record the way `flb_wasm_call_function_format_json` passes it:
    /// the tag and the record each copied, NUL-terminated, into memory from
    /// the module's `malloc` (WAMR's `wasm_runtime_module_dup_data`), the
    /// export called with (tag, tag_len, sec, nsec, record, record_len), the
    /// NUL-terminated result copied out, both copies freed (the tag's
    /// first, as Fluent Bit does).
    pub fn filter_log_as_fluent_bit(
        &mut self,
        tag: &[u8],
        time: (u32, u32),
        record: &[u8],
    ) -> Result<Vec<u8>, LogHostError> {
        let tag_ptr = self.dup_data(tag)?;
        let record_ptr = match self.dup_data(record) {
            Ok(ptr) => ptr,
            Err(e) => {
                self.module_free(tag_ptr)?;
                return Err(e);
            }
        };
        let filter = self.exports.filter_log.clone();
        let out = (|| {
            let args = (
                tag_ptr,
                len32(tag)?,
                time.0,
                time.1,
                record_ptr,
                len32(record)?,
            );
            let ptr = filter
                .call(&mut self.store, args)
                .map_err(|error| LogHostError::Call {
                    export: "starform_filter_log",
                    error,
                })?;
            self.read_c_string(ptr)
        })();
        self.module_free(tag_ptr)?;
        self.module_free(record_ptr)?;
        out
    }

    /// The module's exported `malloc`, as a host calls it (WAMR's
    /// `wasm_runtime_module_malloc`): the block's address, 0 if refused.
    pub fn module_malloc(&mut self, size: u32) -> Result<u32, LogHostError> {
        self.exports
            .malloc
            .call(&mut self.store, size)
            .map_err(|error| LogHostError::Call {
                export: "malloc",
                error,
            })
    }

    /// Writes `bytes` into module memory at `at`.
    pub fn write_memory(&mut self, at: u32, bytes: &[u8]) -> Result<(), LogHostError> {
        let memory = self.exports.memory;
        memory
            .write(&mut self.store, at as usize, bytes)
            .map_err(|e| LogHostError::Abi(format!("write outside module memory: {e}")))
    }

    /// Reads `len` bytes of module memory at `at`.
    pub fn read_memory(&self, at: u32, len: usize) -> Result<Vec<u8>, LogHostError> {
        let mut out = vec![0; len];
        self.exports
            .memory
            .read(&self.store, at as usize, &mut out)
            .map_err(|e| LogHostError::Abi(format!("read outside module memory: {e}")))?;
        Ok(out)
    }

    /// `input` and a NUL in module memory from the module's `malloc`.
    fn dup_data(&mut self, input: &[u8]) -> Result<u32, LogHostError> {
        let size = len32(input)?
            .checked_add(1)
            .ok_or_else(|| LogHostError::Abi("input too large".into()))?;
        let ptr = self.module_malloc(size)?;
        if ptr == 0 {
            return Err(LogHostError::Abi(format!("malloc({size}) returned null")));
        }
        let memory = self.exports.memory;
        memory
            .write(&mut self.store, ptr as usize, input)
            .and_then(|()| memory.write(&mut self.store, ptr as usize + input.len(), &[0]))
            .map_err(|e| {
                LogHostError::Abi(format!("malloc returned memory outside the module: {e}"))
            })?;
        Ok(ptr)
    }

    /// Calls an export that takes nothing and returns a pointer or length.
    fn call_nullary(
        &mut self,
        func: TypedFunc<(), u32>,
        export: &'static str,
    ) -> Result<u32, LogHostError> {
        func.call(&mut self.store, ())
            .map_err(|error| LogHostError::Call { export, error })
    }

    /// The module's exported `free`.
    pub fn module_free(&mut self, ptr: u32) -> Result<(), LogHostError> {
        self.exports
            .free
            .call(&mut self.store, ptr)
            .map_err(|error| LogHostError::Call {
                export: "free",
                error,
            })
    }

    /// Replaces the configuration; on error the previous one stays.
    pub fn configure(&mut self, config: &[u8]) -> Result<(), LogHostError> {
        let configure = self.exports.configure.clone();
        let status = self.with_input(config, "starform_configure", |store, ptr, len| {
            configure.call(store, (ptr, len))
        })?;
        if status == 0 {
            return Ok(());
        }
        let message = self.output()?;
        Err(LogHostError::Config(
            String::from_utf8_lossy(&message).into_owned(),
        ))
    }

    /// One record through `starform_filter_log` (the Fluent Bit entry point):
    /// the output object's JSON, without the NUL terminator.
    pub fn transform(&mut self, record: &[u8]) -> Result<Vec<u8>, LogHostError> {
        let filter = self.exports.filter_log.clone();
        let ptr = self.with_input(record, "starform_filter_log", |store, ptr, len| {
            filter.call(store, (0, 0, 0, 0, ptr, len))
        })?;
        let out = self.read_c_string(ptr)?;
        let reported = self.call_nullary(self.exports.output_ptr.clone(), "starform_output_ptr")?;
        if reported != ptr {
            return Err(LogHostError::Abi(format!(
                "starform_filter_log returned {ptr:#x}, the output buffer is at {reported:#x}"
            )));
        }
        Ok(out)
    }

    /// Many NDJSON records through `starform_transform_batch`: one output
    /// line (ending in `\n`) per input record.
    pub fn transform_batch(&mut self, ndjson: &[u8]) -> Result<Vec<u8>, LogHostError> {
        let batch = self.exports.transform_batch.clone();
        self.with_input(ndjson, "starform_transform_batch", |store, ptr, len| {
            batch.call(store, (ptr, len))
        })?;
        self.output()
    }

    /// Outcome counters since the instance was created.
    pub fn counts(&mut self) -> Result<Counts, LogHostError> {
        let ptr = self.call_nullary(self.exports.counts.clone(), "starform_counts")?;
        let mut bytes = [0u8; Counts::WORDS * 8];
        self.exports
            .memory
            .read(&self.store, ptr as usize, &mut bytes)
            .map_err(|e| LogHostError::Abi(format!("counters outside memory: {e}")))?;
        let mut words = [0u64; Counts::WORDS];
        for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(chunk);
            *word = u64::from_le_bytes(le);
        }
        Ok(Counts::from_words(words))
    }

    /// Current size of the module's linear memory in bytes.
    pub fn memory_bytes(&self) -> usize {
        self.exports.memory.data_size(&self.store)
    }

    /// Copies `input` (plus a NUL, as Fluent Bit does) into memory from the
    /// module's `malloc`, runs `call`, then frees the copy.
    fn with_input<R>(
        &mut self,
        input: &[u8],
        export: &'static str,
        call: impl FnOnce(&mut Store<WasiP1Ctx>, u32, u32) -> wasmtime::Result<R>,
    ) -> Result<R, LogHostError> {
        let len = len32(input)?;
        let ptr = self.dup_data(input)?;
        let result =
            call(&mut self.store, ptr, len).map_err(|error| LogHostError::Call { export, error });
        self.module_free(ptr)?;
        result
    }

    /// The output buffer of the last call.
    fn output(&mut self) -> Result<Vec<u8>, LogHostError> {
        let ptr = self.call_nullary(self.exports.output_ptr.clone(), "starform_output_ptr")?;
        let len = self.call_nullary(self.exports.output_len.clone(), "starform_output_len")?;
        let data = self.exports.memory.data(&self.store);
        data.get(ptr as usize..(ptr as usize).saturating_add(len as usize))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| LogHostError::Abi(format!("output {ptr:#x}+{len} is outside memory")))
    }

    /// The NUL-terminated string at `ptr`, as Fluent Bit copies it.
    fn read_c_string(&self, ptr: u32) -> Result<Vec<u8>, LogHostError> {
        let data = self.exports.memory.data(&self.store);
        let tail = data
            .get(ptr as usize..)
            .filter(|_| ptr != 0)
            .ok_or_else(|| {
                LogHostError::Abi(format!("returned pointer {ptr:#x} is outside memory"))
            })?;
        let end = tail
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| LogHostError::Abi("returned string is not NUL-terminated".into()))?;
        Ok(tail.get(..end).map(<[u8]>::to_vec).unwrap_or_default())
    }
}

fn len32(input: &[u8]) -> Result<u32, LogHostError> {
    u32::try_from(input.len())
        .map_err(|_| LogHostError::Abi(format!("input of {} bytes exceeds 4 GiB", input.len())))
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn compile_rejects_bytes_that_are_not_wasm() {
        let err = LogModule::compile(b"not a module").err().unwrap();
        assert!(matches!(err, LogHostError::Compile(_)), "{err}");
    }

    #[test]
    fn a_module_compiled_from_bytes_behaves_as_the_embedded_one() {
        let module = LogModule::compile(crate::modules::VECTOR_TRANSFORM).unwrap();
        let mut from_bytes = LogTransform::with_module(&module, b"{}").unwrap();
        let mut embedded = LogTransform::new().unwrap();
        let record = br#"{"log":"x","kubernetes":{"namespace_name":"acme-prod","labels":{"starform.io/project":" ACME ","starform.io/environment":"prod","starform.io/service":"my_svc"}}}"#;
        let out = from_bytes.transform(record).unwrap();
        assert_eq!(out, embedded.transform(record).unwrap());
        assert!(
            String::from_utf8_lossy(&out).contains("starform_quarantine"),
            "{}",
            String::from_utf8_lossy(&out)
        );
        assert_eq!(from_bytes.counts().unwrap(), embedded.counts().unwrap());
    }

    #[test]
    fn with_module_applies_the_configuration() {
        let module = LogModule::compile(crate::modules::VECTOR_TRANSFORM).unwrap();
        let err = LogTransform::with_module(&module, br#"{"max_record_bytes":0}"#)
            .err()
            .unwrap();
        assert!(
            matches!(&err, LogHostError::Config(m) if m.contains("max_record_bytes")),
            "{err}"
        );
    }
}
