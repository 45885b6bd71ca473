//! Errors of loading and running plugins, each naming the plugin, node and batch concerned.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where a failure happened: the plugin, and when known the node, the function and the batch.
///
/// Displays as `plugin 'x' in node 'n', batch 3` (parts that are unknown are left out), the
/// prefix of every [`WasmError`] message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Site {
    /// Plugin name (from `describe`, or the name the caller gave while loading).
    pub plugin: String,
    /// Node (or, for functions, the caller's label), when the failure concerns one.
    pub node: Option<String>,
    /// Function of a function plugin, when the failure concerns one.
    pub function: Option<String>,
    /// Batch index, when the failure happened while processing one.
    pub batch: Option<i32>,
}

impl Site {
    /// A site that names only the plugin.
    pub fn plugin(name: &str) -> Site {
        Site {
            plugin: name.to_string(),
            ..Site::default()
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.function {
            Some(func) => write!(f, "function '{func}' of plugin '{}'", self.plugin)?,
            None => write!(f, "plugin '{}'", self.plugin)?,
        }
        if let Some(node) = &self.node {
            write!(f, " in node '{node}'")?;
        }
        if let Some(batch) = self.batch {
            write!(f, ", batch {batch}")?;
        }
        Ok(())
    }
}

/// Which deadline a call ran under: starting an instance, or a call on an open one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Instantiation, `open`, `binding`, `describe`, `list-functions`
    /// ([`crate::Limits::open_timeout`]).
    Start,
    /// A batch or a function call ([`crate::Limits::timeout`]).
    Call,
}

impl Phase {
    /// How a timeout message names the deadline.
    fn deadline(self) -> &'static str {
        match self {
            Phase::Start => "the deadline for starting an instance: instantiation and open",
            Phase::Call => "the per-batch deadline",
        }
    }

    /// The setting that raises the deadline.
    fn setting(self) -> &'static str {
        match self {
            Phase::Start => "the node's limits.open_timeout_ms (or VESSEL_PLUGIN_OPEN_TIMEOUT_MS)",
            Phase::Call => "the node's timeout",
        }
    }
}

/// Renders a duration the way people write deadlines: `5 s`, `300 ms`, `1.5 s`.
pub(crate) fn human_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{ms} ms")
    }
}

/// Renders a byte count with a binary unit: `256 MiB`, `64 KiB`, `17 bytes`.
pub(crate) fn human_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

