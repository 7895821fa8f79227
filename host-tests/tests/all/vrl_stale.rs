//! deploy/vector/*.vrl are the generated programs for the default
//! configuration; this fails when they are stale. Regenerate with
//!
//! ```text
//! cargo run --release -- vrl > deploy/vector/starform.vrl
//! cargo run --release -- vrl --dropped > deploy/vector/starform-dropped.vrl
//! ```
//!
//! or run this test with STARFORM_BLESS=1.

use std::path::PathBuf;

use starform_vector_transform::TransformConfig;
use starform_wasm::vrl_program;

fn deployed(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/vector")
        .join(name)
}

fn check(name: &str, expected: &str, command: &str) {
    let path = deployed(name);
    if std::env::var_os("STARFORM_BLESS").is_some() {
        std::fs::write(&path, expected).unwrap();
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{} is stale: regenerate with `{command} > deploy/vector/{name}`",
        path.display()
    );
}

#[test]
fn rules_program_is_current() {
    let program = vrl_program::generate(&TransformConfig::default()).unwrap();
    check("starform.vrl", &program, "cargo run --release -- vrl");
}

#[test]
fn dropped_program_is_current() {
    check(
        "starform-dropped.vrl",
        &vrl_program::generate_dropped(),
        "cargo run --release -- vrl --dropped",
    );
}
