//! A function's answer as the HTTP response Lambda's front doors make of it. Pure.
//!
//! Function URLs (payload 2.0): a JSON result without `statusCode` is the body of a 200
//! `application/json`; otherwise `statusCode`, `headers`, `cookies`, `body` and
//! `isBase64Encoded` are honoured. REST APIs and ALBs need `statusCode` and also take
//! `multiValueHeaders`. A function error, or an answer the front door cannot read, is a 502.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
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
}

impl HttpAnswer {
    /// As a hyper response.
    pub fn into_response(self) -> hyper::Response<crate::http::Body> {
        let mut response = hyper::Response::new(crate::http::full(self.body));
        *response.status_mut() =
            hyper::StatusCode::from_u16(self.status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                hyper::header::HeaderName::from_bytes(name.as_bytes()),
                hyper::header::HeaderValue::from_str(&value),
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
        (Some(object), _) => shape(kind, object).unwrap_or_else(HttpAnswer::bad_gateway),
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

fn shape(kind: HttpEventKind, object: &serde_json::Map<String, Value>) -> Option<HttpAnswer> {
    let status = object.get("statusCode")?.as_u64()?;
    let status = u16::try_from(status)
        .ok()
        .filter(|s| (100..600).contains(s))?;
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
            for value in values.as_array()? {
                headers.push((name.clone(), text(value)?));
            }
        }
    }
    if let Some(cookies) = object.get("cookies").and_then(Value::as_array) {
        for cookie in cookies {
            headers.push(("set-cookie".into(), text(cookie)?));
        }
    }
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
        BASE64.decode(&body).ok()?
    } else {
        body
    };
    Some(HttpAnswer {
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
}
