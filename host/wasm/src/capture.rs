//! Bounded capture of what a guest says (its `log` lines, stdout and stderr) and its forwarding to `tracing`.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Target of the `tracing` events that carry guest output.
pub(crate) const LOG_TARGET: &str = "vessel::plugin";

/// Longest single log line kept; longer lines are cut (one guest line must not use the whole
/// per-batch budget).
const MAX_LINE_BYTES: usize = 4096;

/// How much of stderr is kept apart from the budget, to explain a crash (a Rust panic
/// message is printed to stderr just before the trap).
const STDERR_TAIL_BYTES: usize = 2048;

/// What the guest's stdout and stderr streams advertise as writable at once. Writes are always
/// accepted; what does not fit the budget is counted and dropped, so that a chatty guest is
/// never failed (a closed stdout makes Rust's `println!` panic).
const WRITE_PERMIT: usize = 1 << 20;

/// Severity of a captured line, mirroring the WIT `log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Where a captured line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Log,
    Stdout,
    Stderr,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Log => "log",
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
        }
    }
}

/// Output of one call, bounded by a byte budget shared by all three sources.
#[derive(Debug)]
pub(crate) struct Capture {
    budget: usize,
    used: usize,
    dropped_bytes: usize,
    lines: Vec<(Level, String)>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    stderr_tail: Vec<u8>,
}

/// What a call produced, taken out of the capture after the call.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    pub lines: Vec<(Level, String)>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stderr_tail: Vec<u8>,
    pub dropped_bytes: usize,
}

impl Capture {
    pub(crate) fn new(budget: usize) -> Capture {
        Capture {
            budget,
            used: 0,
            dropped_bytes: 0,
            lines: Vec::new(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            stderr_tail: Vec::new(),
        }
    }

    /// Keeps a guest `log` line if the budget allows.
    pub(crate) fn log(&mut self, level: Level, mut message: String) {
        if message.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            self.dropped_bytes += message.len() - cut;
            message.truncate(cut);
            message.push_str(" [line truncated]");
        }
        if self.used + message.len() > self.budget {
            self.dropped_bytes += message.len();
            return;
        }
        self.used += message.len();
        self.lines.push((level, message));
    }

    fn write(&mut self, source: Source, bytes: &[u8]) {
        if source == Source::Stderr {
            let keep = bytes.len().min(STDERR_TAIL_BYTES);
            self.stderr_tail
                .extend_from_slice(&bytes[bytes.len() - keep..]);
            let excess = self.stderr_tail.len().saturating_sub(STDERR_TAIL_BYTES);
            self.stderr_tail.drain(..excess);
        }
        let room = self.budget.saturating_sub(self.used);
        let take = bytes.len().min(room);
        let buf = match source {
            Source::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        };
        buf.extend_from_slice(&bytes[..take]);
        self.used += take;
        self.dropped_bytes += bytes.len() - take;
    }

    /// Takes everything captured since the last drain and resets the budget.
    pub(crate) fn drain(&mut self) -> Drained {
        self.used = 0;
        Drained {
            lines: std::mem::take(&mut self.lines),
            stdout: std::mem::take(&mut self.stdout),
            stderr: std::mem::take(&mut self.stderr),
            stderr_tail: std::mem::take(&mut self.stderr_tail),
            dropped_bytes: std::mem::take(&mut self.dropped_bytes),
        }
    }
}

/// Locks a capture, tolerating poison: a panic elsewhere must not silence the guest.
pub(crate) fn lock(c: &Mutex<Capture>) -> MutexGuard<'_, Capture> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// A guest's stdout or stderr: every write lands in the shared [`Capture`].
#[derive(Clone)]
pub(crate) struct CapturePipe {
    capture: Arc<Mutex<Capture>>,
    source: Source,
}

impl CapturePipe {
    pub(crate) fn stdout(capture: Arc<Mutex<Capture>>) -> CapturePipe {
        CapturePipe {
            capture,
            source: Source::Stdout,
        }
    }

    pub(crate) fn stderr(capture: Arc<Mutex<Capture>>) -> CapturePipe {
        CapturePipe {
            capture,
            source: Source::Stderr,
        }
    }
}

impl IsTerminal for CapturePipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturePipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturePipe {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturePipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        lock(&self.capture).write(self.source, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl tokio::io::AsyncWrite for CapturePipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        lock(&self.capture).write(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The fields every forwarded event carries.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogContext {
    pub keyspace: String,
    pub run_id: i32,
    pub node: String,
    pub plugin: String,
}

/// A batch index as an event field: the number, or `-` outside a batch.
struct BatchField(Option<i32>);

impl fmt::Display for BatchField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(b) => write!(f, "{b}"),
            None => f.write_str("-"),
        }
    }
}

