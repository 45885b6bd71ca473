//! Builds the built-in plugins of `plugins/` for `wasm32-wasip2` and copies the components to
//! `OUT_DIR`, where `src/lib.rs` embeds them.
//!
//! The guest workspace is built by a nested `cargo` with its own target directory beside the
//! outer one (`<target>/wasm-builtins`), so the two never wait on each other's lock and the
//! components are shared by the debug and release builds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Built-in plugins: (package, file stem of the component).
const BUILTINS: &[(&str, &str)] = &[("vessel-tag-and-denormalize", "vessel_tag_and_denormalize")];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .expect("host/builtins sits two levels below the repository root")
        .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out.
    let target_dir = out
        .ancestors()
        .nth(4)
        .map_or_else(|| out.join("wasm-target"), |t| t.join("wasm-builtins"));

    for dir in [
        "plugins",
        "sdk/rust",
        "wit",
        "host/core/src",
        "host/expr/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-env-changed=VESSEL_SKIP_BUILTINS");

    ensure_wasm_target();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg("wasm32-wasip2")
        .arg("--manifest-path")
        .arg(root.join("plugins/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in BUILTINS {
        cmd.arg("-p").arg(package);
    }
    // Settings of the outer build must not leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run cargo to build the built-in plugins: {e}");
    });
    if !status.success() {
        panic!(
            "building the built-in plugins for wasm32-wasip2 failed (see the output above). \
             If the target is missing: rustup target add wasm32-wasip2"
        );
    }
    for (_, stem) in BUILTINS {
        let built = target_dir.join(format!("wasm32-wasip2/release/{stem}.wasm"));
        let dest = out.join(format!("{stem}.wasm"));
        std::fs::copy(&built, &dest).unwrap_or_else(|e| {
            panic!("cannot copy {} to {}: {e}", built.display(), dest.display())
        });
    }
}

/// Installs the `wasm32-wasip2` target with rustup when it is missing, so that a plain
/// `cargo build` works on a fresh machine. Without rustup, the guest build below reports it.
fn ensure_wasm_target() {
    let Ok(out) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return;
    };
    let installed = String::from_utf8_lossy(&out.stdout);
    if installed.lines().any(|l| l.trim() == "wasm32-wasip2") {
        return;
    }
    println!("cargo:warning=installing the wasm32-wasip2 target (rustup target add wasm32-wasip2)");
    let ok = Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        panic!("cannot install the wasm32-wasip2 target; run: rustup target add wasm32-wasip2");
    }
}
