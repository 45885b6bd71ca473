//! The storage conformance suite, written once and run against every backend.
//!
//! A backend's integration tests call [`run_all`] with a fresh storage; each check uses its own
//! keyspace so that backends that share a server do not collide.
