//! A function's answer as the HTTP response Lambda's front doors make of it. Pure.
//!
//! Function URLs (payload 2.0): a JSON result without `statusCode` is the body of a 200
//! `application/json`; otherwise `statusCode`, `headers`, `cookies`, `body` and
//! `isBase64Encoded` are honoured. REST APIs and ALBs need `statusCode` and also take
//! `multiValueHeaders`. A function error, or an answer the front door cannot read, is a 502.
//!
//! The front door frames the response itself, as Lambda's do: the function's hop-by-hop and
//! framing headers (`Content-Length`, `Transfer-Encoding`, `Connection` and the headers it
//! names, `Keep-Alive`, `Upgrade`, `TE`, `Trailer`, `Proxy-*`) are dropped, never passed on,
//! so a function cannot make one response look like two to a keep-alive client. A status that
//! is not final (1xx, or outside 200 to 599) or a header that is not valid HTTP is a malformed
//! answer: 502, with the reason.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hyper::header::{HeaderName, HeaderValue};
use serde_json::Value;

use super::event::HttpEventKind;

/// An HTTP response, ready to send.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpAnswer {
    /// Its status code.
    pub status: u16,
    /// Its headers, in order (`Set-Cookie` may repeat).
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The 502 a front door answers when the function failed or its answer is unusable.
    pub fn bad_gateway() -> Self {
        HttpAnswer {
            status: 502,
            headers: vec![("content-type".into(), "application/json".into())],
            body: br#"{"message":"Internal Server Error"}"#.to_vec(),
        }
    }

    /// The 502 for an answer the front door cannot send: AWS's body, plus the `reason`
    /// (AWS writes it only to the API's log, which the emulator does not have).
    pub fn malformed(reason: &str) -> Self {
        let body = serde_json::json!({
            "message": "Internal Server Error",
            "reason": format!("Malformed Lambda proxy response: {reason}"),
        });
        HttpAnswer {
            status: 502,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }
}

/// Headers about one hop of a connection or about the message's framing: the front door
/// makes its own, so the function's are dropped (Lambda's front doors drop these too).
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "transfer-encoding",
    "content-length",
    "te",
    "trailer",
    "upgrade",
];

/// The status a front door may send for the function's `statusCode`: a final one, 200 to 599.
/// A 1xx would tell the client that another response follows (or, 101, that the connection
/// now speaks another protocol), which the front door never does.
pub fn final_status(status: u64) -> Result<u16, String> {
    u16::try_from(status)
        .ok()
        .filter(|s| (200..600).contains(s))
        .ok_or_else(|| format!("statusCode {status} is not a final HTTP status (200 to 599)"))
}

/// The function's headers as the front door sends them: names lowercased, hop-by-hop and
/// framing headers (and those `Connection` names) dropped; a name or value that is not valid
/// HTTP (e.g. holding CR or LF) is an error naming it.
pub fn response_headers(headers: Vec<(String, String)>) -> Result<Vec<(String, String)>, String> {
    let named_by_connection: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    let mut kept = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!(
                "header name {name:?} is not a valid HTTP header name"
            ));
        }
        if HeaderValue::from_bytes(value.as_bytes()).is_err() {
            return Err(format!(
                "header {name:?} has a value that is not valid in HTTP (control characters such as CR or LF): {value:?}"
            ));
        }
        let name = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&name.as_str()) || named_by_connection.contains(&name) {
            continue;
        }
        kept.push((name, value));
    }
    Ok(kept)
}

impl HttpAnswer {
    /// As a hyper response.
    pub fn into_response(self) -> hyper::Response<crate::http::Body> {
        let mut response = hyper::Response::new(crate::http::full(self.body));
        *response.status_mut() =
            hyper::StatusCode::from_u16(self.status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                response.headers_mut().append(name, value);
            }
        }
        response
    }
}

