//! Embeds the guest SDKs, their templates and the WIT package in the `vessel` binary, so that
//! `vessel plugin new` works outside the repository: it writes them into each new plugin.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Folders (and names) never embedded: build outputs, the SDKs' own tests, caches. A
/// template's `tests` folder is part of the template, so it is embedded.
const SKIP: &[&str] = &[
    "target",
    "tests",
    "node_modules",
    "__pycache__",
    ".venv",
    "Cargo.lock",
    "package-lock.json",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .expect("host/cli sits two levels below the repository root")
        .to_path_buf();
    let mut files = Vec::new();
    for dir in ["wit", "sdk"] {
        collect(&root, &root.join(dir), &mut files);
    }
    files.sort();
    let mut code = String::from(
        "/// Files of the SDKs, templates and WIT package: (path from the repository root, text).\n\
         pub const SDK_FILES: &[(&str, &str)] = &[\n",
    );
    for (rel, abs) in &files {
        let _ = writeln!(code, "    ({rel:?}, include_str!({abs:?})),");
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("sdk_files.rs"), code).expect("write sdk_files.rs");
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String)>) {
    // Watching the folders we embed from (not build outputs beside them) sees added files.
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let template_tests = name == "tests"
            && path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .any(|c| c.as_os_str() == std::ffi::OsStr::new("templates"));
        if (SKIP.contains(&name.as_str()) && !template_tests) || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else if std::fs::read_to_string(&path).is_ok() {
            println!("cargo:rerun-if-changed={}", path.display());
            let rel = path
                .strip_prefix(root)
                .expect("under the root")
                .to_string_lossy()
                .replace('\\', "/");
            files.push((rel, path.to_string_lossy().into_owned()));
        }
    }
}
