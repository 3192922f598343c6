//! A streaming function behind its Function URL (`invoke-mode = RESPONSE_STREAM`): the HTTP
//! client gets the answer as the function writes it. An HTTP-integration stream
//! (`application/vnd.awslambda.http-integration-response`) opens with a JSON prelude (status,
//! headers, cookies) and 8 NUL bytes; any other stream is a 200 of its own content type.

use bytes::{Bytes, BytesMut};
use hyper::Response;
use hyper::header::{HeaderName, HeaderValue};
use tokio::sync::mpsc;

use crate::http::{self, Body};
use crate::invocation::StreamPart;

use lamina_context::facts::{
    HTTP_INTEGRATION_CONTENT_TYPE as HTTP_INTEGRATION, PRELUDE_DELIMITER as DELIMITER,
};
/// The longest prelude read before giving up on finding its end.
const MAX_PRELUDE: usize = 64 * 1024;

/// The response for a stream that started with `content_type`: reads the prelude if there is
/// one, then passes the rest on as it comes.
pub async fn response(
    content_type: String,
    mut parts: mpsc::Receiver<StreamPart>,
) -> Response<Body> {
    let mut status = 200;
    let mut headers: Vec<(String, String)> = vec![("content-type".into(), content_type.clone())];
    let mut first = Bytes::new();
    if content_type == HTTP_INTEGRATION {
        let mut prelude = BytesMut::new();
        let found = loop {
            if let Some(at) = prelude
                .windows(DELIMITER.len())
                .position(|w| w == DELIMITER)
            {
                break Some(at);
            }
            if prelude.len() > MAX_PRELUDE {
                break None;
            }
            match parts.recv().await {
                Some(StreamPart::Chunk(chunk)) => prelude.extend_from_slice(&chunk),
                Some(StreamPart::Start { .. }) => {}
                None => break None,
            }
        };
        let Some(at) = found else {
            return super::answer::HttpAnswer::bad_gateway().into_response();
        };
        let rest = prelude.split_off(at + DELIMITER.len());
        let (parsed_status, parsed_headers) = match parse_prelude(&prelude[..at]) {
            Ok(parsed) => parsed,
            Err(reason) => {
                // Nothing has been sent yet: the client gets the 502, and the rest of the
                // function's stream is drained by dropping it.
                return super::answer::HttpAnswer::malformed(&reason).into_response();
            }
        };
        status = parsed_status;
        headers = parsed_headers;
        first = rest.freeze();
    }
    let (bytes_out, body) = mpsc::channel(16);
    tokio::spawn(async move {
        if !first.is_empty() && bytes_out.send(first).await.is_err() {
            return;
        }
        while let Some(part) = parts.recv().await {
            if let StreamPart::Chunk(chunk) = part
                && bytes_out.send(chunk).await.is_err()
            {
                // The client went away; the function's chunks are drained by dropping them.
                while parts.recv().await.is_some() {}
                return;
            }
        }
    });
    let mut response = Response::new(http::streamed(body));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    response
}

/// Status and headers (cookies as `set-cookie`) of an HTTP prelude; a prelude that is not a
/// JSON object gives a bare 200. As for a buffered answer, the function's hop-by-hop and
/// framing headers are dropped (the front door streams with its own framing), and a status that
/// is not a final one (or not a number) or a header HTTP cannot carry is an error saying which.
fn parse_prelude(prelude: &[u8]) -> Result<(u16, Vec<(String, String)>), String> {
    let value: serde_json::Value = serde_json::from_slice(prelude).unwrap_or_default();
    let Some(object) = value.as_object() else {
        return Ok((200, Vec::new()));
    };
    let status = match object.get("statusCode") {
        None => 200,
        Some(code) => match code.as_u64() {
            Some(status) => super::answer::final_status(status)?,
            None => {
                return Err(format!(
                    "statusCode {code} is not a final HTTP status (200 to 599)"
                ));
            }
        },
    };
    let mut headers = Vec::new();
    if let Some(map) = object.get("headers").and_then(serde_json::Value::as_object) {
        for (name, value) in map {
            let text = match value {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Number(number) => number.to_string(),
                serde_json::Value::Bool(flag) => flag.to_string(),
                other => return Err(format!("header {name}: {other} is not a header value")),
            };
            headers.push((name.to_ascii_lowercase(), text));
        }
    }
    if let Some(cookies) = object.get("cookies").and_then(serde_json::Value::as_array) {
        for cookie in cookies.iter().filter_map(serde_json::Value::as_str) {
            headers.push(("set-cookie".into(), cookie.to_owned()));
        }
    }
    Ok((status, super::answer::response_headers(headers)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prelude_gives_status_headers_and_cookies() {
        let (status, headers) = parse_prelude(
            br#"{"statusCode":201,"headers":{"Content-Type":"text/csv"},"cookies":["a=1"]}"#,
        )
        .unwrap_or_default();
        assert_eq!(status, 201);
        assert_eq!(
            headers,
            [("content-type", "text/csv"), ("set-cookie", "a=1")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert_eq!(parse_prelude(b"not json"), Ok((200, Vec::new())));
    }

    #[test]
    fn a_status_that_is_not_a_number_or_a_header_that_is_not_text_is_refused() {
        assert_eq!(parse_prelude(b""), Ok((200, Vec::new())));
        for prelude in [
            &br#"{"statusCode":-1}"#[..],
            br#"{"statusCode":200.5}"#,
            br#"{"statusCode":18446744073709551616}"#,
            br#"{"statusCode":"204"}"#,
            br#"{"statusCode":"200 OK\r\nInjected: 1"}"#,
            br#"{"statusCode":200,"headers":{"x-a":{"b":1}}}"#,
        ] {
            assert!(
                parse_prelude(prelude).is_err(),
                "{}",
                String::from_utf8_lossy(prelude)
            );
        }
        insta::assert_snapshot!(
            parse_prelude(br#"{"statusCode":"204"}"#)
                .err()
                .unwrap_or_default(),
            @r#"statusCode "204" is not a final HTTP status (200 to 599)"#
        );
    }

    #[test]
    fn a_prelude_cannot_set_the_framing_or_a_status_that_is_not_final() {
        let (status, headers) = parse_prelude(
            br#"{"statusCode":200,"headers":{"Content-Length":"2","Transfer-Encoding":"chunked","Connection":"close","x-a":"1"}}"#,
        )
        .unwrap_or_default();
        assert_eq!(status, 200);
        assert_eq!(headers, [("x-a".to_string(), "1".to_string())]);
        for status in [100, 101, 103, 600] {
            let prelude = format!(r#"{{"statusCode":{status}}}"#);
            let err = parse_prelude(prelude.as_bytes()).err().unwrap_or_default();
            assert!(err.contains(&format!("statusCode {status} ")), "{err}");
        }
        let err = parse_prelude(br#"{"statusCode":200,"headers":{"x-a":"1\r\nx-b: 2"}}"#)
            .err()
            .unwrap_or_default();
        assert!(err.contains("\"x-a\""), "{err}");
    }
}
