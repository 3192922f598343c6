//! Splitting a byte stream into log lines, and keeping the last few for error messages.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex};

use crate::log::Log;

/// Longest line forwarded in one piece; a longer one is cut into pieces of this size so a
/// handler printing without newlines cannot grow the bootstrap's memory without bound.
const MAX_LINE: usize = 64 * 1024;
/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 10;
/// Longest line kept in the tail, in bytes; error messages stay readable.
const TAIL_LINE_MAX: usize = 512;

/// Cuts bytes into lines, handing each complete line (without `\n`, `\r\n` trimmed) to a sink.
#[derive(Default)]
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Feeds bytes; complete lines go to `emit`.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(&[u8])) {
        while let Some(newline) = bytes.iter().position(|&b| b == b'\n') {
            self.pending.extend_from_slice(&bytes[..newline]);
            if self.pending.last() == Some(&b'\r') {
                self.pending.pop();
            }
            emit(&self.pending);
            self.pending.clear();
            bytes = &bytes[newline + 1..];
        }
        self.pending.extend_from_slice(bytes);
        while self.pending.len() >= MAX_LINE {
            let rest = self.pending.split_off(MAX_LINE);
            emit(&self.pending);
            self.pending = rest;
        }
    }

    /// Ends the stream: a last line without `\n` is emitted too.
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

/// The last lines of a stream, for error messages.
#[derive(Default, Debug)]
pub(crate) struct Tail {
    lines: VecDeque<String>,
}

impl Tail {
    pub(crate) fn push(&mut self, line: &[u8]) {
        let mut text = String::from_utf8_lossy(line).into_owned();
        if text.len() > TAIL_LINE_MAX {
            let mut cut = TAIL_LINE_MAX;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(text);
    }

    pub(crate) fn clear(&mut self) {
        self.lines.clear();
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// Shared tail, filled by a forwarding thread and read when a process fails.
pub(crate) type SharedTail = Arc<Mutex<Tail>>;

pub(crate) fn tail_lines(tail: &SharedTail) -> Vec<String> {
    match tail.lock() {
        Ok(tail) => tail.lines(),
        Err(poisoned) => poisoned.into_inner().lines(),
    }
}

pub(crate) fn clear_tail(tail: &SharedTail) {
    match tail.lock() {
        Ok(mut tail) => tail.clear(),
        Err(poisoned) => poisoned.into_inner().clear(),
    }
}

/// Forwards a stream to the log line by line until EOF, also keeping its tail if given.
/// Meant to run on its own thread for the life of a process.
pub(crate) fn forward(mut stream: impl Read, log: &Log, tail: Option<&SharedTail>) {
    let mut splitter = LineSplitter::default();
    let mut emit = |line: &[u8]| {
        log.line(line);
        if let Some(tail) = tail {
            match tail.lock() {
                Ok(mut tail) => tail.push(line),
                Err(poisoned) => poisoned.into_inner().push(line),
            }
        }
    };
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => splitter.feed(&buffer[..n], &mut emit),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    splitter.finish(&mut emit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_across_feeds_and_trims_crlf() {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        let mut emit = |l: &[u8]| lines.push(String::from_utf8_lossy(l).into_owned());
        splitter.feed(b"one\r\ntw", &mut emit);
        splitter.feed(b"o\n\nthree", &mut emit);
        splitter.finish(&mut emit);
        assert_eq!(lines, ["one", "two", "", "three"]);
    }

    #[test]
    fn cuts_overlong_lines() {
        let mut splitter = LineSplitter::default();
        let mut lengths = Vec::new();
        let mut emit = |l: &[u8]| lengths.push(l.len());
        splitter.feed(&vec![b'x'; MAX_LINE * 2 + 5], &mut emit);
        splitter.finish(&mut emit);
        assert_eq!(lengths, [MAX_LINE, MAX_LINE, 5]);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let mut tail = Tail::default();
        for i in 0..15 {
            tail.push(format!("line {i}").as_bytes());
        }
        let lines = tail.lines();
        assert_eq!(lines.len(), TAIL_LINES);
        assert_eq!(lines[0], "line 5");
        assert_eq!(lines[9], "line 14");
    }
}
