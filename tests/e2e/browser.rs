//! The web UI in headless Chromium (Debian's `chromium`, driven by playwright-core from npm):
//! the token prompt, a run started from the form and watched to completion, the batch history,
//! the keyspace matrix, a run stopped from its page while it goes, a finished run invalidated,
//! and a refused script's error. Screenshots
//! of every page go to `target/<profile>/ui-screenshots/`.

use crate::api::{Api, copy_shop};
use crate::support::s;
use std::path::PathBuf;
use std::process::Command;

/// Debian's Chromium (or `VESSEL_CHROMIUM`).
fn chromium() -> PathBuf {
    let p: PathBuf = std::env::var_os("VESSEL_CHROMIUM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| "/usr/bin/chromium".into(), PathBuf::from);
    assert!(
        p.exists(),
        "{} is missing: install Debian's chromium (`apt-get install chromium`) or set \
         VESSEL_CHROMIUM",
        p.display()
    );
    p
}

/// A folder under `target/` with playwright-core installed from npm and the UI script.
fn driver() -> PathBuf {
    let dir = vessel_tests::vessel_bin()
        .parent()
        .expect("target/<profile>")
        .join("browser-node");
    std::fs::create_dir_all(&dir).unwrap();
    let src = vessel_tests::project_root().join("tests/browser");
    for f in ["package.json", "ui.mjs"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    if !dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent"])
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "cannot install playwright-core with npm in {} (node and npm, and the npm \
             registry, are needed)",
            dir.display()
        );
    }
    dir
}

#[test]
fn the_ui_starts_watches_inspects_and_stops_runs() {
    let chromium = chromium();
    let driver = driver();
    let dir = tempfile::tempdir().unwrap();
    let work = copy_shop(dir.path());
    // A run long enough to be stopped while it goes.
    std::fs::write(
        work.join("params_slow.yaml"),
        "dir_in: data\ndir_out: out_slow\nbatches: 1000\n",
    )
    .unwrap();
    let token = "br0ws3r-t0k3n-0123456789";
    std::fs::write(dir.path().join("token"), token).unwrap();
    let api = Api::start(
        &work,
        &[
            "--token-file",
            s(&dir.path().join("token")),
            "--workers",
            "2",
        ],
    );
    let shots = vessel_tests::vessel_bin()
        .parent()
        .unwrap()
        .join("ui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(driver.join("ui.mjs"))
        .args([&format!("http://{}", api.addr), token, s(&shots)])
        .env("VESSEL_CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}{}\n(screenshots in {})",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        shots.display()
    );
    for name in [
        "01-token",
        "02-keyspaces",
        "03-run",
        "04-batches",
        "05-keyspace",
        "06-running",
        "07-stopped",
        "08-refused",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "no screenshot {name}"
        );
    }
}
