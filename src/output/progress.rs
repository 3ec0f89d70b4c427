//! Progress while a run sends: a bar on a terminal (rows done of all, rate, time left, and the
//! counts that matter), one log line every ten seconds otherwise (cron, CI, a pipe), nothing
//! with `-q`. Only counts are shown: never a value from a row.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Printer;
use crate::engine::Observer;
use crate::store::{RowStatus, StatusCounts};

const LOG_EVERY: Duration = Duration::from_secs(10);
/// The bar redraws 8 times a second: its message need not change more often.
const REFRESH_EVERY: Duration = Duration::from_millis(125);

#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    log: bool,
    /// When the bar's message or the log line was last written.
    last_shown: Instant,
    started: Instant,
    total: u64,
    /// Rows that were already final when this invocation started.
    done_before: u64,
    done_now: u64,
    counts: StatusCounts,
}

impl Progress {
    /// Progress over `total` rows, of which `counts` says how many are where already.
    pub fn new(printer: &Printer, total: u64, counts: &StatusCounts) -> Progress {
        let done_before = total - counts.left();
        // The bar measures this invocation's work (the rows left to send), so that its rate and
        // time left are right on a resumed run too; the line below it counts the whole file.
        let bar = (!printer.is_quiet() && printer.stderr_is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(counts.left()), ProgressDrawTarget::stderr_with_hz(8));
            bar.set_style(
                // Every field of fixed width, so the bar keeps its length as the numbers change.
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{wide_bar}] {pos:>7}/{len:7} rows sent {prefix}  left {eta:>4}\n  {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        let counts = counts.to_send();
        let mut progress = Progress {
            bar,
            log: !printer.is_quiet(),
            last_shown: Instant::now(),
            started: Instant::now(),
            total,
            done_before,
            done_now: 0,
            counts,
        };
        progress.refresh_message();
        progress
    }

    fn rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 { self.done_now as f64 / secs } else { 0.0 }
    }

    fn summary(&self) -> String {
        format!(
            "registered {}  known {}  duplicate {}  invalid {}  rejected {}  failed {}",
            self.counts.get(RowStatus::Registered),
            self.counts.get(RowStatus::Known),
            self.counts.get(RowStatus::Duplicate),
            self.counts.get(RowStatus::Invalid),
            self.counts.get(RowStatus::Rejected),
            self.counts.get(RowStatus::Failed),
        )
    }

    fn refresh_message(&mut self) {
        if let Some(bar) = &self.bar {
            self.refresh_message_of(bar);
        }
    }

    fn refresh_message_of(&self, bar: &ProgressBar) {
        bar.set_prefix(rate_text(self.rate()));
        bar.set_message(self.summary());
    }

    fn log_line(&self) {
        let done = self.done_before + self.done_now;
        let rate = self.rate();
        let left = self.total.saturating_sub(done);
        let eta = if rate > 0.0 { format!("{:.0}s", left as f64 / rate) } else { "unknown".into() };
        tracing::info!(
            done,
            total = self.total,
            rows_per_second = (rate * 10.0).round() / 10.0,
            eta = eta,
            "progress: {done}/{} rows, {rate:.1} rows/s, {}",
            self.total,
            self.summary()
        );
    }
}

/// `   14.0/s`: the rate to a tenth, always as wide.
fn rate_text(per_second: f64) -> String {
    format!("{per_second:>7.1}/s")
}

impl Observer for Progress {
    /// A row reached `status` (from pending or in flight).
    fn record(&mut self, status: RowStatus) {
        self.counts.shift(RowStatus::Pending, status, 1);
        self.done_now += 1;
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Called often; redraws the message, or logs a line every ten seconds.
    fn tick(&mut self) {
        let every = if self.bar.is_some() { REFRESH_EVERY } else { LOG_EVERY };
        if self.last_shown.elapsed() < every {
            return;
        }
        self.last_shown = Instant::now();
        if self.bar.is_some() {
            self.refresh_message();
        } else if self.log {
            self.log_line();
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            self.refresh_message_of(&bar);
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_a_tenth_and_as_wide_whatever_its_value() {
        assert_eq!(rate_text(14.0446), "   14.0/s");
        assert_eq!(rate_text(0.0), "    0.0/s");
        assert_eq!(rate_text(1234.56), " 1234.6/s");
        assert_eq!(rate_text(7.0).len(), rate_text(999.94).len());
    }

    #[test]
    fn a_json_log_line_gives_numbers_as_numbers() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let written = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_writer(move || written.clone())
            .finish();
        let mut counts = StatusCounts::default();
        counts.add(RowStatus::Pending, 10);
        let mut progress = Progress::new(&Printer::quiet(), 10, &counts);
        progress.record(RowStatus::Registered);
        tracing::subscriber::with_default(subscriber, || progress.log_line());
        let line: serde_json::Value = serde_json::from_slice(&buffer.0.lock().unwrap()).unwrap();
        assert!(line["rows_per_second"].is_f64(), "{line}");
        assert_eq!(line["done"], 1);
    }
}
