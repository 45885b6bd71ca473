//! Tests of the CQL test server: through the real `scylla` driver, with raw frames, and of its
//! binary.

mod cli;
mod driver;
mod raw;
