//! The worker protocol, version 1 (specified in `PROTOCOL.md` at the repository root).
//!
//! Every message is a header line of ASCII words separated by single spaces and ended by
//! `\n` (at most [`MAX_HEADER_LINE`] bytes): a kind, then the byte length of each field. The
//! fields follow the line back to back, exactly that many bytes each, with nothing after them.
//! Lengths make the protocol binary-safe: an event may hold any bytes.
//!
//! | direction | message |
//! |---|---|
//! | bootstrap → worker (fd 3) | `INVOKE <context> <event>` |
//! | worker → bootstrap (fd 4) | `READY`, `INIT_ERROR <type> <message> <stack>`, `RESPONSE <body>`, `ERROR <type> <message> <stack>` |

use crate::invocation::{Context, InvocationError, context_variables};

/// Version announced to workers in [`env::PROTOCOL`].
pub const VERSION: &str = "1";
/// Descriptor on which a worker reads `INVOKE` messages.
pub const REQUEST_FD: i32 = 3;
/// Descriptor on which a worker writes its replies.
pub const REPLY_FD: i32 = 4;
/// Longest header line accepted, terminator included.
pub const MAX_HEADER_LINE: usize = 1024;
/// Largest field accepted from a worker (Lambda's own limit on a response is 6 MB).
pub const MAX_FIELD: u64 = 64 * 1024 * 1024;

/// Environment variables that announce the protocol to a worker.
pub mod env {
    /// The protocol version, `1`.
    pub const PROTOCOL: &str = "LAMINA_PROTOCOL";
    /// Descriptor to read requests from, `3`.
    pub const IN: &str = "LAMINA_PROTOCOL_IN";
    /// Descriptor to write replies to, `4`.
    pub const OUT: &str = "LAMINA_PROTOCOL_OUT";
}

/// What a worker sent that the protocol does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// No `\n` within [`MAX_HEADER_LINE`] bytes.
    #[error("a header line longer than {MAX_HEADER_LINE} bytes (starting `{start}`)")]
    LineTooLong {
        /// The first bytes, lossily decoded.
        start: String,
    },
    /// A kind this side does not know, or the wrong number of lengths for it.
    #[error("an unknown or malformed header line `{line}`")]
    BadHeader {
        /// The line, lossily decoded.
        line: String,
    },
    /// A field longer than [`MAX_FIELD`].
    #[error("a field of {length} bytes, more than the {MAX_FIELD} allowed")]
    FieldTooLarge {
        /// The announced length.
        length: u64,
    },
}

/// One message from a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The worker has loaded its handler and waits for `INVOKE`.
    Ready,
    /// The worker could not load its handler; it exits after sending this.
    InitError(InvocationError),
    /// The invocation succeeded with this response body.
    Response(Vec<u8>),
    /// The invocation failed.
    Error(InvocationError),
}

/// One `INVOKE` message, decoded (what a worker sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `NAME=value` pairs in the order sent.
    pub context: Vec<(String, String)>,
    /// The event, byte for byte.
    pub event: Vec<u8>,
}

/// The header line and context block of an `INVOKE` message; the event bytes follow it.
pub fn encode_invoke_head(context: &Context, event_len: usize) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in context_variables(context) {
        block.extend_from_slice(name.as_bytes());
        block.push(b'=');
        block.extend_from_slice(value.as_bytes());
        block.push(b'\n');
    }
    let mut head = format!("INVOKE {} {}\n", block.len(), event_len).into_bytes();
    head.extend_from_slice(&block);
    head
}

/// A whole reply message, as a worker writes it.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let error = |kind: &str, e: &InvocationError| {
        let stack = e.stack_trace.join("\n");
        let mut out = format!(
            "{kind} {} {} {}\n",
            e.error_type.len(),
            e.message.len(),
            stack.len()
        )
        .into_bytes();
        out.extend_from_slice(e.error_type.as_bytes());
        out.extend_from_slice(e.message.as_bytes());
        out.extend_from_slice(stack.as_bytes());
        out
    };
    match reply {
        Reply::Ready => b"READY\n".to_vec(),
        Reply::InitError(e) => error("INIT_ERROR", e),
        Reply::Error(e) => error("ERROR", e),
        Reply::Response(body) => {
            let mut out = format!("RESPONSE {}\n", body.len()).into_bytes();
            out.extend_from_slice(body);
            out
        }
    }
}

/// Incremental decoder: bytes in as they arrive, whole messages out.
#[derive(Debug, Default)]
pub struct Decoder {
    buffer: Vec<u8>,
}

