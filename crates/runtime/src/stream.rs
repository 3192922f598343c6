//! The wire format of response streaming on the Runtime API: the request headers, chunked
//! framing, the two error trailers, and the HTTP-integration prelude for Function URLs.
//!
//! These are the pure, byte-exact pieces that [`ResponseStream`](crate::ResponseStream)
//! sends. The names and [`HttpPrelude`] are public so that a web-functions crate (and tests of
//! any Runtime API peer) produce and check exactly the bytes Lambda expects.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Serialize;

use crate::error::ErrorBody;

/// Request header that marks a `/response` POST as streamed.
pub const RESPONSE_MODE_HEADER: &str = "Lambda-Runtime-Function-Response-Mode";
/// The value of [`RESPONSE_MODE_HEADER`] for a streamed response.
pub const RESPONSE_MODE_STREAMING: &str = "streaming";
/// Trailer naming the `errorType` of an error that happened after the first byte.
pub const ERROR_TYPE_TRAILER: &str = "Lambda-Runtime-Function-Error-Type";
/// Trailer carrying the base64 (standard alphabet, padded) of the error body JSON
/// (`{"errorType","errorMessage","stackTrace"}`).
pub const ERROR_BODY_TRAILER: &str = "Lambda-Runtime-Function-Error-Body";
/// Content type of a streamed response that starts with an [`HttpPrelude`]: Function URLs
/// read the prelude as the HTTP status, headers and cookies.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    lamina_context::facts::HTTP_INTEGRATION_CONTENT_TYPE;
/// What ends the prelude: 8 NUL bytes, then the body follows.
pub const PRELUDE_DELIMITER: [u8; 8] = lamina_context::facts::PRELUDE_DELIMITER;

/// Largest streamed response AWS accepts, in bytes: "response streaming functions can return
/// payloads up to 200 MB" (raised from 20 MB in July 2025;
/// <https://docs.aws.amazon.com/lambda/latest/dg/configuration-response-streaming.html>),
/// read as MiB as AWS's buffered "6 MB" is 6 MiB. The first 6 MB stream uncapped; the rest is
/// bandwidth-capped by AWS (a rate, not a size: nothing for the runtime to enforce).
/// [`ResponseStream`](crate::ResponseStream) refuses the write that would pass it and the
/// invocation ends as [`Runtime.ResponseTooLarge`](crate::error_type::RESPONSE_OVER_LIMIT).
pub const MAX_STREAMED_RESPONSE_BYTES: u64 = lamina_context::facts::MAX_STREAMED_RESPONSE_BYTES;

/// The JSON that opens a streamed HTTP-integration response (Function URLs): the status,
/// headers and cookies, then [`PRELUDE_DELIMITER`]. Serialized as
/// `{"statusCode":200,"headers":{...},"cookies":[...]}`, the shape AWS's runtimes write
/// (`awslambda.HttpResponseStream.from` in Node.js, `MetadataPrelude` in `lambda_runtime`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpPrelude {
    /// The HTTP status the Function URL answers with.
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    /// Response headers; a name given twice keeps the last value, as a JSON object must.
    pub headers: BTreeMap<String, String>,
    /// `Set-Cookie` values, one per cookie (Function URLs take cookies apart from headers).
    pub cookies: Vec<String>,
}

impl HttpPrelude {
    /// A prelude with `status_code`, no headers and no cookies.
    pub fn new(status_code: u16) -> Self {
        Self {
            status_code,
            headers: BTreeMap::new(),
            cookies: Vec::new(),
        }
    }

    /// The bytes written before the body: the JSON, then the 8 NUL bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A struct of strings and a number always serializes; no error can happen here.
        let mut bytes = serde_json::to_vec(self).unwrap_or_default();
        bytes.extend_from_slice(&PRELUDE_DELIMITER);
        bytes
    }
}

