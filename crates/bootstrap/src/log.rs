//! The function log: where handler output goes, one whole line at a time.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A shared, line-atomic sink for the function log.
///
/// Lines from several processes and threads never interleave mid-line. In Lambda the log is
/// the bootstrap's stdout; tests use [`Log::memory`] to read what was logged.
#[derive(Clone)]
pub struct Log {
    sink: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Log")
    }
}

impl Log {
    /// A log that writes to the bootstrap's stdout (Lambda sends it to CloudWatch Logs).
    pub fn stdout() -> Self {
        Self::to_writer(std::io::stdout())
    }

    /// A log that writes to any writer.
    pub fn to_writer(writer: impl Write + Send + 'static) -> Self {
        Self {
            sink: Arc::new(Mutex::new(Box::new(writer))),
        }
    }

    /// A log kept in memory, and the buffer it fills (for tests).
    pub fn memory() -> (Self, Arc<Mutex<Vec<u8>>>) {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let log = Self::to_writer(SharedBuffer(Arc::clone(&buffer)));
        (log, buffer)
    }

    /// Writes `line` (without its terminator) followed by `\n`, in one piece. Failures to write
    /// the log are ignored: losing a log line must not fail an invocation.
    pub fn line(&self, line: &[u8]) {
        let mut sink = match self.sink.lock() {
            Ok(sink) => sink,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = sink.write_all(line);
        let _ = sink.write_all(b"\n");
        let _ = sink.flush();
    }

    /// Logs a message from the bootstrap itself, prefixed so it stands out from handler output.
    pub fn note(&self, message: &str) {
        self.line(format!("lamina-bootstrap: {message}").as_bytes());
    }
}

struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut buffer) => buffer.extend_from_slice(bytes),
            Err(poisoned) => poisoned.into_inner().extend_from_slice(bytes),
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
