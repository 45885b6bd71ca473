//! Building Vessel plugins into Wasm components, from Rust, Python or JavaScript sources.
//!
//! This is tooling: `vessel plugin build` and `vessel plugin test` use it, and so does the
//! build script of `vessel-builtins`, which builds the plugins embedded in the binary. The
//! engine and the daemons only load components and never depend on this crate, so running a
//! script never runs cargo, pip or npm.
//!
//! One module per language, each with a `build_component` function:
//!
//! * [`rust`]: a cargo project, built with `cargo build --release --target wasm32-wasip2`
//!   ([`rust::cargo_build`] builds any packages of a guest workspace);
//! * [`python`]: a folder with `processor.py` or `functions.py`, built with componentize-py,
//!   which is found or installed into a virtual environment; components are cached by a hash
//!   of their inputs;
//! * [`js`]: a folder with `index.js`, built with componentize-js, which is installed with
//!   npm; components are cached by a hash of their inputs.
//!
//! The SDKs and the WIT package are compiled into this crate, so builds do not need the
//! repository. Every failure is a [`BuildError`] whose message says what to change or install.
//!
//! ```no_run
//! use std::path::Path;
//! use vessel_plugin_build::{BuildError, python};
//!
//! let cache = std::env::temp_dir().join("vessel-cache");
//! let built = python::build_component(&cache, "add_vat", Path::new("add_vat"))?;
//! std::fs::write("add_vat.wasm", &built.bytes).expect("writable");
//! println!("{} component, {} bytes", built.world.name(), built.bytes.len());
//! # Ok::<(), BuildError>(())
//! ```

mod content_key;
mod error;
pub mod js;
pub mod python;
pub mod rust;

pub use error::BuildError;