macro_rules! guest_event {
    ($level:expr, $ctx:expr, $batch:expr, $source:expr, $msg:expr) => {{
        let ctx: &LogContext = $ctx;
        let batch = BatchField($batch);
        let source = $source.name();
        let msg: &str = $msg;
        match $level {
            Level::Trace => tracing::trace!(
                target: LOG_TARGET, keyspace = %ctx.keyspace, run_id = ctx.run_id,
                node = %ctx.node, batch = %batch, plugin = %ctx.plugin, source, "{msg}"
            ),
            Level::Debug => tracing::debug!(
                target: LOG_TARGET, keyspace = %ctx.keyspace, run_id = ctx.run_id,
                node = %ctx.node, batch = %batch, plugin = %ctx.plugin, source, "{msg}"
            ),
            Level::Info => tracing::info!(
                target: LOG_TARGET, keyspace = %ctx.keyspace, run_id = ctx.run_id,
                node = %ctx.node, batch = %batch, plugin = %ctx.plugin, source, "{msg}"
            ),
            Level::Warn => tracing::warn!(
                target: LOG_TARGET, keyspace = %ctx.keyspace, run_id = ctx.run_id,
                node = %ctx.node, batch = %batch, plugin = %ctx.plugin, source, "{msg}"
            ),
            Level::Error => tracing::error!(
                target: LOG_TARGET, keyspace = %ctx.keyspace, run_id = ctx.run_id,
                node = %ctx.node, batch = %batch, plugin = %ctx.plugin, source, "{msg}"
            ),
        }
    }};
}

/// Whether an event at `level` would be recorded by the current subscriber.
pub(crate) fn level_enabled(level: Level) -> bool {
    match level {
        Level::Trace => tracing::enabled!(target: LOG_TARGET, tracing::Level::TRACE),
        Level::Debug => tracing::enabled!(target: LOG_TARGET, tracing::Level::DEBUG),
        Level::Info => tracing::enabled!(target: LOG_TARGET, tracing::Level::INFO),
        Level::Warn => tracing::enabled!(target: LOG_TARGET, tracing::Level::WARN),
        Level::Error => tracing::enabled!(target: LOG_TARGET, tracing::Level::ERROR),
    }
}

/// Emits what one call produced as `tracing` events: log lines at their level, stdout lines
/// at info, stderr lines at warn, and one warning if anything was dropped.
pub(crate) fn forward(drained: &Drained, ctx: &LogContext, batch: Option<i32>) {
    for (level, line) in &drained.lines {
        guest_event!(*level, ctx, batch, Source::Log, line);
    }
    for (source, level, bytes) in [
        (Source::Stdout, Level::Info, &drained.stdout),
        (Source::Stderr, Level::Warn, &drained.stderr),
    ] {
        if bytes.is_empty() {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            guest_event!(level, ctx, batch, source, line);
        }
    }
    if drained.dropped_bytes > 0 {
        let note = format!(
            "plugin output truncated: {} bytes over the per-batch log limit were dropped",
            drained.dropped_bytes
        );
        guest_event!(Level::Warn, ctx, batch, Source::Log, &note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_shared_and_excess_counted() {
        let mut c = Capture::new(10);
        c.log(Level::Info, "12345".into());
        c.write(Source::Stdout, b"abcdefgh");
        c.log(Level::Info, "late".into());
        let d = c.drain();
        assert_eq!(d.lines.len(), 1);
        assert_eq!(d.stdout, b"abcde");
        assert_eq!(d.dropped_bytes, 3 + 4);
        // The budget starts again for the next call.
        c.log(Level::Info, "again".into());
        assert_eq!(c.drain().lines.len(), 1);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let mut c = Capture::new(1 << 20);
        c.log(Level::Warn, "é".repeat(MAX_LINE_BYTES));
        let d = c.drain();
        assert!(d.lines[0].1.len() <= MAX_LINE_BYTES + 20);
        assert!(d.lines[0].1.ends_with("[line truncated]"));
    }

    #[test]
    fn stderr_tail_survives_the_budget() {
        let mut c = Capture::new(4);
        c.write(Source::Stderr, &[b'x'; 5000]);
        c.write(Source::Stderr, b"panicked at boom");
        let d = c.drain();
        assert_eq!(d.stderr.len(), 4);
        assert_eq!(d.stderr_tail.len(), STDERR_TAIL_BYTES);
        assert!(d.stderr_tail.ends_with(b"panicked at boom"));
    }
}
