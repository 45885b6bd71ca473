//! Tests of the CQL test server: through the real `scylla` driver, and with raw frames.

mod driver;
mod raw;
