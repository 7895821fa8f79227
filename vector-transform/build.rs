//! Exports the module's `malloc` and `free` (src/heap.rs) so a host (WAMR in
//! Fluent Bit, or wasmtime) can place input in module memory. Only for
//! wasm32: a native cdylib exporting `malloc` would replace the host
//! process's allocator.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        for symbol in ["malloc", "free"] {
            println!("cargo:rustc-cdylib-link-arg=--export={symbol}");
        }
    }
}
