//! `http::Response<Body>` into the JSON each event kind expects back.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, header};
use serde_json::{Map, Value, json};

use crate::request::EventKind;
use crate::{Body, is_text_content_type};

/// The response JSON for `kind`: v1 `statusCode/headers/multiValueHeaders/body/isBase64Encoded`,
/// v2 the same with `cookies` instead of `Set-Cookie` headers, ALB with `statusDescription` and
/// `multiValueHeaders` only when the request used them.
pub fn to_json(response: http::Response<Body>, kind: EventKind) -> Value {
    let (parts, body) = response.into_parts();
    let status = parts.status;
    let mut headers = parts.headers;
    let (body, base64) = encode_body(&headers, body);
    let mut out = Map::new();
    out.insert("statusCode".into(), json!(status.as_u16()));
    match kind {
        EventKind::ApiGatewayV1 => {
            out.insert("headers".into(), single(&headers));
            out.insert("multiValueHeaders".into(), multi(&headers));
        }
        EventKind::ApiGatewayV2 => {
            let cookies: Vec<Value> = headers
                .get_all(header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok().map(|s| Value::String(s.to_owned())))
                .collect();
            headers.remove(header::SET_COOKIE);
            out.insert("headers".into(), single_joined(&headers));
            out.insert("cookies".into(), Value::Array(cookies));
        }
        EventKind::Alb { multi_value } => {
            let reason = status.canonical_reason().unwrap_or("");
            out.insert(
                "statusDescription".into(),
                json!(format!("{} {reason}", status.as_u16()).trim_end()),
            );
            if multi_value {
                out.insert("multiValueHeaders".into(), multi(&headers));
            } else {
                out.insert("headers".into(), single(&headers));
            }
        }
    }
    out.insert("body".into(), body);
    out.insert("isBase64Encoded".into(), json!(base64));
    Value::Object(out)
}

fn encode_body(headers: &HeaderMap, body: Body) -> (Value, bool) {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let bytes = match body {
        Body::Empty => return (json!(""), false),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
    };
    let text_like = match content_type {
        Some(content_type) => is_text_content_type(content_type),
        None => std::str::from_utf8(&bytes).is_ok(),
    };
    match String::from_utf8(bytes) {
        Ok(text) if text_like => (Value::String(text), false),
        Ok(text) => (Value::String(STANDARD.encode(text)), true),
        Err(error) => (Value::String(STANDARD.encode(error.into_bytes())), true),
    }
}

fn value_text(value: &http::HeaderValue) -> String {
    String::from_utf8_lossy(value.as_bytes()).into_owned()
}

/// One value per name: the last one, as API Gateway v1 and ALB keep when both maps are sent.
fn single(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        out.insert(name.as_str().to_owned(), Value::String(value_text(value)));
    }
    Value::Object(out)
}

/// One value per name, repeated values joined with `, ` (payload 2.0 has no multi-value map).
fn single_joined(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<String> = headers.get_all(name).iter().map(value_text).collect();
        out.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
    }
    Value::Object(out)
}

fn multi(headers: &HeaderMap) -> Value {
    let mut out = Map::new();
    for name in headers.keys() {
        let values: Vec<Value> = headers
            .get_all(name)
            .iter()
            .map(|v| Value::String(value_text(v)))
            .collect();
        out.insert(name.as_str().to_owned(), Value::Array(values));
    }
    Value::Object(out)
}
