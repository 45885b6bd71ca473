//! Builds every crate under `plugins/testing` for `wasm32-wasip2` and writes one `pub const`
//! path per guest into `$OUT_DIR/guests.rs`.
//!
//! The guests build in their own target directory (`target/wasm-guests`), so the inner cargo
//! never waits for the lock the outer build holds.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .ancestors()
        .nth(3)
        .expect("host/wasm/artifacts sits three levels below the workspace root")
        .to_path_buf();
    let plugins = root.join("plugins");
    let testing = plugins.join("testing");
    println!("cargo:rerun-if-changed={}", testing.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!(
        "cargo:rerun-if-changed={}",
        plugins.join("Cargo.toml").display()
    );

    let guests = discover(&testing);
    check_target();

    let target_dir = root.join("target").join("wasm-guests");
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for (package, _) in &guests {
        cmd.arg("-p").arg(package);
    }
    // Flags meant for the host build (RUSTFLAGS with a host CPU, a forced target) must not
    // reach the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_PROFILE_RELEASE_LTO",
        "RUSTC_WORKSPACE_WRAPPER",
    ] {
        cmd.env_remove(var);
    }
    // Test guests are small and speed is not what they test: skip the guest workspace's
    // whole-program optimisation (LTO, one codegen unit) to keep test builds short.
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the test guests: {e}"));
    if !status.success() {
        panic!(
            "building the test guests under plugins/testing for {TARGET} failed ({status}); \
             see the cargo output above"
        );
    }

    let out_dir = target_dir.join(TARGET).join("release");
    let mut src = String::new();
    for (package, _) in &guests {
        let file = out_dir.join(format!("{}.wasm", package.replace('-', "_")));
        if !file.is_file() {
            panic!(
                "the guest build reported success but {} is missing",
                file.display()
            );
        }
        let constant = package
            .strip_prefix("test-")
            .unwrap_or(package)
            .replace('-', "_")
            .to_uppercase();
        src.push_str(&format!(
            "/// Path of the `{package}` test guest (`plugins/testing`), built for {TARGET}.\n\
             pub const {constant}: &str = {:?};\n",
            file.display().to_string()
        ));
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    fs::write(out.join("guests.rs"), src).expect("cannot write guests.rs");
}

/// `(package name, crate directory)` of every guest, sorted by name.
fn discover(testing: &Path) -> Vec<(String, PathBuf)> {
    let entries =
        fs::read_dir(testing).unwrap_or_else(|e| panic!("cannot list {}: {e}", testing.display()));
    let mut guests = Vec::new();
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|l| {
                let rest = l
                    .trim()
                    .strip_prefix("name")?
                    .trim_start()
                    .strip_prefix('=')?;
                Some(rest.trim().trim_matches('"').to_string())
            })
            .unwrap_or_else(|| panic!("{} has no package name", manifest.display()));
        guests.push((name, entry.path()));
    }
    guests.sort();
    guests
}

/// Fails early, with the fix, when the standard library for the guest target is missing.
fn check_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = libdir.is_some_and(|dir| {
        fs::read_dir(dir).is_ok_and(|mut entries| {
            entries.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libstd-")))
        })
    });
    if !installed {
        panic!(
            "the Rust target {TARGET} is not installed, and the test guests under \
             plugins/testing need it: run `rustup target add {TARGET}`"
        );
    }
}
