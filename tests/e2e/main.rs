//! End-to-end tests: the `vessel` binary on real scripts and data.

mod api;
mod bad_input;
mod browser;
mod cassandra;
mod cluster;
mod crash;
mod csv_files;
mod disk_full;
mod distributed;
mod guest_sdks;
mod lookup;
mod plugins;
mod py_calc;
mod support;
mod tag_and_denormalize;
mod workload;
