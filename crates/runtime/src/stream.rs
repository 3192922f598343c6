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
/// failed after its first byte, then the blank line.
pub(crate) fn encode_end(error: Option<&ErrorBody>) -> Vec<u8> {
    let mut end = b"0\r\n".to_vec();
    if let Some(body) = error {
        let json = serde_json::to_vec(body).unwrap_or_default();
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
}
