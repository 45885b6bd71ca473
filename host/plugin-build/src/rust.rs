//! Rust plugins: a cargo project built with `cargo build --release --target wasm32-wasip2`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BuildError;

/// The target every component is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Settings of the surrounding build that must not reach the guest build: flags meant for the
/// host (a host CPU in `RUSTFLAGS`), a forced target or target folder, a workspace wrapper.
const HOST_ONLY_ENV: [&str; 7] = [
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_TARGET_DIR",
    "RUSTC_WORKSPACE_WRAPPER",
];

/// Runs `cargo build --release --target wasm32-wasip2` in `project_dir` (a package or a
/// workspace) for `packages` (none: cargo's default members), with its output in `target_dir`;
/// returns the folder the components are in, `<target_dir>/wasm32-wasip2/release`.
///
/// Cargo runs in `project_dir`, so the project's own `.cargo/config.toml` applies; its output
/// goes to this process's stderr and stdout. Cargo is `$CARGO` when set (as it is inside a
/// build script), else `cargo` on `PATH`.
///
/// # Errors
/// [`BuildError::Tool`] when cargo cannot be run; [`BuildError::Failed`] when the build fails
/// (cargo has printed why).
pub fn cargo_build(
    project_dir: &Path,
    packages: &[&str],
    target_dir: &Path,
) -> Result<PathBuf, BuildError> {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args([
        "build",
        "--release",
        "--target",
        WASM_TARGET,
        "--target-dir",
    ])
    .arg(target_dir)
    .current_dir(project_dir);
    for package in packages {
        cmd.args(["-p", package]);
    }
    for var in HOST_ONLY_ENV {
        cmd.env_remove(var);
    }
    let status = cmd.status().map_err(|e| {
        BuildError::Tool(format!(
            "cannot run cargo ({e}): building Rust plugins needs Rust (https://rustup.rs) \
                 with the {WASM_TARGET} target"
        ))
    })?;
    if !status.success() {
        return Err(BuildError::Failed(format!(
            "cargo build of {} failed (see above); if the target is missing: rustup target \
             add {WASM_TARGET}",
            project_dir.display()
        )));
    }
    Ok(target_dir.join(WASM_TARGET).join("release"))
}

/// Builds the Rust plugin project in `project_dir` (one package, with the `vessel-plugin`
/// SDK) and writes its component to `out`. Cargo's output goes to `target_dir`, by default
/// `<project_dir>/target`; several plugins that share one compile their dependencies once.
///
/// # Errors
/// [`BuildError::Project`] when `Cargo.toml` names no package; [`BuildError::Io`] when it
/// cannot be read or the component cannot be copied to `out`; otherwise as [`cargo_build`].
pub fn build_component(
    project_dir: &Path,
    target_dir: Option<&Path>,
    out: &Path,
) -> Result<(), BuildError> {
    let target_dir = target_dir.map_or_else(|| project_dir.join("target"), Path::to_path_buf);
    let manifest = project_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(BuildError::io("read", &manifest))?;
    let crate_name = package_name(&text)
        .ok_or_else(|| {
            BuildError::Project(format!(
                "{} has no package name (`name = \"...\"` under [package])",
                manifest.display()
            ))
        })?
        .replace('-', "_");
    let release = cargo_build(project_dir, &[], &target_dir)?;
    let built = release.join(format!("{crate_name}.wasm"));
    if !built.is_file() {
        return Err(BuildError::Project(format!(
            "cargo built {} but not {}: a plugin is a `cdylib` whose library keeps the package's \
             name",
            project_dir.display(),
            built.display()
        )));
    }
    std::fs::copy(&built, out).map_err(BuildError::io("write", out))?;
    Ok(())
}

/// The package name in a `Cargo.toml`: the value of its first `name = "..."` line.
fn package_name(manifest: &str) -> Option<String> {
    manifest.lines().find_map(|l| {
        let v = l
            .trim()
            .strip_prefix("name")?
            .trim_start()
            .strip_prefix('=')?;
        Some(v.trim().trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_package_name_comes_from_the_first_name_line() {
        let manifest =
            "[package]\nname = \"add-vat\"\nversion = \"0.1.0\"\n\n[lib]\nname = \"x\"\n";
        assert_eq!(package_name(manifest).as_deref(), Some("add-vat"));
        assert_eq!(package_name("[package]\nversion = \"1\"\n"), None);
    }

    #[test]
    fn a_folder_without_cargo_toml_is_reported_before_cargo_runs() {
        let dir = tempfile::tempdir().unwrap();
        let err = build_component(dir.path(), None, &dir.path().join("x.wasm")).unwrap_err();
        assert!(matches!(err, BuildError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("Cargo.toml"), "{err}");
    }
}