/// Most bytes of an error's JSON (`{"errorType","errorMessage","stackTrace"}`) sent after a
/// stream's first byte. Such an error travels base64-encoded in an HTTP trailer, and HTTP
/// servers bound a trailer section as they bound headers (hyper, serving the local Runtime
/// API, refuses more than 16 KiB): 8 KiB of JSON is 10,924 bytes of base64, which leaves room
/// for the type trailer. A 20,000-byte message sent whole was refused, the invocation failed
/// with `Runtime.TruncatedResponse` and the handler's error was lost.
pub const MAX_TRAILER_ERROR_JSON_BYTES: usize = 8 * 1024;

/// Longest `errorType` kept in an error sent after a stream's first byte, in bytes.
pub const MAX_TRAILER_ERROR_TYPE_BYTES: usize = 256;

/// The JSON of an empty error: `{"errorType":"","errorMessage":"","stackTrace":[]}`.
const EMPTY_ERROR_JSON_BYTES: usize = 50;

/// Cuts an error so that its JSON fits in [`MAX_TRAILER_ERROR_JSON_BYTES`], as it must to
/// travel in the trailers of a streamed response: the type to
/// [`MAX_TRAILER_ERROR_TYPE_BYTES`], then the stack trace to at most half of the room left
/// (its first frames, and a line saying how many were left out), then the message to the
/// rest, ending with a note of its length. An error that fits is left unchanged.
///
/// The one rule for every error sent after a stream's first byte: a Rust handler's (the
/// trailers this crate writes) and the bootstrap's, for a worker's error in any language.
pub fn fit_error_for_trailers(
    error_type: &mut String,
    message: &mut String,
    stack_trace: &mut Vec<String>,
) {
    fit_within(
        error_type,
        message,
        stack_trace,
        MAX_TRAILER_ERROR_JSON_BYTES,
    );
}

fn fit_within(
    error_type: &mut String,
    message: &mut String,
    stack_trace: &mut Vec<String>,
    max: usize,
) {
    if error_type.len() > MAX_TRAILER_ERROR_TYPE_BYTES {
        let cut = prefix_within(error_type, MAX_TRAILER_ERROR_TYPE_BYTES, char::len_utf8);
        error_type.truncate(cut);
    }
    if json_len(error_type, message, stack_trace) <= max {
        return;
    }
    let room = max.saturating_sub(EMPTY_ERROR_JSON_BYTES + escaped_len(error_type));
    // Each frame costs its escaped text, its quotes and a comma.
    let frame_cost = |frame: &str| escaped_len(frame) + 3;
    let stack_cost: usize = stack_trace.iter().map(|f| frame_cost(f)).sum();
    if stack_cost > room / 2 {
        let total = stack_trace.len();
        // Room for the note, whatever the count.
        let note_cost = frame_cost(&format!("... {total} more frames left out"));
        let mut used = note_cost;
        let kept = stack_trace
            .iter()
            .take_while(|frame| {
                used += frame_cost(frame);
                used <= room / 2
            })
            .count();
        stack_trace.truncate(kept);
        if note_cost <= room / 2 {
            stack_trace.push(format!("... {} more frames left out", total - kept));
        }
    }
    let stack_cost: usize = stack_trace.iter().map(|f| frame_cost(f)).sum();
    let message_room = room.saturating_sub(stack_cost);
    if escaped_len(message) > message_room {
        let note = format!(
            " ... [cut from {} bytes: an error after a stream's first byte travels in an HTTP trailer]",
            message.len()
        );
        let keep = message_room.saturating_sub(escaped_len(&note));
        let cut = prefix_within(message, keep, escaped_char_len);
        message.truncate(cut);
        if escaped_len(&note) <= message_room {
            message.push_str(&note);
        }
    }
}

/// The length of an error's JSON.
fn json_len(error_type: &str, message: &str, stack_trace: &[String]) -> usize {
    // Each frame: its escaped text and quotes, and a comma between two.
    let frames: usize = stack_trace.iter().map(|frame| escaped_len(frame) + 3).sum();
    EMPTY_ERROR_JSON_BYTES
        + escaped_len(error_type)
        + escaped_len(message)
        + frames.saturating_sub(1)
}

