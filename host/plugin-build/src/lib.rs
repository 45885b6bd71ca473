//! Building Vessel plugins into Wasm components, from Rust, Python or JavaScript sources.
//!
//! This is tooling: `vessel plugin build` and `vessel plugin test` use it, and so does the
//! build script that embeds the built-in plugins in the binary. The engine and the daemons
//! only load components; they never depend on this crate, so they never run cargo, pip or npm.
//!
//! * [`rust`]: a cargo project, built with `cargo build --release --target wasm32-wasip2`.
//! * [`python`]: a folder with `processor.py` or `functions.py`, built with componentize-py.
//! * [`js`]: a folder with `index.js`, built with componentize-js (Node.js and npm).

mod content_key;
pub mod js;
pub mod python;
pub mod rust;
