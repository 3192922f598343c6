//! The worker protocol, version 2 (specified in `PROTOCOL.md` at the repository root).
//!
//! Every message is a header line of ASCII words separated by single spaces and ended by
//! `\n` (at most [`MAX_HEADER_LINE`] bytes): a kind, the request id for the kinds that
//! belong to one invocation, then the byte length of each field. The fields follow the line
//! back to back, exactly that many bytes each, with nothing after them. Lengths make the
//! protocol binary-safe: an event may hold any bytes. Ids make it safe against replies that
//! are too many or late: a reply names the invocation it answers.
//!
//! | direction | message |
//! |---|---|
//! | bootstrap → worker (fd 3) | `INVOKE <id> <context> <event>` |
//! | worker → bootstrap (fd 4) | `READY 2`, `INIT_ERROR <type> <message> <stack>`, `RESPONSE <id> <body>`, `ERROR <id> <type> <message> <stack>` |
//! | worker → bootstrap, streamed | `STREAM <id> <content-type>`, then `CHUNK <id> <bytes>` any number of times, then `END <id>` (or `ERROR`) |

use crate::invocation::{Context, InvocationError, context_variables};

/// Version announced to workers in [`env::PROTOCOL`], and expected back in `READY`.
pub const VERSION: &str = "2";
/// What changed from version 1, for the init error of a worker still speaking it.
pub const CHANGES_FROM_1: &str = "READY announces the version (`READY 2`), INVOKE carries the request id (`INVOKE <id> <context> <event>`), and RESPONSE and ERROR echo it (`RESPONSE <id> <body>`, `ERROR <id> <type> <message> <stack>`); see PROTOCOL.md";
/// Longest id on a header line, once encoded by [`frame_id`].
pub const MAX_ID: usize = 256;
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
    /// The protocol version, `2`.
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
    /// A `RESPONSE` or `ERROR` without an id: the shape of version 1.
    #[error(
        "`{line}`, a reply without the request id, as version 1 of the protocol wrote them; in version 2, {CHANGES_FROM_1}"
    )]
    MissingId {
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
    /// The worker has loaded its handler and waits for `INVOKE`; it speaks `version`
    /// (`None`: a bare `READY`, as workers of version 1 sent it).
    Ready {
        /// The version word after `READY`.
        version: Option<String>,
    },
    /// The worker could not load its handler; it exits after sending this.
    InitError(InvocationError),
    /// The invocation `id` succeeded with this response body.
    Response {
        /// The id the reply names (as on the line, see [`frame_id`]).
        id: String,
        /// The response, byte for byte.
        body: Vec<u8>,
    },
    /// The invocation `id` failed (after a `STREAM`: the stream ends with this error).
    Error {
        /// The id the reply names (as on the line, see [`frame_id`]).
        id: String,
        /// What went wrong.
        error: InvocationError,
    },
    /// The invocation `id` is answered by a stream with this content type: `CHUNK`s follow.
    Stream {
        /// The id the reply names (as on the line, see [`frame_id`]).
        id: String,
        /// The response's content type, as the worker wrote it.
        content_type: Vec<u8>,
    },
    /// The next piece of invocation `id`'s streamed response.
    Chunk {
        /// The id the reply names (as on the line, see [`frame_id`]).
        id: String,
        /// The bytes, sent on at once.
        data: Vec<u8>,
    },
    /// Invocation `id`'s stream is complete.
    End {
        /// The id the reply names (as on the line, see [`frame_id`]).
        id: String,
    },
}

impl Reply {
    /// The kind, as on the header line.
    pub fn kind(&self) -> &'static str {
        match self {
            Reply::Ready { .. } => "READY",
            Reply::InitError(_) => "INIT_ERROR",
            Reply::Response { .. } => "RESPONSE",
            Reply::Error { .. } => "ERROR",
            Reply::Stream { .. } => "STREAM",
            Reply::Chunk { .. } => "CHUNK",
            Reply::End { .. } => "END",
        }
    }

    /// The invocation this reply is for (`None` for `READY` and `INIT_ERROR`).
    pub fn id(&self) -> Option<&str> {
        match self {
            Reply::Ready { .. } | Reply::InitError(_) => None,
            Reply::Response { id, .. }
            | Reply::Error { id, .. }
            | Reply::Stream { id, .. }
            | Reply::Chunk { id, .. }
            | Reply::End { id } => Some(id),
        }
    }
}

/// One `INVOKE` message, decoded (what a worker sees).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The id, as on the line (see [`frame_id`]).
    pub id: String,
    /// `NAME=value` pairs in the order sent.
    pub context: Vec<(String, String)>,
    /// The event, byte for byte.
    pub event: Vec<u8>,
}

/// The id of an invocation as it travels on header lines: the request id, with every byte
/// that is not visible ASCII, and `%` itself, written `%XX` (Lambda's ids are UUIDs, which
/// travel as they are). Distinct request ids stay distinct. `None` when longer than [`MAX_ID`].
pub fn frame_id(request_id: &str) -> Option<String> {
    let mut id = String::with_capacity(request_id.len());
    for byte in request_id.bytes() {
        if byte.is_ascii_graphic() && byte != b'%' {
            id.push(char::from(byte));
        } else {
            id.push_str(&format!("%{byte:02X}"));
        }
    }
    (!id.is_empty() && id.len() <= MAX_ID).then_some(id)
}