/// How many bytes `c` takes inside a JSON string (serde_json's escapes).
fn escaped_char_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// How many bytes `text` takes inside a JSON string, without its quotes.
fn escaped_len(text: &str) -> usize {
    text.chars().map(escaped_char_len).sum()
}

/// The byte length of the longest prefix of `text` whose chars cost at most `budget`.
fn prefix_within(text: &str, budget: usize, cost: impl Fn(char) -> usize) -> usize {
    let mut spent = 0;
    for (at, c) in text.char_indices() {
        spent += cost(c);
        if spent > budget {
            return at;
        }
    }
    text.len()
}

/// One HTTP/1.1 chunk: the size in hex, CRLF, the data, CRLF. Empty data gives nothing,
/// because an empty chunk would end the body.
pub(crate) fn encode_chunk(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(b"\r\n");
    chunk
}

/// The end of a chunked body: the last (empty) chunk, then the error trailers if the stream
/// failed after its first byte (the error cut to fit them, [`fit_error_for_trailers`]),
/// then the blank line.
pub(crate) fn encode_end(error: Option<&ErrorBody>) -> Vec<u8> {
    let mut end = b"0\r\n".to_vec();
    if let Some(body) = error {
        let mut body = body.clone();
        fit_error_for_trailers(
            &mut body.error_type,
            &mut body.error_message,
            &mut body.stack_trace,
        );
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let encoded = base64::engine::general_purpose::STANDARD.encode(json);
        end.extend_from_slice(
            format!(
                "{ERROR_TYPE_TRAILER}: {}\r\n{ERROR_BODY_TRAILER}: {encoded}\r\n",
                body.error_type
            )
            .as_bytes(),
        );
    }
    end.extend_from_slice(b"\r\n");
    end
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;

    #[test]
    fn prelude_bytes_are_json_then_eight_nuls() {
        let mut prelude = HttpPrelude::new(201);
        prelude
            .headers
            .insert("content-type".into(), "text/plain".into());
        prelude.cookies.push("a=1; Secure".into());
        let bytes = prelude.to_bytes();
        let expected: &[u8] = b"{\"statusCode\":201,\"headers\":{\"content-type\":\"text/plain\"},\"cookies\":[\"a=1; Secure\"]}\0\0\0\0\0\0\0\0";
        assert_eq!(bytes, expected);
    }

    #[test]
    fn chunks_are_hex_sized_and_empty_writes_send_nothing() {
        assert_eq!(
            encode_chunk(&[b'x'; 26]),
            [b"1a\r\n".as_slice(), &[b'x'; 26], b"\r\n"].concat()
        );
        assert!(encode_chunk(b"").is_empty());
    }

    #[test]
    fn a_clean_end_has_no_trailers() {
        assert_eq!(encode_end(None), b"0\r\n\r\n");
    }

    #[test]
    fn a_failed_end_carries_type_and_base64_body() {
        let body = ErrorBody::new("Order.Failed", "broke after the first chunk");
        let end = String::from_utf8(encode_end(Some(&body))).unwrap();
        let (type_line, rest) = end
            .strip_prefix("0\r\n")
            .unwrap()
            .split_once("\r\n")
            .unwrap();
        assert_eq!(
            type_line,
            "Lambda-Runtime-Function-Error-Type: Order.Failed"
        );
        let encoded = rest
            .strip_prefix("Lambda-Runtime-Function-Error-Body: ")
            .unwrap()
            .strip_suffix("\r\n\r\n")
            .unwrap();
        let json = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "errorType": "Order.Failed",
                "errorMessage": "broke after the first chunk",
                "stackTrace": []
            })
        );
    }

    /// An error's three parts, as the bootstrap's `InvocationError` and `ErrorBody` hold them.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Parts {
        error_type: String,
        message: String,
        stack_trace: Vec<String>,
    }

    impl Parts {
        fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
            Self {
                error_type: error_type.into(),
                message: message.into(),
                stack_trace: Vec::new(),
            }
        }

        fn fitted(mut self) -> Self {
            fit_error_for_trailers(
                &mut self.error_type,
                &mut self.message,
                &mut self.stack_trace,
            );
            self
        }

        fn json(&self) -> Vec<u8> {
            serde_json::to_vec(&serde_json::json!({
                "errorType": self.error_type,
                "errorMessage": self.message,
                "stackTrace": self.stack_trace,
            }))
            .unwrap()
        }

        fn json_len(&self) -> usize {
            json_len(&self.error_type, &self.message, &self.stack_trace)
        }
    }

    #[test]
    fn the_length_counted_is_the_json_length() {
        let mut error = Parts::new("Type\"x", "a\u{1}b\nc\u{e9}\\");
        error.stack_trace = vec!["f\t1".into(), "\"f2\"".into()];
        assert_eq!(error.json_len(), error.json().len());
        assert_eq!(Parts::new("", "").json_len(), EMPTY_ERROR_JSON_BYTES);
    }

    #[test]
    fn an_error_that_fits_is_unchanged() {
        let mut error = Parts::new("ValueError", "x".repeat(1000));
        error.stack_trace = vec!["frame".into(); 10];
        assert_eq!(error.clone().fitted(), error);
    }

    #[test]
    fn a_long_error_is_cut_to_fit_and_says_so() {
        let cases = [
            (
                "x".repeat(20_000),
                vec!["  File \"/var/task/handler.py\", line 3".to_string(); 3],
            ),
            ("\u{1}\u{e9}\"".repeat(5_000), Vec::new()),
            ("short".to_string(), vec!["f".repeat(100); 1000]),
            ("m".repeat(9_000), vec!["\n".repeat(3_000)]),
        ];
        for (message, stack) in cases {
            let mut error = Parts::new("T".repeat(1000), message);
            error.stack_trace = stack;
            let fitted = error.clone().fitted();
            let json = fitted.json();
            assert!(json.len() <= MAX_TRAILER_ERROR_JSON_BYTES, "{}", json.len());
            assert!(
                json.len() > MAX_TRAILER_ERROR_JSON_BYTES / 2,
                "{}",
                json.len()
            );
            assert_eq!(fitted.error_type.len(), MAX_TRAILER_ERROR_TYPE_BYTES);
            if fitted.message != error.message {
                assert!(fitted.message.contains("cut from"), "{}", fitted.message);
                assert!(
                    error
                        .message
                        .starts_with(fitted.message.split(" ... [cut").next().unwrap())
                );
            }
            if fitted.stack_trace != error.stack_trace {
                let note = fitted.stack_trace.last().cloned().unwrap();
                assert!(note.ends_with("more frames left out"), "{note}");
            }
        }
        let mut error = Parts::new("ValueError", "x".repeat(20_000));
        error.stack_trace = vec!["frame".into(); 2];
        let fitted = error.fitted();
        assert_eq!(fitted.stack_trace, vec!["frame", "frame"]);
        insta::assert_snapshot!(
            fitted.message.trim_start_matches('x'),
            @" ... [cut from 20000 bytes: an error after a stream's first byte travels in an HTTP trailer]"
        );
    }

    /// A Rust handler's 20,000-byte error, sent whole, made a 27,000-byte trailer section: over
    /// hyper's 16 KiB, so the emulator failed the invocation and the error was lost.
    #[test]
    fn a_huge_error_ends_the_stream_in_trailers_under_16_kib_with_its_type() {
        let body = ErrorBody::new("Order.Failed", "x".repeat(20_000));
        let end = encode_end(Some(&body));
        assert!(end.len() < 16 * 1024, "{} bytes of trailers", end.len());
        let end = String::from_utf8(end).unwrap();
        assert!(
            end.starts_with("0\r\nLambda-Runtime-Function-Error-Type: Order.Failed\r\n"),
            "{}",
            &end[..80]
        );
        let encoded = end
            .split("Lambda-Runtime-Function-Error-Body: ")
            .nth(1)
            .unwrap()
            .strip_suffix("\r\n\r\n")
            .unwrap();
        let json = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["errorType"], "Order.Failed");
        let message = value["errorMessage"].as_str().unwrap();
        assert!(message.contains("cut from 20000 bytes"), "{message}");
    }
}
