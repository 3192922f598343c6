//! Splitting a byte stream into log lines, and keeping the last few for error messages.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::Instant;

use crate::log::Log;
use crate::process::{poll, set_nonblocking};

/// Longest line forwarded in one piece; a longer one is cut into pieces of this size so a
/// handler printing without newlines cannot grow the bootstrap's memory without bound.
const MAX_LINE: usize = 64 * 1024;
/// Lines of stderr kept for error messages.
const TAIL_LINES: usize = 10;
/// Longest line kept in the tail, in bytes; error messages stay readable.
const TAIL_LINE_MAX: usize = 512;

/// Cuts bytes into lines, handing each complete line (without `\n`, `\r\n` trimmed) to a sink.
#[derive(Default, Debug)]
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

/// `. Last lines of stderr:\n...` or nothing.
pub(crate) fn tail_suffix(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; last lines of stderr:\n{}", tail.join("\n"))
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

    pub(crate) fn lines(&self) -> Vec<String> {
        self.lines.iter().cloned().collect()
    }
}

/// A child's stdout and stderr, forwarded to the log line by line by whoever polls them
/// (so a reply is returned only after the lines printed before it are logged).
#[derive(Debug)]
pub(crate) struct Output {
    streams: [Option<File>; 2],
    splitters: [LineSplitter; 2],
    /// The last lines of stderr, for error messages.
    tail: Tail,
    log: Log,
}

impl Output {
    /// Takes over a child's stdout and stderr (made non-blocking).
    pub(crate) fn new(stdout: Option<File>, stderr: Option<File>, log: Log) -> io::Result<Self> {
        for file in [&stdout, &stderr].into_iter().flatten() {
            set_nonblocking(file)?;
        }
        Ok(Self {
            streams: [stdout, stderr],
            splitters: Default::default(),
            tail: Tail::default(),
            log,
        })
    }

    /// Pollfds for the open streams, each with the index to pass to [`Output::pump`].
    pub(crate) fn pollfds(&self) -> Vec<(usize, libc::pollfd)> {
        self.streams
            .iter()
            .enumerate()
            .filter_map(|(index, stream)| {
                stream.as_ref().map(|file| {
                    let pollfd = libc::pollfd {
                        fd: file.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    };
                    (index, pollfd)
                })
            })
            .collect()
    }

    /// Reads what one stream has (without waiting) and logs its complete lines.
    /// Returns `false` when there was nothing to read.
    pub(crate) fn pump(&mut self, index: usize, buffer: &mut [u8]) -> bool {
        let Some(file) = &mut self.streams[index] else {
            return false;
        };
        let log = &self.log;
        let tail = &mut self.tail;
        let mut emit = |line: &[u8]| {
            log.line(line);
            if index == 1 {
                tail.push(line);
            }
        };
        match file.read(buffer) {
            Ok(0) => {
                self.splitters[index].finish(&mut emit);
                self.streams[index] = None;
                true
            }
            Ok(n) => {
                self.splitters[index].feed(&buffer[..n], &mut emit);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => {
                self.splitters[index].finish(&mut emit);
                self.streams[index] = None;
                false
            }
        }
    }

    /// Logs everything already written to both streams, without waiting for more.
    pub(crate) fn drain_available(&mut self, buffer: &mut [u8]) {
        for index in 0..2 {
            while self.pump(index, buffer) {}
        }
    }

    /// Logs both streams to their end (the writers are dead), waiting at most until `until`.
    pub(crate) fn drain_to_eof(&mut self, until: Instant, buffer: &mut [u8]) {
        while self.streams.iter().any(Option::is_some) && Instant::now() < until {
            let (indices, mut fds): (Vec<usize>, Vec<libc::pollfd>) =
                self.pollfds().into_iter().unzip();
            if poll(&mut fds, Some(until)).is_err() {
                break;
            }
            for (index, fd) in indices.into_iter().zip(fds) {
                if fd.revents != 0 {
                    self.pump(index, buffer);
                }
            }
        }
    }

    /// The last lines of stderr.
    pub(crate) fn tail(&self) -> Vec<String> {
        self.tail.lines()
    }
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
