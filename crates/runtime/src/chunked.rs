//! One streamed `POST /runtime/invocation/{id}/response`, written by hand over a
//! [`TcpStream`].
//!
//! Why not `ureq`: ureq 3 sends a request body chunked but has no way to send request
//! *trailers*, and Lambda takes an error that happens after the first byte only in the
//! `Lambda-Runtime-Function-Error-Type`/`-Body` trailers. This client does only that one
//! request: request line, headers, chunks as they are written, the end with optional
//! trailers, then reads the status line of the answer.

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;

use lamina_context::header;

use crate::error::ErrorBody;
use crate::stream::{RESPONSE_MODE_HEADER, RESPONSE_MODE_STREAMING, encode_chunk, encode_end};

/// A streamed POST in progress.
pub(crate) struct ChunkedPost {
    stream: TcpStream,
}

impl ChunkedPost {
    /// Connects to `base` (`http://host:port[/prefix]/2018-06-01`, as built by
    /// `endpoint::base_url`) and sends the headers of a streamed POST to `path`, echoing
    /// `invocation_id` as `Lambda-Runtime-Invocation-Id` when there is one (visible ASCII
    /// only, as `Context` admits it, so it cannot break the head).
    pub(crate) fn start(
        base: &str,
        path: &str,
        invocation_id: Option<&str>,
        content_type: &str,
    ) -> io::Result<Self> {
        let rest = base.strip_prefix("http://").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{base} is not an http:// URL"),
            )
        })?;
        let (authority, prefix) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let mut stream = TcpStream::connect(authority)?;
        // Each chunk must leave at once: the caller's first byte is the point of streaming.
        stream.set_nodelay(true)?;
        let head = format!(
            "POST {prefix}{path} HTTP/1.1\r\nHost: {authority}\r\n\
             User-Agent: lamina-runtime/{}\r\n\
             {RESPONSE_MODE_HEADER}: {RESPONSE_MODE_STREAMING}\r\n\
             Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\
             Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\
             {echo}Connection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION"),
            echo = invocation_id
                .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
                .map(|id| format!("{}: {id}\r\n", header::INVOCATION_ID))
                .unwrap_or_default(),
        );
        stream.write_all(head.as_bytes())?;
        Ok(Self { stream })
    }

    /// Sends `data` as one chunk now (nothing for empty data).
    pub(crate) fn write_chunk(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(&encode_chunk(data))
    }

    /// Ends the body, with the error trailers if `error` is given, and returns the answer's
    /// status code.
    pub(crate) fn finish(mut self, error: Option<&ErrorBody>) -> io::Result<u16> {
        self.stream.write_all(&encode_end(error))?;
        let mut line = String::new();
        BufReader::new(&self.stream).read_line(&mut line)?;
        // `HTTP/1.1 202 Accepted`
        line.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the Runtime API answered with no HTTP status line: {line:?}"),
                )
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use std::io::Read;
    use std::net::TcpListener;
    use std::sync::mpsc;

    use super::*;

    /// Reads from `stream` until `needle` has arrived, returning everything read so far.
    fn read_until(stream: &mut TcpStream, seen: &mut Vec<u8>, needle: &[u8]) {
        let mut buf = [0u8; 1024];
        while !seen.windows(needle.len()).any(|w| w == needle) {
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed before {needle:?} arrived");
            seen.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn chunks_reach_the_peer_before_the_end_and_trailers_follow() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/2018-06-01", listener.local_addr().unwrap());
        let (first_seen, wait_first) = mpsc::channel();
        let peer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            read_until(&mut stream, &mut seen, b"5\r\nhello\r\n");
            // The first chunk is here while the sender still waits to write the second.
            first_seen.send(()).unwrap();
            read_until(&mut stream, &mut seen, b"\r\n0\r\n");
            // The trailers end with a blank line; the sender then waits for the answer.
            while !seen.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed before the end");
                seen.push(byte[0]);
            }
            stream
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(seen).unwrap()
        });
        let mut post = ChunkedPost::start(
            &base,
            "/runtime/invocation/abc/response",
            None,
            "text/plain",
        )
        .unwrap();
        post.write_chunk(b"hello").unwrap();
        wait_first.recv().unwrap();
        post.write_chunk(b" world").unwrap();
        let error = ErrorBody::new("Stream.Broke", "after two chunks");
        assert_eq!(post.finish(Some(&error)).unwrap(), 202);
        let request = peer.join().unwrap();
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("POST /2018-06-01/runtime/invocation/abc/response HTTP/1.1\r\n"));
        assert!(head.contains("\r\nLambda-Runtime-Function-Response-Mode: streaming\r\n"));
        assert!(head.contains("\r\nTransfer-Encoding: chunked\r\n"));
        assert!(body.starts_with("5\r\nhello\r\n6\r\n world\r\n0\r\nLambda-Runtime-Function-Error-Type: Stream.Broke\r\nLambda-Runtime-Function-Error-Body: "));
        assert!(body.ends_with("\r\n\r\n"));
    }
}
