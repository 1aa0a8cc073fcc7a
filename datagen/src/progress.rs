//! Progress of long work (data generation, PPO, training): a bar with rate and ETA on a
//! terminal, and plain lines every half minute when stderr goes to a file or a pipe (a batch
//! job's log), where a bar would not be drawn at all.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Seconds between two plain progress lines.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(30);

/// A progress report: a bar, plain lines, or nothing (`--quiet`).
pub struct Progress {
    bar: ProgressBar,
    plain: Option<Mutex<Plain>>,
}

struct Plain {
    label: String,
    unit: String,
    every: Duration,
    last: Instant,
    message: String,
    sink: Box<dyn Write + Send>,
}

impl Progress {
    /// Progress over `total` units (`unit`: "steps", "transitions"), named `label` in its
    /// lines. Not `visible`: nothing is shown. Otherwise a bar where stderr is a terminal, and
    /// plain lines on stderr where it is not.
    pub fn new(visible: bool, total: u64, label: &str, unit: &str) -> Self {
        if !visible {
            return Self::hidden();
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            let template = format!(
                "{{spinner}} {label} [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, ETA {{eta}}) {{msg}}"
            );
            bar.set_style(
                ProgressStyle::with_template(&template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            return Self { bar, plain: None };
        }
        Self::plain(total, label, unit, PLAIN_INTERVAL, Box::new(std::io::stderr()))
    }

    /// No output at all.
    pub fn hidden() -> Self {
        Self { bar: ProgressBar::hidden(), plain: None }
    }

    /// Plain lines into `sink`, at most one per `every` (tests give a buffer and zero).
    pub fn plain(
        total: u64,
        label: &str,
        unit: &str,
        every: Duration,
        sink: Box<dyn Write + Send>,
    ) -> Self {
        // The bar keeps counting (position, rate, ETA) without drawing anything.
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        let plain = Plain {
            label: label.into(),
            unit: unit.into(),
            every,
            last: Instant::now(),
            message: String::new(),
            sink,
        };
        Self { bar, plain: Some(Mutex::new(plain)) }
    }

    /// Advance by `n` units.
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.report();
    }

    /// Set the position.
    pub fn set_position(&self, pos: u64) {
        self.bar.set_position(pos);
        self.report();
    }

    /// The message after the counts (the latest loss or return).
    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.plain {
            Some(plain) => {
                if let Ok(mut p) = plain.lock() {
                    p.message = message;
                }
            }
            None => self.bar.set_message(message),
        }
    }

    /// A line of its own (a finished task, a note), above the bar or among the plain lines.
    pub fn println(&self, line: impl AsRef<str>) {
        match &self.plain {
            Some(plain) => {
                if let Ok(mut p) = plain.lock() {
                    let _ = writeln!(p.sink, "{}", line.as_ref());
                }
            }
            None => self.bar.println(line.as_ref()),
        }
    }

    /// Remove the bar (plain lines stay where they are).
    pub fn finish_and_clear(&self) {
        self.bar.finish_and_clear();
    }

    /// Units done so far.
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    fn report(&self) {
        let Some(plain) = &self.plain else { return };
        let Ok(mut p) = plain.lock() else { return };
        if p.last.elapsed() < p.every {
            return;
        }
        p.last = Instant::now();
        let (pos, total) = (self.bar.position(), self.bar.length().unwrap_or(0));
        let percent = if total > 0 { 100.0 * pos as f64 / total as f64 } else { 0.0 };
        let rate = self.bar.per_sec();
        let rate = if rate >= 10.0 { format!("{rate:.0}") } else { format!("{rate:.2}") };
        let line = format!(
            "{} [{}] {pos}/{total} {} ({percent:.1}%), {rate} {}/s, ETA {}{}{}",
            p.label,
            clock(self.bar.elapsed()),
            p.unit,
            p.unit,
            HumanDuration(self.bar.eta()),
            if p.message.is_empty() { "" } else { ", " },
            p.message,
        );
        let _ = writeln!(p.sink, "{line}");
    }
}

/// `h:mm:ss`.
fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A sink the test can read back.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(String::from)
                .collect()
        }
    }

    #[test]
    fn plain_lines_carry_counts_rate_eta_and_message() {
        let sink = Buffer::default();
        let p = Progress::plain(200, "train", "steps", Duration::ZERO, Box::new(sink.clone()));
        p.set_message("loss 1.2345");
        p.inc(50);
        p.println("task done");
        p.set_position(100);
        let lines = sink.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].starts_with("train [0:00:00] 50/200 steps (25.0%), "), "{}", lines[0]);
        assert!(lines[0].contains(" steps/s, ETA ") && lines[0].ends_with(", loss 1.2345"));
        assert_eq!(lines[1], "task done");
        assert!(lines[2].contains("100/200 steps (50.0%)"), "{}", lines[2]);
        assert_eq!(p.position(), 100);
    }

    #[test]
    fn plain_lines_wait_for_the_interval_and_hidden_progress_says_nothing() {
        let sink = Buffer::default();
        let p = Progress::plain(
            10,
            "datagen",
            "transitions",
            Duration::from_secs(3600),
            Box::new(sink.clone()),
        );
        p.inc(5);
        p.inc(5);
        p.println("a finished task still gets its line");
        assert_eq!(sink.lines(), vec!["a finished task still gets its line".to_string()]);
        let quiet = Progress::new(false, 10, "x", "steps");
        quiet.inc(3);
        assert_eq!(quiet.position(), 3);
    }
}