impl Decoder {
    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a whole message.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// The next whole reply, if one has fully arrived.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ProtocolError> {
        let Some((kind, fields)) = self.next_message()? else {
            return Ok(None);
        };
        let mut fields = fields.into_iter();
        let mut error = || {
            let mut text =
                || String::from_utf8_lossy(&fields.next().unwrap_or_default()).into_owned();
            let error_type = text();
            let message = text();
            let stack = text();
            InvocationError {
                error_type,
                message,
                stack_trace: stack.lines().map(str::to_owned).collect(),
            }
        };
        Ok(Some(match kind {
            Kind::Ready => Reply::Ready,
            Kind::InitError => Reply::InitError(error()),
            Kind::Error => Reply::Error(error()),
            Kind::Response => Reply::Response(fields.next().unwrap_or_default()),
            Kind::Invoke => {
                return Err(ProtocolError::BadHeader {
                    line: "INVOKE (only the bootstrap sends INVOKE)".into(),
                });
            }
        }))
    }

    /// The next whole request, if one has fully arrived (the worker's side of the protocol).
    pub fn next_request(&mut self) -> Result<Option<Request>, ProtocolError> {
        let Some((_, fields)) = self.next_message()? else {
            return Ok(None);
        };
        let mut fields = fields.into_iter();
        let context = fields.next().unwrap_or_default();
        let context = String::from_utf8_lossy(&context)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Some(Request {
            context,
            event: fields.next().unwrap_or_default(),
        }))
    }

    fn next_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        let window = &self.buffer[..self.buffer.len().min(MAX_HEADER_LINE)];
        let Some(newline) = window.iter().position(|&b| b == b'\n') else {
            if self.buffer.len() >= MAX_HEADER_LINE {
                return Err(ProtocolError::LineTooLong {
                    start: String::from_utf8_lossy(&self.buffer[..40]).into_owned(),
                });
            }
            return Ok(None);
        };
        let line = &self.buffer[..newline];
        let bad = || ProtocolError::BadHeader {
            line: String::from_utf8_lossy(line).into_owned(),
        };
        let text = std::str::from_utf8(line).map_err(|_| bad())?;
        let mut words = text.split(' ');
        let kind = match words.next() {
            Some("READY") => Kind::Ready,
            Some("INIT_ERROR") => Kind::InitError,
            Some("RESPONSE") => Kind::Response,
            Some("ERROR") => Kind::Error,
            Some("INVOKE") => Kind::Invoke,
            _ => return Err(bad()),
        };
        let mut lengths = Vec::new();
        for word in words {
            if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let length: u64 = word.parse().map_err(|_| bad())?;
            if length > MAX_FIELD {
                return Err(ProtocolError::FieldTooLarge { length });
            }
            lengths.push(length as usize);
        }
        if lengths.len() != kind.field_count() {
            return Err(bad());
        }
        let total: usize = lengths.iter().sum();
        let start = newline + 1;
        if self.buffer.len() < start + total {
            return Ok(None);
        }
        let mut fields = Vec::with_capacity(lengths.len());
        let mut at = start;
        for length in lengths {
            fields.push(self.buffer[at..at + length].to_vec());
            at += length;
        }
        self.buffer.drain(..at);
        Ok(Some((kind, fields)))
    }
}

/// A message's kind and its fields.
type Message = (Kind, Vec<Vec<u8>>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ready,
    InitError,
    Response,
    Error,
    Invoke,
}

impl Kind {
    fn field_count(self) -> usize {
        match self {
            Kind::Ready => 0,
            Kind::Response => 1,
            Kind::Invoke => 2,
            Kind::InitError | Kind::Error => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_bytes(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 256) as u8).collect()
    }

    #[test]
    fn replies_round_trip_byte_by_byte() {
        let replies = [
            Reply::Ready,
            Reply::Response(all_bytes(1000)),
            Reply::Response(Vec::new()),
            Reply::Error(InvocationError {
                error_type: "ValueError".into(),
                message: "bad\nvalue é".into(),
                stack_trace: vec!["  File \"h.py\", line 3".into(), "    raise".into()],
            }),
            Reply::InitError(InvocationError::new(
                "Runtime.ImportModuleError",
                "no module",
            )),
        ];
        let mut stream = Vec::new();
        for reply in &replies {
            stream.extend(encode_reply(reply));
        }
        let mut decoder = Decoder::default();
        let mut decoded = Vec::new();
        for byte in stream {
            decoder.push(&[byte]);
            while let Some(reply) = decoder.next_reply().unwrap() {
                decoded.push(reply);
            }
        }
        assert_eq!(decoded, replies);
        assert_eq!(decoder.pending(), 0);
    }

    #[test]
    fn invoke_carries_context_and_any_bytes() {
        let deadline = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_000);
        let mut context = Context::new("req-1", deadline);
        context.invoked_function_arn = Some("arn:aws:lambda:us-east-1:123:function:f".into());
        context.trace_id = Some("Root=1-abc;Sampled=1".into());
        context.client_context = Some(serde_json::json!({"a": "line\nbreak"}));
        let event = all_bytes(70_000);
        let mut stream = encode_invoke_head(&context, event.len());
        stream.extend_from_slice(&event);
        let mut decoder = Decoder::default();
        decoder.push(&stream);
        let request = decoder.next_request().unwrap().unwrap();
        assert_eq!(request.event, event);
        let context: Vec<String> = request
            .context
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        insta::assert_snapshot!(context.join("\n"), @r#"
        LAMINA_REQUEST_ID=req-1
        LAMINA_DEADLINE_MS=1700000000000
        LAMINA_FUNCTION_ARN=arn:aws:lambda:us-east-1:123:function:f
        LAMINA_TRACE_ID=Root=1-abc;Sampled=1
        LAMINA_CLIENT_CONTEXT={"a":"line\nbreak"}
        "#);
    }

    #[test]
    fn malformed_headers_are_errors() {
        for bad in [
            &b"HELLO\n"[..],
            b"RESPONSE\n",
            b"RESPONSE 1 2\n",
            b"RESPONSE -1\n",
            b"RESPONSE  1\n",
            b"ERROR 1 2\n",
        ] {
            let mut decoder = Decoder::default();
            decoder.push(bad);
            assert!(
                matches!(decoder.next_reply(), Err(ProtocolError::BadHeader { .. })),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut decoder = Decoder::default();
        decoder.push(&[b'x'; MAX_HEADER_LINE]);
        assert!(matches!(
            decoder.next_reply(),
            Err(ProtocolError::LineTooLong { .. })
        ));
        let mut decoder = Decoder::default();
        decoder.push(b"RESPONSE 99999999999\n");
        assert!(matches!(
            decoder.next_reply(),
            Err(ProtocolError::FieldTooLarge { .. })
        ));
    }
}
