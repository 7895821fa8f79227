//! Compiles the wasm modules (envoy-filter, vector-transform) for
//! `wasm32-wasip1` with the `wasm-release` profile into a target dir of their
//! own under OUT_DIR, and tells the root package where the bytes are.
//!
//! It also builds the browser playground (playground/) for
//! `wasm32-unknown-unknown` in that same target dir and runs `wasm-bindgen`
//! on it, for `starform-wasm playground` to embed — when a `wasm-bindgen` of
//! the version in Cargo.lock is installed (scripts/test.sh installs it);
//! without one the CLI is built without the playground's files and says so.
//!
//! A nested cargo on the outer target dir would wait forever on the lock the
//! outer build holds, hence the separate `--target-dir`.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip1";
const PROFILE: &str = "wasm-release";
/// The browser's target: no WASI imports, wasm-bindgen's JS instead.
const PLAYGROUND_TARGET: &str = "wasm32-unknown-unknown";
/// Path of the `wasm-bindgen` CLI to use instead of searching for one.
const WASM_BINDGEN: &str = "STARFORM_WASM_BINDGEN";
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

    for dir in ["labels", "envoy-filter", "vector-transform", "playground"] {
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

    ensure_target(TARGET);

    // One cargo run per module: built together, cargo would unify their
    // dependencies' features, and the filter would carry the transform's
    // serde_json features (preserve_order pulls in indexmap: +40 KB).
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for (package, _, _) in MODULES {
        cargo_build(&cargo, &root, &target_dir, TARGET, package);
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

    playground(&cargo, &root, &out, &target_dir);
}

/// One package for one wasm target, in `target_dir`.
fn cargo_build(cargo: &OsStr, root: &Path, target_dir: &Path, target: &str, package: &str) {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--target",
            target,
            "--profile",
            PROFILE,
            "-p",
            package,
        ])
        .arg("--target-dir")
        .arg(target_dir);
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
        Ok(s) => fail(&format!("building {package} for {target} failed ({s})")),
        Err(e) => fail(&format!("could not run cargo for {package}: {e}")),
    }
}

/// Builds the playground and its JS glue into OUT_DIR/playground, and sets
/// `STARFORM_PLAYGROUND_DIR` and the cfg `starform_playground` for the CLI.
fn playground(cargo: &OsStr, root: &Path, out: &Path, target_dir: &Path) {
    println!("cargo::rustc-check-cfg=cfg(starform_playground)");
    println!("cargo:rerun-if-env-changed={WASM_BINDGEN}");
    let wanted = locked_version(root, "wasm-bindgen");
    let Some(bindgen) = wasm_bindgen(wanted.as_deref()) else {
        return;
    };
    ensure_target(PLAYGROUND_TARGET);
    cargo_build(
        cargo,
        root,
        target_dir,
        PLAYGROUND_TARGET,
        "starform-playground",
    );
    let wasm = target_dir
        .join(PLAYGROUND_TARGET)
        .join(PROFILE)
        .join("starform_playground.wasm");
    let dir = out.join("playground");
    let status = Command::new(&bindgen)
        .arg(&wasm)
        .args(["--target", "web", "--no-typescript", "--out-dir"])
        .arg(&dir)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => fail(&format!("wasm-bindgen on {} failed ({s})", wasm.display())),
        Err(e) => fail(&format!("could not run {}: {e}", bindgen.display())),
    }
    println!("cargo:rustc-env=STARFORM_PLAYGROUND_DIR={}", dir.display());
    println!("cargo:rustc-cfg=starform_playground");
}

/// `$STARFORM_WASM_BINDGEN`, else `wasm-bindgen` on PATH or in cargo's bin
/// directory, when its version is `wanted`. Otherwise a warning, and this
/// script runs again on the next build (a watched path that does not exist
/// is always stale), so installing it is enough.
fn wasm_bindgen(wanted: Option<&str>) -> Option<PathBuf> {
    let cargo_bin = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin").join("wasm-bindgen"));
    let candidates: Vec<PathBuf> = match env::var_os(WASM_BINDGEN) {
        Some(path) => vec![PathBuf::from(path)],
        None => std::iter::once(PathBuf::from("wasm-bindgen"))
            .chain(cargo_bin.clone())
            .collect(),
    };
    let wanted = wanted.unwrap_or("?");
    for candidate in &candidates {
        let Ok(output) = Command::new(candidate).arg("--version").output() else {
            continue;
        };
        let version = String::from_utf8_lossy(&output.stdout);
        if version.split_whitespace().nth(1) == Some(wanted) {
            return Some(candidate.clone());
        }
        println!(
            "cargo:warning={} is {}, not {wanted}: the playground is not built",
            candidate.display(),
            version.trim()
        );
        return None;
    }
    println!(
        "cargo:warning=no wasm-bindgen {wanted} (cargo install wasm-bindgen-cli --version {wanted}): `starform-wasm playground` is built without its page"
    );
    if let Some(path) = cargo_bin {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    None
}

/// The version Cargo.lock pins for `package`.
fn locked_version(root: &Path, package: &str) -> Option<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    let name = format!("name = \"{package}\"");
    lines.find(|line| *line == name)?;
    let version = lines.next()?.strip_prefix("version = \"")?;
    Some(version.trim_end_matches('"').to_owned())
}

/// The modules are built for `target`; a toolchain without it (a fresh
/// rustup install has only the host's) gets it from rustup, so that the
/// README's first command works on a machine that has only Rust.
fn ensure_target(target: &str) {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_some_and(|root| root.join("lib/rustlib").join(target).is_dir()) {
        return;
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", target]);
    // The toolchain this build runs on, not rustup's default.
    if let Some(toolchain) = env::var_os("RUSTUP_TOOLCHAIN") {
        rustup.arg("--toolchain").arg(toolchain);
    }
    match rustup.status() {
        Ok(s) if s.success() => {
            println!("cargo:warning=added the {target} target with rustup (the wasm modules are built for it)");
        }
        Ok(s) => fail(&format!(
            "the {target} target is missing and `rustup target add {target}` failed ({s})"
        )),
        Err(e) => fail(&format!(
            "the {target} target is missing and rustup could not be run ({e}); install the target for this toolchain"
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
