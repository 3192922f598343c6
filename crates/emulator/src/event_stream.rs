//! AWS's event stream framing (`application/vnd.amazon.eventstream`), as Lambda's
//! `InvokeWithResponseStream` answers: `PayloadChunk` events carrying the function's bytes as
//! they come, then one `InvokeComplete` event with `ErrorCode`, `ErrorDetails` and `LogResult`.
//! Pure: bytes in, bytes out, so the framing is tested against AWS's own decoder (botocore's)
//! without a network.
//!
//! A message is `total length (u32) | headers length (u32) | CRC32 of those 8 bytes | headers |
//! payload | CRC32 of everything before it`, big-endian; each header is `name length (u8) |
//! name | type (7 = string) | value length (u16) | value`.

use serde::Serialize;

/// The most bytes one `PayloadChunk` carries; a longer write is split. AWS's decoders accept
/// messages up to 16 MiB; Lambda's own chunks are far smaller.
pub const MAX_CHUNK_BYTES: usize = 64 * 1024;

/// Header value type 7: a UTF-8 string with a 16-bit length.
const STRING: u8 = 7;

/// One event stream message with string headers.
fn message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        // Names and values here are this module's own constants: short ASCII.
        encoded_headers.push(name.len() as u8);
        encoded_headers.extend_from_slice(name.as_bytes());
        encoded_headers.push(STRING);
        encoded_headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded_headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + encoded_headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(encoded_headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded_headers);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// `PayloadChunk` events for `bytes` of the function's response, split at
/// [`MAX_CHUNK_BYTES`]; nothing for no bytes.
pub fn payload_chunks(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in bytes.chunks(MAX_CHUNK_BYTES) {
        out.extend(message(
            &[
                (":event-type", "PayloadChunk"),
                (":content-type", "application/octet-stream"),
                (":message-type", "event"),
            ],
            chunk,
        ));
    }
    out
}

/// How a streamed invocation ended, as `InvokeComplete` reports it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct InvokeComplete {
    /// The function error's type (e.g. `Runtime.ExitError`, or the handler's own type from the
    /// `Lambda-Runtime-Function-Error-Type` trailer); absent on success.
    #[serde(rename = "ErrorCode", skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The error's details (the error body's JSON); absent on success.
    #[serde(rename = "ErrorDetails", skip_serializing_if = "Option::is_none")]
    pub error_details: Option<String>,
    /// The base64 tail of the log, when the caller asked for it (`LogType: Tail`).
    #[serde(rename = "LogResult", skip_serializing_if = "Option::is_none")]
    pub log_result: Option<String>,
}

impl InvokeComplete {
    /// The `InvokeComplete` event, the stream's last message.
    pub fn encode(&self) -> Vec<u8> {
        let json = serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec());
        message(
            &[
                (":event-type", "InvokeComplete"),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            &json,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;

    /// Decodes one message back (the inverse of [`message`]) checking both CRCs.
    fn decode(bytes: &[u8]) -> (Vec<(String, String)>, Vec<u8>, usize) {
        let total = u32::from_be_bytes(bytes[0..4].try_into().unwrap()) as usize;
        let headers_len = u32::from_be_bytes(bytes[4..8].try_into().unwrap()) as usize;
        let prelude_crc = u32::from_be_bytes(bytes[8..12].try_into().unwrap());
        assert_eq!(prelude_crc, crc32fast::hash(&bytes[..8]));
        let message_crc = u32::from_be_bytes(bytes[total - 4..total].try_into().unwrap());
        assert_eq!(message_crc, crc32fast::hash(&bytes[..total - 4]));
        let mut headers = Vec::new();
        let mut at = 12;
        while at < 12 + headers_len {
            let name_len = bytes[at] as usize;
            let name = String::from_utf8(bytes[at + 1..at + 1 + name_len].to_vec()).unwrap();
            at += 1 + name_len;
            assert_eq!(bytes[at], STRING);
            let value_len = u16::from_be_bytes([bytes[at + 1], bytes[at + 2]]) as usize;
            let value = String::from_utf8(bytes[at + 3..at + 3 + value_len].to_vec()).unwrap();
            at += 3 + value_len;
            headers.push((name, value));
        }
        (headers, bytes[at..total - 4].to_vec(), total)
    }

    #[test]
    fn a_long_payload_is_split_into_chunks_that_decode_back_to_it() {
        let payload: Vec<u8> = (0..MAX_CHUNK_BYTES * 2 + 10).map(|i| i as u8).collect();
        let stream = payload_chunks(&payload);
        let mut rest = &stream[..];
        let mut joined = Vec::new();
        let mut count = 0;
        while !rest.is_empty() {
            let (headers, body, used) = decode(rest);
            assert!(headers.contains(&(":event-type".into(), "PayloadChunk".into())));
            joined.extend(body);
            rest = &rest[used..];
            count += 1;
        }
        assert_eq!(count, 3);
        assert_eq!(joined, payload);
        assert!(payload_chunks(b"").is_empty());
    }

    #[test]
    fn invoke_complete_carries_the_error_as_json() {
        let complete = InvokeComplete {
            error_code: Some("Stream.Broke".into()),
            error_details: Some(r#"{"errorMessage":"gone"}"#.into()),
            log_result: None,
        };
        let (headers, body, _) = decode(&complete.encode());
        assert_eq!(headers[0], (":event-type".into(), "InvokeComplete".into()));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"ErrorCode":"Stream.Broke","ErrorDetails":"{\"errorMessage\":\"gone\"}"}"#
        );
    }
}
