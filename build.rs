//! Compiles the wasm modules (envoy-filter, vector-transform) for
//! `wasm32-wasip1` with the `wasm-release` profile into a target dir of their
//! own under OUT_DIR, and tells the root package where the bytes are.
//!
//! A nested cargo on the outer target dir would wait forever on the lock the
//! outer build holds, hence the separate `--target-dir`.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip1";
const PROFILE: &str = "wasm-release";
/// A directory holding both modules, used instead of building them.
const PREBUILT_DIR: &str = "STARFORM_PREBUILT_WASM_DIR";
/// (package, artifact file stem, env var the root package reads)
const MODULES: [(&str, &str, &str); 2] = [
    (
        "starform-envoy-filter",
        "starform_envoy_filter",
        "STARFORM_ENVOY_FILTER_WASM",
    ),
    (
        "starform-vector-transform",
        "starform_vector_transform",
        "STARFORM_VECTOR_TRANSFORM_WASM",
    ),
];

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let target_dir = out.join("wasm-target");

    for dir in ["labels", "envoy-filter", "vector-transform"] {
        rerun_for_dir(&root.join(dir));
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.toml").display()
    );

    // Modules built elsewhere (`starform-wasm export-modules DIR`): the fuzz
    // build fuzzes the very bytes the tests ran, and needs no wasm build of
    // its own.
    println!("cargo:rerun-if-env-changed={PREBUILT_DIR}");
    if let Some(dir) = env::var_os(PREBUILT_DIR) {
        for (_, stem, var) in MODULES {
            let path = PathBuf::from(&dir).join(format!("{stem}.wasm"));
            if !path.is_file() {
                fail(&format!("{PREBUILT_DIR}: expected {}", path.display()));
            }
            println!("cargo:rerun-if-changed={}", path.display());
            println!("cargo:rustc-env={var}={}", path.display());
        }
        return;
    }

    ensure_target();

    // One cargo run per module: built together, cargo would unify their
    // dependencies' features, and the filter would carry the transform's
    // serde_json features (preserve_order pulls in indexmap: +40 KB).
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for (package, _, _) in MODULES {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&root)
            .args([
                "build",
                "--target",
                TARGET,
                "--profile",
                PROFILE,
                "-p",
                package,
            ])
            .arg("--target-dir")
            .arg(&target_dir);
        // The outer build's flags and wrappers are for the host target, not wasm.
        for var in [
            "RUSTFLAGS",
            "CARGO_ENCODED_RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_BUILD_RUSTFLAGS",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_PROFILE_RELEASE_DEBUG",
        ] {
            cmd.env_remove(var);
        }
        match cmd.status() {
            Ok(s) if s.success() => {}
            Ok(s) => fail(&format!("building {package} for {TARGET} failed ({s})")),
            Err(e) => fail(&format!("could not run cargo for {package}: {e}")),
        }
    }

    for (_, stem, var) in MODULES {
        let path = target_dir
            .join(TARGET)
            .join(PROFILE)
            .join(format!("{stem}.wasm"));
        if !path.is_file() {
            fail(&format!("expected module at {}", path.display()));
        }
        println!("cargo:rustc-env={var}={}", path.display());
    }
}

/// The modules are built for `TARGET`; a toolchain without it (a fresh
/// rustup install has only the host's) gets it from rustup, so that the
/// README's first command works on a machine that has only Rust.
fn ensure_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_some_and(|root| root.join("lib/rustlib").join(TARGET).is_dir()) {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    // The toolchain this build runs on, not rustup's default.
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    match rustup.status() {
        Ok(s) if s.success() => {
            println!("cargo:warning=added the {TARGET} target with rustup (the wasm modules are built for it)");
        }
        Ok(s) => fail(&format!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed ({s})"
        )),
        Err(e) => fail(&format!(
            "the {TARGET} target is missing and rustup could not be run ({e}); install the target for this toolchain"
        )),
    }
}

fn rerun_for_dir(dir: &Path) {
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-changed={}", dir.join("src").display());
    // A missing path would make cargo rerun this script on every build.
    let build_script = dir.join("build.rs");
    if build_script.is_file() {
        println!("cargo:rerun-if-changed={}", build_script.display());
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
