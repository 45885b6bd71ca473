//! Logging and counters through the host: lines carry the keyspace, run, node and batch the
//! host adds, and cost nothing when the host's level filters them out.
//!
//! ```
//! use vessel_plugin::log;
//! let rows = 3;
//! log::info!("tagged {rows} rows");
//! log::debug!("criteria: {:?}", ["boys", "diving"]);
//! vessel_plugin::counter_add("tagged_rows", rows);
//! ```
//!
//! Outside Wasm (unit tests on the build machine) there is no host: nothing is enabled and
//! counters go nowhere.

use crate::__bindings::vessel::plugin::types::LogLevel;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that the plugin handled.
    Warn,
    /// Something failed.
    Error,
}

impl Level {
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    fn to_wit(self) -> LogLevel {
        match self {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}

/// Whether the host keeps lines of this level, so that a plugin can skip building them. The
/// logging macros check it before formatting.
pub fn enabled(level: Level) -> bool {
    #[cfg(target_arch = "wasm32")]
    {
        crate::__bindings::vessel::plugin::host::log_enabled(level.to_wit())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = level;
        false
    }
}

/// Writes one line. The host truncates long lines and caps the volume per batch.
pub fn write(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::__bindings::vessel::plugin::host::log(level.to_wit(), message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

/// Adds `delta` to the named counter of the current batch; the host reports counters with
/// the batch's statistics.
pub fn counter_add(name: &str, delta: u64) {
    #[cfg(target_arch = "wasm32")]
    crate::__bindings::vessel::plugin::host::counter_add(name, delta);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (name, delta);
}

#[doc(hidden)]
#[macro_export]
macro_rules! __vessel_log {
    ($level:expr, $($arg:tt)+) => {{
        let level = $level;
        if $crate::log::enabled(level) {
            $crate::log::write(level, &::std::format!($($arg)+));
        }
    }};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __vessel_log_trace {
    ($($arg:tt)+) => { $crate::__vessel_log!($crate::log::Level::Trace, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __vessel_log_debug {
    ($($arg:tt)+) => { $crate::__vessel_log!($crate::log::Level::Debug, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __vessel_log_info {
    ($($arg:tt)+) => { $crate::__vessel_log!($crate::log::Level::Info, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __vessel_log_warn {
    ($($arg:tt)+) => { $crate::__vessel_log!($crate::log::Level::Warn, $($arg)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __vessel_log_error {
    ($($arg:tt)+) => { $crate::__vessel_log!($crate::log::Level::Error, $($arg)+) };
}

/// Logs at a level given as a [`Level`]: `log!(Level::Warn, "{n} rows skipped")`.
pub use crate::__vessel_log as log;
/// Logs at debug level, `format!`-style; formats only when the host keeps debug lines.
pub use crate::__vessel_log_debug as debug;
/// Logs at error level, `format!`-style.
pub use crate::__vessel_log_error as error;
/// Logs at info level, `format!`-style; formats only when the host keeps info lines.
pub use crate::__vessel_log_info as info;
/// Logs at trace level, `format!`-style; formats only when the host keeps trace lines.
pub use crate::__vessel_log_trace as trace;
/// Logs at warn level, `format!`-style.
pub use crate::__vessel_log_warn as warn;