/// The header line and context block of an `INVOKE` message for invocation `id` (from
/// [`frame_id`]); the event bytes follow it.
pub fn encode_invoke_head(id: &str, context: &Context, event_len: usize) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in context_variables(context) {
        block.extend_from_slice(name.as_bytes());
        block.push(b'=');
        block.extend_from_slice(value.as_bytes());
        block.push(b'\n');
    }
    let mut head = format!("INVOKE {id} {} {}\n", block.len(), event_len).into_bytes();
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
        Reply::Ready { version: None } => b"READY\n".to_vec(),
        Reply::Ready {
            version: Some(version),
        } => format!("READY {version}\n").into_bytes(),
        Reply::InitError(e) => error("INIT_ERROR", e),
        Reply::Error { id, error: e } => error(&format!("ERROR {id}"), e),
        Reply::Response { id, body } => with_field(&format!("RESPONSE {id}"), body),
        Reply::Stream { id, content_type } => with_field(&format!("STREAM {id}"), content_type),
        Reply::Chunk { id, data } => with_field(&format!("CHUNK {id}"), data),
        Reply::End { id } => format!("END {id}\n").into_bytes(),
    }
}

/// A message of one field: `<head> <length>\n` and the field.
fn with_field(head: &str, field: &[u8]) -> Vec<u8> {
    let mut out = format!("{head} {}\n", field.len()).into_bytes();
    out.extend_from_slice(field);
    out
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
        let Some(Message { kind, word, fields }) = self.next_message()? else {
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
        let id = word.clone().unwrap_or_default();
        Ok(Some(match kind {
            Kind::Ready => Reply::Ready { version: word },
            Kind::InitError => Reply::InitError(error()),
            Kind::Error => Reply::Error { id, error: error() },
            Kind::Response => Reply::Response {
                id,
                body: fields.next().unwrap_or_default(),
            },
            Kind::Stream => Reply::Stream {
                id,
                content_type: fields.next().unwrap_or_default(),
            },
            Kind::Chunk => Reply::Chunk {
                id,
                data: fields.next().unwrap_or_default(),
            },
            Kind::End => Reply::End { id },
            Kind::Invoke => {
                return Err(ProtocolError::BadHeader {
                    line: "INVOKE (only the bootstrap sends INVOKE)".into(),
                });
            }
        }))
    }

    /// The next whole request, if one has fully arrived (the worker's side of the protocol).
    pub fn next_request(&mut self) -> Result<Option<Request>, ProtocolError> {
        let Some(Message { word, fields, .. }) = self.next_message()? else {
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
            id: word.unwrap_or_default(),
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
            Some("STREAM") => Kind::Stream,
            Some("CHUNK") => Kind::Chunk,
            Some("END") => Kind::End,
            _ => return Err(bad()),
        };
        let words: Vec<&str> = words.collect();
        let (word, words) = match kind {
            // Version 1 sent a bare READY; the caller says what changed.
            Kind::Ready if words.is_empty() => (None, &words[..]),
            Kind::Ready
            | Kind::Response
            | Kind::Error
            | Kind::Invoke
            | Kind::Stream
            | Kind::Chunk
            | Kind::End => {
                let Some((first, rest)) = words.split_first() else {
                    return Err(bad());
                };
                let lengths_only = words.iter().all(|w| is_length(w));
                if matches!(kind, Kind::Response | Kind::Error)
                    && lengths_only
                    && words.len() == kind.field_count()
                {
                    return Err(ProtocolError::MissingId {
                        line: text.to_owned(),
                    });
                }
                if first.is_empty()
                    || first.len() > MAX_ID
                    || !first.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(bad());
                }
                (Some((*first).to_owned()), rest)
            }
            Kind::InitError => (None, &words[..]),
        };
        let mut lengths = Vec::new();
        for &word in words {
            if !is_length(word) {
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
        Ok(Some(Message { kind, word, fields }))
    }

    /// The first bytes received but not yet part of a whole message, for error messages:
    /// up to the first line end, at most 80 bytes, lossily decoded.
    pub fn pending_start(&self) -> String {
        let line = self
            .buffer
            .split(|&b| b == b'\n')
            .next()
            .unwrap_or_default();
        String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned()
    }
}

fn is_length(word: &str) -> bool {
    !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit())
}

/// A message's kind, its id (or `READY`'s version) and its fields.
struct Message {
    kind: Kind,
    word: Option<String>,
    fields: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ready,
    InitError,
    Response,
    Error,
    Invoke,
    Stream,
    Chunk,
    End,
}

impl Kind {
    fn field_count(self) -> usize {
        match self {
            Kind::Ready | Kind::End => 0,
            Kind::Response | Kind::Stream | Kind::Chunk => 1,
            Kind::Invoke => 2,
            Kind::InitError | Kind::Error => 3,
        }
    }
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
