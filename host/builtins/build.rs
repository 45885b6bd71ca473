//! Builds the built-in plugins and copies their components to `OUT_DIR`, where `src/lib.rs`
//! embeds them:
//!
//! * the Rust ones of `plugins/` for `wasm32-wasip2`, by a nested `cargo` with its own target
//!   directory beside the outer one (`<target>/wasm-builtins`), so the two never wait on each
//!   other's lock and the components are shared by the debug and release builds;
//! * `py_calc` from `plugins/py_calc` with componentize-py (`vessel-plugin-build`), cached
//!   by a hash of its inputs in `<target>/py-builtins`, so a rebuild with unchanged sources
//!   does not run componentize-py again.
//!
//! Both run at the same time. The binary then carries every built-in plugin, so running a
//! script never builds or installs anything.

use std::path::{Path, PathBuf};
use vessel_plugin_build::{python, rust};

/// Built-in Rust plugins: (package, file stem of the component).
const RUST_BUILTINS: &[(&str, &str)] =
    &[("vessel-tag-and-denormalize", "vessel_tag_and_denormalize")];

/// The built-in Python plugin's name and folder under the repository root.
const PY_CALC: (&str, &str) = ("py_calc", "plugins/py_calc");

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .expect("host/builtins sits two levels below the repository root")
        .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out.
    let target = out.ancestors().nth(4).unwrap_or(&out).to_path_buf();

    // The Python SDK's templates and tests are not part of py_calc: only its two modules.
    for path in [
        "plugins",
        "sdk/rust",
        "sdk/python/vessel_plugin.py",
        "sdk/python/vessel_functions.py",
        "wit",
        "host/core/src",
        "host/expr/src",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=VESSEL_SKIP_BUILTINS");
    println!("cargo:rerun-if-env-changed={}", python::COMPONENTIZE_PY_ENV);

    ensure_wasm_target();
    std::thread::scope(|s| {
        let py = s.spawn(|| build_py_calc(&root, &target.join("py-builtins"), &out));
        build_rust_builtins(&root, &target.join("wasm-builtins"), &out);
        if let Err(panic) = py.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

fn build_rust_builtins(root: &Path, target_dir: &Path, out: &Path) {
    let packages: Vec<&str> = RUST_BUILTINS.iter().map(|(p, _)| *p).collect();
    let release = rust::cargo_build(&root.join("plugins"), &packages, target_dir)
        .unwrap_or_else(|e| panic!("building the built-in Rust plugins failed: {e}"));
    for (_, stem) in RUST_BUILTINS {
        let built = release.join(format!("{stem}.wasm"));
        let dest = out.join(format!("{stem}.wasm"));
        std::fs::copy(&built, &dest).unwrap_or_else(|e| {
            panic!("cannot copy {} to {}: {e}", built.display(), dest.display())
        });
    }
}

/// Builds py_calc from the Python modules at the top of its folder (not its tests or README,
/// which would otherwise be part of the component and of its cache key).
fn build_py_calc(root: &Path, cache_dir: &Path, out: &Path) {
    let (name, folder) = PY_CALC;
    let dir = root.join(folder);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        if path.extension().is_some_and(|x| x == "py") && path.is_file() {
            let file = path.file_name().expect("a file has a name");
            let bytes = std::fs::read(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            files.push((file.to_string_lossy().into_owned(), bytes));
        }
    }
    let built = python::build_component_from_files(cache_dir, name, &files).unwrap_or_else(|e| {
        panic!(
            "\n\nthe built-in {name} plugin ({folder}) could not be built; building Vessel \
             needs componentize-py {} to make it a Wasm component.\n{e}\n\n",
            python::COMPONENTIZE_PY_VERSION
        )
    });
    let dest = out.join(format!("{name}.wasm"));
    std::fs::write(&dest, &built.bytes)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}

/// Installs the `wasm32-wasip2` target with rustup when it is missing, so that a plain
/// `cargo build` works on a fresh machine. Without rustup, the guest build reports it.
fn ensure_wasm_target() {
    let Ok(out) = std::process::Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return;
    };
    let installed = String::from_utf8_lossy(&out.stdout);
    if installed.lines().any(|l| l.trim() == rust::WASM_TARGET) {
        return;
    }
    println!(
        "cargo:warning=installing the {0} target (rustup target add {0})",
        rust::WASM_TARGET
    );
    let ok = std::process::Command::new("rustup")
        .args(["target", "add", rust::WASM_TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        panic!(
            "cannot install the {0} target; run: rustup target add {0}",
            rust::WASM_TARGET
        );
    }
}
