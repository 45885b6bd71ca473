//! Progress bars: one per node, advanced as batches finish.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use vessel_engine::progress::{ProgressEvent, ProgressSink};

/// Progress bars on a terminal; plain lines per finished node otherwise.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, u64)>>,
    tty: bool,
}

impl Bars {
    pub fn new() -> Bars {
        let tty = std::io::stderr().is_terminal();
        let multi = MultiProgress::with_draw_target(if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Bars {
            multi,
            bars: Mutex::new(HashMap::new()),
            tty,
        }
    }

    /// Prints a line above the bars.
    pub fn println(&self, line: &str) {
        if self.tty {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }

    /// Leaves the bars on screen in their final state.
    pub fn finish(&self) {
        for (bar, _) in self.lock().values() {
            bar.abandon();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (ProgressBar, u64)>> {
        self.bars.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ProgressSink for Bars {
    fn event(&self, event: ProgressEvent) {
        let mut bars = self.lock();
        match event {
            ProgressEvent::NodePublished { node, batches } => {
                if bars.contains_key(&node) {
                    return;
                }
                let bar = self.multi.add(ProgressBar::new(batches as u64));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:<32!} [{bar:24}] {pos}/{len} batches {msg}",
                    )
                    .expect("template is valid")
                    .progress_chars("=> "),
                );
                bar.set_prefix(node.clone());
                bars.insert(node, (bar, 0));
            }
            ProgressEvent::Rows { node, rows_in } => {
                if let Some((bar, rows)) = bars.get_mut(&node) {
                    *rows += rows_in;
                    bar.set_message(format!("{rows} rows"));
                }
            }
            ProgressEvent::BatchDone {
                node, ok, error, ..
            } => {
                if let Some((bar, rows)) = bars.get_mut(&node) {
                    bar.inc(1);
                    if !ok {
                        bar.set_message(format!("{rows} rows, FAILED"));
                    }
                    if bar.position() >= bar.length().unwrap_or(0) {
                        bar.finish();
                        if !self.tty {
                            eprintln!(
                                "{node}: {} batches done, {rows} rows read{}",
                                bar.position(),
                                if ok { "" } else { " (failed)" }
                            );
                        }
                    }
                }
                if let Some(e) = error {
                    self.println(&format!("batch failed: {e}"));
                }
            }
        }
    }
}
