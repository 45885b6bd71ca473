//! Paths of the test guests under `plugins/testing`, built for `wasm32-wasip2` by this
//! crate's build script (in `target/wasm-guests`), one `pub const` per guest: `ECHO`,
//! `EVIL`, `FUNCTIONS`, `INCOMPATIBLE`, `KEEP_EVEN`, `REPEAT`.
//!
//! Only tests use it (as a dev-dependency of `vessel-wasm`), in the manner of wasmtime's
//! `test-programs-artifacts`: adding a crate under `plugins/testing` adds a constant here.
//!
//! ```no_run
//! let bytes = std::fs::read(vessel_wasm_artifacts::ECHO).unwrap();
//! assert!(!bytes.is_empty());
//! ```

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
