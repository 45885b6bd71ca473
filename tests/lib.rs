//! End-to-end suites of Vessel; the tests are in `e2e/`. This library only locates the
//! `vessel` binary, the shared test data and the project's test scripts.

use std::path::{Path, PathBuf};

/// Project root (the workspace folder).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `../shared/testdata/capillaries` beside the project root.
pub fn capillaries_data() -> PathBuf {
    project_root()
        .join("../shared/testdata/capillaries")
        .canonicalize()
        .expect("../shared/testdata/capillaries must exist beside the project root")
}

/// The `vessel` binary built by the same `cargo test --workspace` invocation.
///
/// # Panics
/// When the binary is missing, with the command that builds it.
pub fn vessel_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/e2e-xxxx → target/<profile>/vessel
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let bin = dir.join("vessel");
    assert!(
        bin.exists(),
        "{} is missing: run the suite with `cargo test --workspace` so the vessel binary is built",
        bin.display()
    );
    bin
}