/// The response for the function's answer `result` (its error JSON when `function_error`).
pub fn answer(kind: HttpEventKind, result: &[u8], function_error: bool) -> HttpAnswer {
    if function_error {
        return HttpAnswer::bad_gateway();
    }
    let Ok(value) = serde_json::from_slice::<Value>(result) else {
        return HttpAnswer::bad_gateway();
    };
    let shaped = value.as_object().filter(|o| o.contains_key("statusCode"));
    match (shaped, kind) {
        (Some(object), _) => match shape(kind, object) {
            Ok(answer) => answer,
            Err(Malformed::Unreadable) => HttpAnswer::bad_gateway(),
            Err(Malformed::Invalid(reason)) => HttpAnswer::malformed(&reason),
        },
        (None, HttpEventKind::FunctionUrl) => HttpAnswer {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: result.to_vec(),
        },
        (None, _) => HttpAnswer::bad_gateway(),
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

/// Why a shaped answer cannot be sent.
enum Malformed {
    /// A field of the wrong JSON type: AWS's bare 502.
    Unreadable,
    /// A value HTTP cannot carry (a 1xx status, a header with CR or LF): 502 with the reason.
    Invalid(String),
}

fn shape(
    kind: HttpEventKind,
    object: &serde_json::Map<String, Value>,
) -> Result<HttpAnswer, Malformed> {
    let unreadable = |_| Malformed::Unreadable;
    let text = |value: &Value| text(value).ok_or(Malformed::Unreadable);
    let status = object
        .get("statusCode")
        .and_then(Value::as_u64)
        .ok_or(Malformed::Unreadable)?;
    let status = final_status(status).map_err(Malformed::Invalid)?;
    let mut headers = Vec::new();
    if let Some(single) = object.get("headers").and_then(Value::as_object) {
        for (name, value) in single {
            headers.push((name.to_ascii_lowercase(), text(value)?));
        }
    }
    if kind != HttpEventKind::FunctionUrl
        && let Some(multi) = object.get("multiValueHeaders").and_then(Value::as_object)
    {
        for (name, values) in multi {
            let name = name.to_ascii_lowercase();
            // Single-value headers of the same name give way to the multi-value ones.
            headers.retain(|(found, _)| *found != name);
            for value in values.as_array().ok_or(Malformed::Unreadable)? {
                headers.push((name.clone(), text(value)?));
            }
        }
    }
    if let Some(cookies) = object.get("cookies").and_then(Value::as_array) {
        for cookie in cookies {
            headers.push(("set-cookie".into(), text(cookie)?));
        }
    }
    let mut headers = response_headers(headers).map_err(Malformed::Invalid)?;
    if kind == HttpEventKind::FunctionUrl && !headers.iter().any(|(n, _)| n == "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let body = match object.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(body) => text(body)?.into_bytes(),
    };
    let base64 = object
        .get("isBase64Encoded")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let body = if base64 {
        BASE64.decode(&body).map_err(unreadable)?
    } else {
        body
    };
    Ok(HttpAnswer {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;

    #[test]
    fn a_plain_json_result_is_a_200_application_json_for_a_function_url() {
        let answer = answer(HttpEventKind::FunctionUrl, br#"{"message":"hi"}"#, false);
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, br#"{"message":"hi"}"#);
        assert_eq!(
            answer.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(
            super::answer(HttpEventKind::Rest, br#"{"message":"hi"}"#, false).status,
            502
        );
    }

    #[test]
    fn a_shaped_result_sets_status_headers_cookies_and_a_base64_body() {
        let result = br#"{"statusCode":201,"headers":{"Content-Type":"image/png","X-N":7},
            "cookies":["a=1","b=2; Path=/"],"body":"AJ+Slg==","isBase64Encoded":true}"#;
        let answer = answer(HttpEventKind::FunctionUrl, result, false);
        assert_eq!(answer.status, 201);
        assert_eq!(answer.body, [0, 159, 146, 150]);
        assert_eq!(
            answer.headers,
            [
                ("content-type", "image/png"),
                ("x-n", "7"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2; Path=/"),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
    }

    #[test]
    fn rest_and_alb_take_multi_value_headers() {
        let result = br#"{"statusCode":200,"headers":{"x-a":"one"},
            "multiValueHeaders":{"X-A":["one","two"]},"body":"ok"}"#;
        for kind in [HttpEventKind::Rest, HttpEventKind::Alb] {
            let answer = answer(kind, result, false);
            assert_eq!(
                answer.headers,
                [("x-a", "one"), ("x-a", "two")].map(|(n, v)| (n.to_string(), v.to_string()))
            );
            assert_eq!(answer.body, b"ok");
        }
    }

    #[test]
    fn errors_and_unreadable_answers_are_502() {
        let bad = HttpAnswer::bad_gateway();
        assert_eq!(answer(HttpEventKind::FunctionUrl, b"{}", true), bad);
        assert_eq!(answer(HttpEventKind::FunctionUrl, b"not json", false), bad);
        assert_eq!(
            answer(HttpEventKind::FunctionUrl, br#"{"statusCode":"x"}"#, false),
            bad
        );
        assert_eq!(
            answer(
                HttpEventKind::Alb,
                br#"{"statusCode":200,"body":"%%","isBase64Encoded":true}"#,
                false
            ),
            bad
        );
    }

    #[test]
    fn framing_and_hop_by_hop_headers_from_the_function_are_dropped() {
        let result = br#"{"statusCode":200,"headers":{"Content-Length":"0",
            "transfer-encoding":"chunked","Connection":"keep-alive, X-Secret","x-secret":"s",
            "keep-alive":"timeout=5","upgrade":"h2c","trailer":"x","te":"trailers",
            "proxy-connection":"close","x-kept":"yes"},
            "body":"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"}"#;
        let answer = answer(HttpEventKind::FunctionUrl, result, false);
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.headers,
            [("x-kept", "yes"), ("content-type", "application/json")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        // The REST and ALB shapes' multiValueHeaders too.
        let result = br#"{"statusCode":200,"multiValueHeaders":{"Content-Length":["2"],
            "Transfer-Encoding":["chunked"],"x-a":["1","2"]},"body":"hello world"}"#;
        for kind in [HttpEventKind::Rest, HttpEventKind::Alb] {
            let answer = super::answer(kind, result, false);
            assert_eq!(
                answer.headers,
                [("x-a", "1"), ("x-a", "2")].map(|(n, v)| (n.to_string(), v.to_string()))
            );
            assert_eq!(answer.body, b"hello world");
            let response = answer.into_response();
            assert!(response.headers().get("content-length").is_none());
        }
    }

    #[test]
    fn headers_http_cannot_carry_are_a_502_naming_them() {
        for (result, named) in [
            (
                r#"{"statusCode":200,"headers":{"x-a":"1\r\nSet-Cookie: evil=1"}}"#,
                "\"x-a\"",
            ),
            (
                r#"{"statusCode":200,"headers":{"bad name":"1"}}"#,
                "\"bad name\"",
            ),
            (
                r#"{"statusCode":200,"cookies":["a=1\nx"]}"#,
                "\"set-cookie\"",
            ),
        ] {
            let answer = answer(HttpEventKind::FunctionUrl, result.as_bytes(), false);
            assert_eq!(answer.status, 502, "{result}");
            let body: Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(body["message"], "Internal Server Error");
            let reason = body["reason"].as_str().unwrap();
            assert!(reason.contains(named), "{reason}");
        }
        // Text outside ASCII is valid in a header value (obs-text): passed on.
        let answer = answer(
            HttpEventKind::FunctionUrl,
            r#"{"statusCode":200,"headers":{"x-name":"Jürgen"}}"#.as_bytes(),
            false,
        );
        assert_eq!(answer.status, 200);
    }

    #[test]
    fn a_status_that_is_not_final_is_a_502_naming_it() {
        for status in [100, 101, 103, 199, 600, 1000] {
            let result = format!(r#"{{"statusCode":{status},"body":"x"}}"#);
            for kind in [
                HttpEventKind::FunctionUrl,
                HttpEventKind::Rest,
                HttpEventKind::Alb,
            ] {
                let answer = answer(kind, result.as_bytes(), false);
                assert_eq!(answer.status, 502, "{status}");
                let body: Value = serde_json::from_slice(&answer.body).unwrap();
                assert_eq!(
                    body["reason"],
                    format!(
                        "Malformed Lambda proxy response: statusCode {status} is not a final HTTP status (200 to 599)"
                    )
                );
            }
        }
        assert_eq!(
            answer(HttpEventKind::FunctionUrl, br#"{"statusCode":599}"#, false).status,
            599
        );
        assert_eq!(
            answer(HttpEventKind::FunctionUrl, br#"{"statusCode":200}"#, false).status,
            200
        );
    }
}
