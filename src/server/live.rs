//! Live progress of the job being sent, for the pages: the job runner publishes a snapshot a few
//! times a second on a watch channel (only the latest matters), and each upload page that is
//! open follows it over server-sent events. Counts only, never a value from a row. The
//! runner's side is [`Watcher`], the engine's observer for a job.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::report::counts_map;
use crate::engine::Observer;
use crate::store::{RowStatus, StatusCounts};

/// Where the running job is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    pub upload: i64,
    pub rows: u64,
    /// Rows with their outcome (or nothing to send), of `rows`.
    pub done: u64,
    /// Rows per status; rows still to send count as `pending`.
    pub counts: BTreeMap<String, u64>,
    /// Rows finished a second by this job so far.
    pub rows_per_second: f64,
    pub seconds_left: Option<u64>,
}

/// The job being sent, if one is: the runner writes it, the pages read it.
pub type Live = tokio::sync::watch::Sender<Option<Progress>>;

impl Progress {
    /// `31 of 50 rows done`.
    pub fn done_text(&self) -> String {
        format!("{} of {} rows done", group(self.done), group(self.rows))
    }

    /// `9.8 rows a second`, once there is a rate to speak of.
    pub fn rate_text(&self) -> String {
        if self.rows_per_second > 0.0 {
            format!("{:.1} rows a second", self.rows_per_second)
        } else {
            "starting".to_owned()
        }
    }

    /// `about 2 minutes left`.
    pub fn left_text(&self) -> String {
        match self.seconds_left {
            Some(0) => "finishing".to_owned(),
            Some(s) => format!("about {} left", rough_duration(Duration::from_secs(s))),
            None => "time left not known yet".to_owned(),
        }
    }

    /// The event the page's script reads.
    pub fn event_json(&self) -> serde_json::Value {
        serde_json::json!({
            "upload": self.upload,
            "rows": self.rows,
            "done": self.done,
            "counts": self.counts,
            // As the page writes them, so that a number looks the same before and after an update.
            "counts_text": self.counts.iter().map(|(k, v)| (k.clone(), group(*v))).collect::<BTreeMap<_, _>>(),
            "done_text": self.done_text(),
            "rate_text": self.rate_text(),
            "left_text": self.left_text(),
        })
    }
}

/// `1,234,567`: thousands grouped, as people read counts.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration as one would say it: `40 seconds`, `3 minutes`, `2 hours 10 minutes`.
pub fn rough_duration(d: Duration) -> String {
    let s = d.as_secs();
    let plural = |n: u64, one: &str| if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") };
    match s {
        0..=59 => plural(s.max(1), "second"),
        60..=3599 => plural(s.div_ceil(60), "minute"),
        _ => {
            let (hours, minutes) = (s / 3600, (s % 3600) / 60);
            if minutes == 0 {
                plural(hours, "hour")
            } else {
                format!("{} {}", plural(hours, "hour"), plural(minutes, "minute"))
            }
        }
    }
}

/// Follows the engine's progress for the pages: rows done, rate and time left, published a few
/// times a second at most.
pub struct Watcher {
    live: Live,
    upload: i64,
    rows: u64,
    counts: StatusCounts,
    done_now: u64,
    started: Instant,
    last_published: Instant,
}

/// How often the pages' progress changes at most.
const PUBLISH_EVERY: Duration = Duration::from_millis(250);

impl Watcher {
    pub fn new(live: Live, upload: i64, rows: u64, counts: &StatusCounts) -> Watcher {
        let counts = counts.to_send();
        let now = Instant::now();
        let watcher = Watcher { live, upload, rows, counts, done_now: 0, started: now, last_published: now };
        watcher.publish();
        watcher
    }

    fn publish(&self) {
        let left = self.counts.left();
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { self.done_now as f64 / secs } else { 0.0 };
        let seconds_left = (rate > 0.0).then(|| (left as f64 / rate).ceil() as u64);
        self.live.send_replace(Some(Progress {
            upload: self.upload,
            rows: self.rows,
            done: self.rows.saturating_sub(left),
            counts: counts_map(&self.counts),
            rows_per_second: (rate * 10.0).round() / 10.0,
            seconds_left,
        }));
    }
}

impl Observer for Watcher {
    fn record(&mut self, status: RowStatus) {
        self.counts.shift(RowStatus::Pending, status, 1);
        self.done_now += 1;
    }

    fn tick(&mut self) {
        if self.last_published.elapsed() >= PUBLISH_EVERY {
            self.last_published = Instant::now();
            self.publish();
        }
    }

    fn finish(&mut self) {
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_times_as_people_read_them() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(rough_duration(Duration::from_secs(0)), "1 second");
        assert_eq!(rough_duration(Duration::from_secs(40)), "40 seconds");
        assert_eq!(rough_duration(Duration::from_secs(61)), "2 minutes");
        assert_eq!(rough_duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(rough_duration(Duration::from_secs(7860)), "2 hours 11 minutes");
        let p = Progress {
            upload: 1,
            rows: 50,
            done: 31,
            counts: BTreeMap::new(),
            rows_per_second: 9.84,
            seconds_left: Some(2),
        };
        assert_eq!(
            (p.done_text(), p.rate_text(), p.left_text()),
            ("31 of 50 rows done".into(), "9.8 rows a second".into(), "about 2 seconds left".into())
        );
    }
}
