//! A [`log::Log`] writing Lambda's two log formats to stderr.
//!
//! Text (`AWS_LAMBDA_LOG_FORMAT=Text`, the default), tab-separated like Lambda's managed
//! runtimes:
//! `2024-01-01T00:00:00.000Z<TAB>8476a536-...<TAB>INFO<TAB>message` (no request-id field
//! outside an invocation, i.e. during init).
//!
//! JSON (`AWS_LAMBDA_LOG_FORMAT=JSON`), one object per line:
//! `{"timestamp":"2024-01-01T00:00:00.000Z","level":"INFO","requestId":"8476a536-...","message":"..."}`
//! (`requestId` left out outside an invocation).
//!
//! Records below `AWS_LAMBDA_LOG_LEVEL` (default `INFO`) are dropped, in both formats.

use std::cell::RefCell;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use lamina_context::{LogFormat, LogLevel};
use serde::Serialize;

use lamina_context::time::rfc3339_millis;

/// Request id of the invocation in progress, for log lines. Serving one invocation at a time
/// it is a global, not a thread-local, so lines logged from threads the handler spawns carry
/// it too; serving several at once ([`set_concurrent`]) each slot's thread has its own.
static CURRENT_REQUEST_ID: Mutex<Option<String>> = Mutex::new(None);
static CONCURRENT: AtomicBool = AtomicBool::new(false);

thread_local! {
    static SLOT_REQUEST_ID: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// From now on, request ids are per thread: several invocations run at once.
pub(crate) fn set_concurrent() {
    CONCURRENT.store(true, Ordering::Relaxed);
}

/// Sets (or clears, with `None`) the request id put on log lines.
pub(crate) fn set_request_id(request_id: Option<&str>) {
    if CONCURRENT.load(Ordering::Relaxed) {
        SLOT_REQUEST_ID.with(|slot| *slot.borrow_mut() = request_id.map(Into::into));
        return;
    }
    let mut current = CURRENT_REQUEST_ID
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *current = request_id.map(Into::into);
}

fn current_request_id() -> Option<String> {
    if CONCURRENT.load(Ordering::Relaxed) {
        return SLOT_REQUEST_ID.with(|slot| slot.borrow().clone());
    }
    CURRENT_REQUEST_ID
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// The logger the runtime installs.
pub(crate) struct LambdaLogger {
    format: LogFormat,
    filter: log::LevelFilter,
}

/// `log`'s filter for a Lambda level. `FATAL` keeps nothing, since `log` has no fatal level.
pub(crate) fn level_filter(level: LogLevel) -> log::LevelFilter {
    match level {
        LogLevel::Trace => log::LevelFilter::Trace,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Fatal => log::LevelFilter::Off,
    }
}

fn level_name(level: log::Level) -> &'static str {
    match level {
        log::Level::Error => "ERROR",
        log::Level::Warn => "WARN",
        log::Level::Info => "INFO",
        log::Level::Debug => "DEBUG",
        log::Level::Trace => "TRACE",
    }
}

#[derive(Serialize)]
struct JsonLine<'a> {
    timestamp: &'a str,
    level: &'a str,
    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    message: &'a str,
}

impl LambdaLogger {
    pub(crate) fn new(format: LogFormat, level: LogLevel) -> Self {
        Self {
            format,
            filter: level_filter(level),
        }
    }

    /// Installs this logger for the `log` facade. If the program already installed its own
    /// logger, that one is kept and this returns `false`.
    pub(crate) fn install(self) -> bool {
        let filter = self.filter;
        if log::set_boxed_logger(Box::new(self)).is_ok() {
            log::set_max_level(filter);
            true
        } else {
            false
        }
    }

    /// One log line, without the trailing newline.
    pub(crate) fn format_line(
        &self,
        time: SystemTime,
        level: log::Level,
        request_id: Option<&str>,
        message: &str,
    ) -> String {
        let timestamp = rfc3339_millis(time);
        let level = level_name(level);
        match self.format {
            LogFormat::Text => {
                // Like Lambda's Node.js runtime: `\r` keeps a multi-line message one log
                // event in CloudWatch, which splits events at `\n`.
                let message = message.replace('\n', "\r");
                match request_id {
                    Some(request_id) => format!("{timestamp}\t{request_id}\t{level}\t{message}"),
                    None => format!("{timestamp}\t{level}\t{message}"),
                }
            }
            LogFormat::Json => serde_json::to_string(&JsonLine {
                timestamp: &timestamp,
                level,
                request_id,
                message,
            })
            // A struct of strings always serializes; the fallback only keeps this panic-free.
            .unwrap_or_else(|_| format!("{timestamp}\t{level}\t{message}")),
        }
    }
}

impl log::Log for LambdaLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= self.filter
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let mut line = self.format_line(
            SystemTime::now(),
            record.level(),
            current_request_id().as_deref(),
            &message,
        );
        line.push('\n');
        // One write per line so lines from several threads do not interleave; a failed write
        // to stderr has nowhere better to be reported.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Log;
    use std::time::{Duration, UNIX_EPOCH};

    const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

    fn lines(format: LogFormat) -> String {
        let logger = LambdaLogger::new(format, LogLevel::Info);
        let time = UNIX_EPOCH + Duration::from_millis(1_700_000_003_042);
        [
            logger.format_line(time, log::Level::Info, None, "init done"),
            logger.format_line(time, log::Level::Info, Some(REQUEST_ID), "Hello, Ada!"),
            logger.format_line(
                time,
                log::Level::Error,
                Some(REQUEST_ID),
                "quote \" tab \t newline \n end",
            ),
        ]
        .join("\n")
    }

    #[test]
    fn text_lines() {
        insta::assert_snapshot!(lines(LogFormat::Text));
    }

    #[test]
    fn json_lines() {
        insta::assert_snapshot!(lines(LogFormat::Json));
    }

    #[test]
    fn level_filter_drops_records_below_the_setting() {
        let logger = LambdaLogger::new(LogFormat::Text, LogLevel::Warn);
        let metadata = |level| log::Metadata::builder().level(level).build();
        assert!(logger.enabled(&metadata(log::Level::Error)));
        assert!(logger.enabled(&metadata(log::Level::Warn)));
        assert!(!logger.enabled(&metadata(log::Level::Info)));
        let fatal = LambdaLogger::new(LogFormat::Json, LogLevel::Fatal);
        assert!(!fatal.enabled(&metadata(log::Level::Error)));
        let trace = LambdaLogger::new(LogFormat::Json, LogLevel::Trace);
        assert!(trace.enabled(&metadata(log::Level::Trace)));
    }
}
