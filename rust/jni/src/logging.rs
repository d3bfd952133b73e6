//! Log lines from Rust, kept for Java to collect.
//!
//! Native code cannot call into Java from rayon worker threads without attaching them to the
//! JVM, so log records go into a bounded in-memory queue; the Java side drains it after each call
//! and during progress callbacks, and forwards the lines to its own log (the ImageJ log in
//! Fiji). Panics are recorded here too instead of being printed on stderr.

use std::collections::VecDeque;
use std::sync::{Mutex, Once, PoisonError};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// Records kept at most; older ones are dropped and counted.
const CAPACITY: usize = 1000;

struct Queue {
    records: VecDeque<(Level, String)>,
    dropped: usize,
}

static QUEUE: Mutex<Queue> = Mutex::new(Queue {
    records: VecDeque::new(),
    dropped: 0,
});

fn push(level: Level, message: String) {
    let mut q = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
    if q.records.len() == CAPACITY {
        q.records.pop_front();
        q.dropped += 1;
    }
    q.records.push_back((level, message));
}

struct QueueLogger;

impl Log for QueueLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Our own crates at info; dependencies (tract is chatty) only when they warn.
        let ours = metadata.target().starts_with("brightseg");
        metadata.level() <= if ours { Level::Info } else { Level::Warn }
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            push(record.level(), record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static LOGGER: QueueLogger = QueueLogger;
static INIT: Once = Once::new();

/// Installs the queue logger and a panic hook that logs instead of printing; idempotent. Another
/// logger already installed in the process (an embedding application's) is left in place.
pub fn init() {
    INIT.call_once(|| {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(LevelFilter::Info);
        }
        std::panic::set_hook(Box::new(|info| {
            let location = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()))
                .unwrap_or_default();
            push(
                Level::Error,
                format!(
                    "native panic{location}: {}",
                    crate::error::panic_message(info.payload())
                ),
            );
        }));
    });
}

/// Separates records in [`drain`]'s text.
pub const RECORD_SEPARATOR: char = '\u{1e}';
/// Separates a record's level from its message in [`drain`]'s text.
pub const FIELD_SEPARATOR: char = '\u{1f}';

/// Takes every queued record as one string: `LEVEL<US>message` records joined by `<RS>`, oldest
/// first, with a warning first when records were dropped.
pub fn drain() -> String {
    let mut q = QUEUE.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = String::new();
    if q.dropped > 0 {
        out.push_str(&format!(
            "WARN{FIELD_SEPARATOR}{} older native log lines were dropped",
            q.dropped
        ));
        q.dropped = 0;
    }
    for (level, message) in q.records.drain(..) {
        if !out.is_empty() {
            out.push(RECORD_SEPARATOR);
        }
        out.push_str(level.as_str());
        out.push(FIELD_SEPARATOR);
        out.push_str(&message);
    }
    out
}

/// Held by tests that put records into the process-wide queue (log lines, or panics through the
/// hook), so that the test of the queue itself sees only its own records.
#[cfg(test)]
pub(crate) static GLOBAL_LOG_TEST_LOCK: Mutex<()> = Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_keeps_order_levels_and_bounds() {
        let _only_us = GLOBAL_LOG_TEST_LOCK
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        init();
        drain();
        log::info!(target: "brightseg::pipeline", "first");
        log::debug!(target: "brightseg::pipeline", "too detailed");
        log::info!(target: "tract_core", "dependency chatter");
        log::warn!(target: "tract_core", "dependency warning");
        let text = drain();
        let records: Vec<&str> = text.split(RECORD_SEPARATOR).collect();
        assert_eq!(
            records,
            vec!["INFO\u{1f}first", "WARN\u{1f}dependency warning"]
        );
        assert_eq!(drain(), "");
        for i in 0..CAPACITY + 5 {
            log::info!(target: "brightseg", "line {i}");
        }
        let text = drain();
        assert!(text.starts_with("WARN\u{1f}5 older native log lines were dropped"));
        assert!(text.ends_with(&format!("line {}", CAPACITY + 4)));
    }
}