/// Everything that can go wrong while loading or running a plugin.
///
/// Messages start with the [`Site`] (plugin, node, batch) and end with what to do about it.
#[derive(thiserror::Error, Debug)]
pub enum WasmError {
    /// The bytes are not a Wasm component wasmtime can compile (or the engine could not be
    /// configured). Rebuild the plugin for `wasm32-wasip2`.
    #[error(
        "{site}: cannot compile the component: {message}; rebuild it with \
         `cargo build --release --target wasm32-wasip2` (or `vessel plugin build`)"
    )]
    Compile {
        /// The plugin.
        site: Site,
        /// wasmtime's reason.
        message: String,
    },

    /// The component imports something the sandbox does not offer, or does not export the world
    /// it was loaded as (a function plugin used as a processor, say).
    #[error("{site}: incompatible component: {message}")]
    Incompatible {
        /// The plugin.
        site: Site,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// The plugin rejected the node's parameters (`p`) at open (guest `error::invalid-params`).
    #[error("{site}: invalid parameters: {message}; fix the node's \"p\" section")]
    InvalidParams {
        /// Plugin and node.
        site: Site,
        /// The plugin's reason.
        message: String,
    },

    /// The input schema lacks what the plugin needs, or a batch's columns do not match the
    /// agreed binding (guest `error::schema-mismatch`, or a host-side check).
    #[error("{site}: schema mismatch: {message}")]
    SchemaMismatch {
        /// Plugin, node and, for a batch, its index.
        site: Site,
        /// What does not match.
        message: String,
    },

    /// The plugin reported that it could not process the batch (guest `error::failed`). The
    /// batch fails and may be retried.
    #[error("{site}: failed: {message}")]
    Failed {
        /// Plugin, node and batch.
        site: Site,
        /// The plugin's reason.
        message: String,
    },

    /// The call did not return before the deadline; the instance was stopped and will be
    /// replaced by a fresh one.
    #[error(
        "{site}: did not finish within {} ({}); raise {} or fix the loop",
        human_duration(*timeout),
        phase.deadline(),
        phase.setting()
    )]
    Timeout {
        /// Plugin, node and batch.
        site: Site,
        /// The deadline that passed.
        timeout: Duration,
        /// Whether it was the deadline of starting an instance or of a call.
        phase: Phase,
    },

    /// The plugin tried to grow its memory past the per-instance limit; the instance was
    /// stopped and will be replaced by a fresh one.
    #[error(
        "{site}: ran out of memory (limit {} per instance); process smaller batches, raise \
         the node's memory limit or fix the allocation",
        human_bytes(*limit)
    )]
    OutOfMemory {
        /// Plugin, node and batch.
        site: Site,
        /// The memory limit in bytes.
        limit: usize,
    },

    /// The plugin trapped (a panic, `unreachable`, an out-of-bounds access, a stack overflow);
    /// the instance was stopped and will be replaced by a fresh one.
    #[error("{site}: crashed: {message}; this is a bug in the plugin")]
    Trap {
        /// Plugin, node and batch.
        site: Site,
        /// The trap and, when the guest printed one, its panic message.
        message: String,
    },

    /// The plugin returned more bytes than the per-batch output limit allows.
    #[error(
        "{site}: returned {} of output, over the limit of {} per batch; process smaller \
         batches or raise the limit",
        human_bytes(*bytes),
        human_bytes(*limit)
    )]
    OutputTooLarge {
        /// Plugin, node and batch.
        site: Site,
        /// Bytes returned.
        bytes: usize,
        /// The limit.
        limit: usize,
    },

    /// The plugin returned something that breaks the batch contract of `wit/`: wrong row
    /// counts or buffer lengths, invalid UTF-8, offsets out of range, decreasing parents, or a
    /// binding that names unknown fields.
    #[error("{site}: returned an invalid result: {message}; this is a bug in the plugin")]
    BadOutput {
        /// Plugin, node and batch.
        site: Site,
        /// Exactly what is wrong.
        message: String,
    },

    /// The host could not encode a batch for the plugin (a decimal2 beyond ±92 233 720 368 547
    /// 758.07, more than 4 GiB of text in one column, more than 4 billion rows) or the caller
    /// passed arguments that do not match the function's signature.
    #[error("{site}: cannot pass the input: {message}")]
    BadInput {
        /// Plugin, node and batch.
        site: Site,
        /// What could not be passed.
        message: String,
    },

    /// A function plugin was asked for a function it does not export.
    #[error("{site}: the plugin has no such function (it offers: {available})")]
    UnknownFunction {
        /// Plugin, caller and, as its `function`, the requested name.
        site: Site,
        /// The names it does offer, comma-separated.
        available: String,
    },

    /// Reading a plugin file or using the compile cache failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl WasmError {
    /// The site of the failure, if the error has one (all but [`WasmError::Io`]).
    pub fn site(&self) -> Option<&Site> {
        match self {
            WasmError::Compile { site, .. }
            | WasmError::Incompatible { site, .. }
            | WasmError::InvalidParams { site, .. }
            | WasmError::SchemaMismatch { site, .. }
            | WasmError::Failed { site, .. }
            | WasmError::Timeout { site, .. }
            | WasmError::OutOfMemory { site, .. }
            | WasmError::Trap { site, .. }
            | WasmError::OutputTooLarge { site, .. }
            | WasmError::BadOutput { site, .. }
            | WasmError::BadInput { site, .. }
            | WasmError::UnknownFunction { site, .. } => Some(site),
            WasmError::Io { .. } => None,
        }
    }

    /// True for failures after which the instance's store was discarded (timeout, out of
    /// memory, trap): the next call runs on a fresh instance.
    pub fn is_fatal_to_instance(&self) -> bool {
        matches!(
            self,
            WasmError::Timeout { .. } | WasmError::OutOfMemory { .. } | WasmError::Trap { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_plugin_node_and_batch() {
        let site = Site {
            plugin: "x".into(),
            node: Some("n".into()),
            function: None,
            batch: Some(3),
        };
        let e = WasmError::Timeout {
            site: site.clone(),
            timeout: Duration::from_secs(5),
            phase: Phase::Call,
        };
        assert_eq!(
            e.to_string(),
            "plugin 'x' in node 'n', batch 3: did not finish within 5 s (the per-batch \
             deadline); raise the node's timeout or fix the loop"
        );
        let e = WasmError::Timeout {
            site: Site {
                batch: None,
                ..site
            },
            timeout: Duration::from_secs(60),
            phase: Phase::Start,
        };
        assert_eq!(
            e.to_string(),
            "plugin 'x' in node 'n': did not finish within 60 s (the deadline for starting an \
             instance: instantiation and open); raise the node's limits.open_timeout_ms (or \
             VESSEL_PLUGIN_OPEN_TIMEOUT_MS) or fix the loop"
        );
        assert_eq!(human_duration(Duration::from_millis(300)), "300 ms");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human_bytes(256 << 20), "256 MiB");
        assert_eq!(human_bytes(17), "17 bytes");
    }
}
