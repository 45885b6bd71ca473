//! The one error type of every build.

use std::path::{Path, PathBuf};

/// Why a plugin could not be built. Every message says what to change, what to install or what
/// the build tool printed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The sources cannot be built as they are: no entry module or two of them, a name or world
    /// this crate does not accept, a `Cargo.toml` without a package name.
    #[error("{0}")]
    Project(String),
    /// A tool the build needs (cargo, componentize-py, Node.js, npm, componentize-js) is
    /// missing, too old or could not be installed; the message names what to install.
    #[error("{0}")]
    Tool(String),
    /// The build tool ran and rejected the plugin; the message carries the end of its output
    /// (cargo prints its own output as it runs).
    #[error("{0}")]
    Failed(String),
    /// A file or folder could not be read or written.
    // The I/O error is part of the message rather than a `#[source]`: callers print the
    // message (`{e}`, or anyhow's `{e:#}`), and a source would print the cause twice there.
    #[error("cannot {action} {}: {error}", path.display())]
    Io {
        /// What was being done: `read`, `write`, `create`, `list`, ...
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
}

impl BuildError {
    /// A function making an [`BuildError::Io`] of `action` on `path`, for `map_err`.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |error| BuildError::Io {
            action,
            path,
            error,
        }
    }
}
