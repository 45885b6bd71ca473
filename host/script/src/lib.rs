//! Capillaries-compatible scripts.
//!
//! SCAFFOLD: loader, validation, DAG, keys and policies are being written.

pub mod model;
pub use model::*;
