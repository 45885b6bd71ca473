//! Compiled components are reused: in memory within a host, on disk across hosts.

use std::sync::Arc;

use vessel_wasm::{CacheStats, WasmConfig, WasmHost};
use vessel_wasm_artifacts as guests;

fn cwasm_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect()
}

#[test]
fn the_same_bytes_compile_once_per_host() {
    let host = WasmHost::new(WasmConfig::default()).unwrap();
    let bytes = crate::read(guests::REPEAT);
    let a = host.load_processor("repeat", &bytes).unwrap();
    let b = host.load_processor("repeat", &bytes).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(
        host.cache_stats(),
        CacheStats {
            compiled: 1,
            loaded_from_disk: 0,
            reused_in_memory: 1,
        }
    );
}

#[test]
fn precompiled_components_are_cached_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let config = WasmConfig {
        cache_dir: Some(dir.path().to_path_buf()),
        ..WasmConfig::default()
    };
    let bytes = crate::read(guests::KEEP_EVEN);

    let first = WasmHost::new(config.clone()).unwrap();
    first.load_processor("keep-even", &bytes).unwrap();
    assert_eq!(first.cache_stats().compiled, 1);
    let files = cwasm_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let written = std::fs::metadata(&files[0]).unwrap().modified().unwrap();

    // A second host (a second process, in effect) loads the artifact instead of compiling.
    let second = WasmHost::new(config.clone()).unwrap();
    let plugin = second.load_processor("keep-even", &bytes).unwrap();
    assert_eq!(
        second.cache_stats(),
        CacheStats {
            compiled: 0,
            loaded_from_disk: 1,
            reused_in_memory: 0,
        }
    );
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().modified().unwrap(),
        written
    );
    // The artifact works.
    let mut inst = plugin
        .open(
            &crate::args("{}", crate::schema(&[("n", vessel_core::FieldType::Int)])),
            Default::default(),
        )
        .unwrap();
    assert_eq!(inst.process(&crate::ints(&[1, 2]), 0).unwrap().len(), 1);
    // The artifact is mapped while loaded: nothing may rewrite it in place until it is gone.
    drop((inst, plugin, second));

    // A damaged artifact is replaced, not trusted.
    std::fs::write(&files[0], b"not native code").unwrap();
    let third = WasmHost::new(config).unwrap();
    third.load_processor("keep-even", &bytes).unwrap();
    assert_eq!(third.cache_stats().compiled, 1);
    assert_ne!(std::fs::read(&files[0]).unwrap(), b"not native code");
}
