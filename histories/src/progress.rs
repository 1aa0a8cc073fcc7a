//! Progress of long work (data generation, PPO, training): a bar with rate and ETA on a
//! terminal, and plain lines every half minute when stderr goes to a file or a pipe (a batch
//! job's log), where a bar would not be drawn at all.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Time between two plain progress lines.
pub const PLAIN_INTERVAL: Duration = Duration::from_secs(30);

/// A progress report: a bar, plain lines, or nothing (`--quiet`).
pub struct Progress {
    bar: ProgressBar,
    plain: Option<Arc<Mutex<Plain>>>,
    ticker: Mutex<Option<Ticker>>,
}

/// Reports between updates too (a task training its PPO demonstrator for minutes moves no
/// counter), until stopped.
struct Ticker {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(bar: ProgressBar, plain: Arc<Mutex<Plain>>, every: Duration) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let (lock, wake) = &*flag;
            let Ok(mut stopped) = lock.lock() else { return };
            // The flag is checked before each wait: a stop that came before this thread
            // first took the lock would otherwise wait out a whole interval.
            while !*stopped {
                match wake.wait_timeout(stopped, every) {
                    Ok((guard, _)) => stopped = guard,
                    Err(_) => return,
                }
                if !*stopped {
                    report(&bar, &plain);
                }
            }
        });
        Self { stop, handle: Some(handle) }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        if let Ok(mut stopped) = self.stop.0.lock() {
            *stopped = true;
        }
        self.stop.1.notify_all();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
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
            return Self { bar, plain: None, ticker: Mutex::new(None) };
        }
        Self::plain(total, label, unit, PLAIN_INTERVAL, Box::new(std::io::stderr()))
    }

    /// No output at all.
    pub fn hidden() -> Self {
        Self { bar: ProgressBar::hidden(), plain: None, ticker: Mutex::new(None) }
    }

    /// Plain lines into `sink`, one per `every` while there is progress or not (with `every`
    /// zero: one per update; tests give a buffer).
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
        let plain = Arc::new(Mutex::new(plain));
        let ticker =
            (!every.is_zero()).then(|| Ticker::start(bar.clone(), Arc::clone(&plain), every));
        Self { bar, plain: Some(plain), ticker: Mutex::new(ticker) }
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

    /// Remove the bar (plain lines stay where they are) and stop reporting.
    pub fn finish_and_clear(&self) {
        if let Ok(mut ticker) = self.ticker.lock() {
            ticker.take();
        }
        self.bar.finish_and_clear();
    }

    /// Units done so far.
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    fn report(&self) {
        if let Some(plain) = &self.plain {
            report(&self.bar, plain);
        }
    }
}

/// One plain line, unless the last was less than the interval ago.
fn report(bar: &ProgressBar, plain: &Mutex<Plain>) {
    let Ok(mut p) = plain.lock() else { return };
    if p.last.elapsed() < p.every {
        return;
    }
    p.last = Instant::now();
    let (pos, total) = (bar.position(), bar.length().unwrap_or(0));
    let percent = if total > 0 { 100.0 * pos as f64 / total as f64 } else { 0.0 };
    let rate = bar.per_sec();
    let rate = if rate >= 10.0 { format!("{rate:.0}") } else { format!("{rate:.2}") };
    let line = format!(
        "{} [{}] {pos}/{total} {} ({percent:.1}%), {rate} {}/s, ETA {}{}{}",
        p.label,
        clock(bar.elapsed()),
        p.unit,
        p.unit,
        HumanDuration(bar.eta()),
        if p.message.is_empty() { "" } else { ", " },
        p.message,
    );
    let _ = writeln!(p.sink, "{line}");
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

    #[test]
    fn plain_lines_keep_coming_while_nothing_moves_and_stop_at_the_finish() {
        let sink = Buffer::default();
        let every = Duration::from_millis(20);
        let p = Progress::plain(100, "datagen", "steps", every, Box::new(sink.clone()));
        p.set_message("training PPO for a task");
        p.inc(10);
        std::thread::sleep(Duration::from_millis(300));
        p.finish_and_clear();
        let lines = sink.lines();
        assert!(!lines.is_empty());
        assert!(
            lines.iter().all(|l| l.contains("10/100 steps") && l.ends_with("a task")),
            "{lines:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(sink.lines().len(), lines.len(), "no line after the finish");
    }
}
