//! A function's log, and the platform lines Lambda writes into it (START, END, REPORT, ...).

use std::fmt::Write as _;
use std::time::Duration;

/// The log kept for one function; the oldest text is dropped past this many bytes so a
/// long-running `serve` does not grow without bound.
const FUNCTION_LOG_CAP: usize = 16 * 1024 * 1024;

/// How much of an invocation's log `X-Amz-Log-Type: Tail` returns, as on AWS.
pub const TAIL_BYTES: usize = lamina_context::facts::LOG_TAIL_BYTES;

/// Everything a function printed, plus platform lines, in order.
#[derive(Default)]
pub struct FunctionLog {
    text: String,
}

impl FunctionLog {
    /// Appends `line` and a newline, dropping the oldest lines past the cap.
    pub fn push_line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        if self.text.len() > FUNCTION_LOG_CAP {
            let mut cut = self.text.len() - FUNCTION_LOG_CAP / 2;
            while !self.text.is_char_boundary(cut) {
                cut += 1;
            }
            let cut = self.text[cut..].find('\n').map_or(cut, |i| cut + i + 1);
            self.text.drain(..cut);
        }
    }

    /// The whole log so far.
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// The last [`TAIL_BYTES`] of `log`, cut at a character boundary.
pub fn tail(log: &str) -> &str {
    let mut start = log.len().saturating_sub(TAIL_BYTES);
    while !log.is_char_boundary(start) {
        start += 1;
    }
    &log[start..]
}

/// `START RequestId: {id} Version: $LATEST`
pub fn start_line(request_id: &str) -> String {
    format!("START RequestId: {request_id} Version: $LATEST")
}

/// `END RequestId: {id}`
pub fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}")
}

/// What a REPORT line reports about one invocation.
pub struct Report<'a> {
    pub request_id: &'a str,
    pub duration: Duration,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u64,
    /// Set on the first invocation an instance serves.
    pub init_duration: Option<Duration>,
    /// `timeout` or `error` when the invocation did not end normally.
    pub status: Option<&'a str>,
    pub error_type: Option<&'a str>,
}

/// A REPORT line in AWS's format: tab-separated fields with a trailing tab. Billed duration
/// includes the init duration, as it does for custom runtimes (`provided.al2023`).
pub fn report_line(report: &Report<'_>) -> String {
    let duration_ms = millis(report.duration);
    let init_ms = report.init_duration.map(millis);
    let billed = (duration_ms + init_ms.unwrap_or(0.0)).ceil().max(1.0);
    let mut line = format!(
        "REPORT RequestId: {}\tDuration: {duration_ms:.2} ms\tBilled Duration: {billed:.0} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        report.request_id, report.memory_size_mb, report.max_memory_used_mb
    );
    if let Some(init_ms) = init_ms {
        let _ = write!(line, "Init Duration: {init_ms:.2} ms\t");
    }
    if let Some(status) = report.status {
        let _ = write!(line, "Status: {status}\t");
    }
    if let Some(error_type) = report.error_type {
        let _ = write!(line, "Error Type: {error_type}\t");
    }
    line
}

/// `INIT_REPORT Init Duration: ... ms\tPhase: init\tStatus: {error|timeout}\tError Type: ...`
pub fn init_report_line(init_duration: Duration, status: &str, error_type: &str) -> String {
    format!(
        "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: {status}\tError Type: {error_type}",
        millis(init_duration)
    )
}

/// The emulator's own set-up of an instance before its bootstrap was executed (shown with
/// `verbose` only): `lamina-emulator: instance 1 set up in 41.07 ms before its bootstrap ran
/// (cgroup, namespaces, mounts); not part of Init Duration`.
pub fn setup_line(instance: u64, setup: Duration, namespaced: bool) -> String {
    let what = if namespaced {
        "cgroup, namespaces, mounts"
    } else {
        "cgroup, fork and exec"
    };
    format!(
        "lamina-emulator: instance {instance} set up in {:.2} ms before its bootstrap ran ({what}); not part of Init Duration",
        millis(setup)
    )
}

/// Seconds with two decimals, as in `Task timed out after 3.00 seconds`.
pub fn seconds(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_4_kib_on_a_char_boundary() {
        let log = format!("{}{}", "é".repeat(3000), "x");
        let tail = tail(&log);
        assert!(tail.len() <= TAIL_BYTES);
        assert!(tail.ends_with('x'));
        assert_eq!(super::tail("short"), "short");
    }

    #[test]
    fn function_log_drops_oldest_lines_past_the_cap() {
        let mut log = FunctionLog::default();
        let line = "y".repeat(1024 * 1024);
        for _ in 0..20 {
            log.push_line(&line);
        }
        log.push_line("last");
        assert!(log.text().len() <= FUNCTION_LOG_CAP);
        assert!(log.text().ends_with("last\n"));
        assert!(log.text().starts_with('y'));
    }
}
