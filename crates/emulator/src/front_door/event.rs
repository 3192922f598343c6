//! A real HTTP request as the event Lambda hands a function behind a Function URL (payload
//! format 2.0), an API Gateway REST API (1.0) or an Application Load Balancer. Pure: the
//! request's parts in, the event's JSON out.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

/// Which kind of event a plain HTTP request becomes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpEventKind {
    /// A Function URL (and HTTP API) event, payload format 2.0.
    #[default]
    FunctionUrl,
    /// An API Gateway REST API event, payload format 1.0.
    Rest,
    /// An Application Load Balancer event.
    Alb,
}

/// The parts of a request an event is made of.
pub struct HttpRequest<'a> {
    /// `GET`, `POST`, ...
    pub method: &'a str,
    /// The path as the function sees it, from `/` (the front door's own prefix removed).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names and values in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: &'a [u8],
}

/// What the event says about where and when it came from.
pub struct Origin<'a> {
    /// The function's name (the API id and domain prefix of the made-up URL).
    pub function: &'a str,
    /// `127.0.0.1:PORT` the request came in on.
    pub host: &'a str,
    /// The invocation's request id.
    pub request_id: &'a str,
    /// Milliseconds since the epoch.
    pub epoch_ms: u64,
    /// CLF time, e.g. `03/Dec/2026:10:00:00 +0000`.
    pub time: &'a str,
}

/// The event's JSON bytes.
pub fn event(kind: HttpEventKind, request: &HttpRequest<'_>, origin: &Origin<'_>) -> Vec<u8> {
    let value = match kind {
        HttpEventKind::FunctionUrl => function_url(request, origin),
        HttpEventKind::Rest => rest(request, origin),
        HttpEventKind::Alb => alb(request, origin),
    };
    value.to_string().into_bytes()
}

/// Whether Lambda passes a body of this content type as text (else base64).
pub fn is_text(content_type: Option<&str>, body: &[u8]) -> bool {
    let Some(content_type) = content_type else {
        return std::str::from_utf8(body).is_ok();
    };
    let content_type = content_type.to_ascii_lowercase();
    (content_type.starts_with("text/")
        || ["json", "xml", "javascript", "x-www-form-urlencoded", "yaml"]
            .iter()
            .any(|kind| content_type.contains(kind)))
        && std::str::from_utf8(body).is_ok()
}

fn body_fields(request: &HttpRequest<'_>) -> (Value, bool) {
    if request.body.is_empty() {
        return (Value::Null, false);
    }
    let content_type = header(request, "content-type");
    if is_text(content_type, request.body) {
        (
            Value::String(String::from_utf8_lossy(request.body).into_owned()),
            false,
        )
    } else {
        (Value::String(BASE64.encode(request.body)), true)
    }
}

fn header<'a>(request: &'a HttpRequest<'_>, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(found, _)| found.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Query parameters decoded, each name with its values in order.
fn query_values(query: &str) -> BTreeMap<String, Vec<String>> {
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        values
            .entry(name.into_owned())
            .or_default()
            .push(value.into_owned());
    }
    values
}

/// Headers with lowercase names, repeated ones joined with `,` (payload 2.0, ALB).
fn joined_headers(request: &HttpRequest<'_>, skip: &[&str]) -> Map<String, Value> {
    let mut joined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &request.headers {
        let name = name.to_ascii_lowercase();
        if !skip.contains(&name.as_str()) {
            joined.entry(name).or_default().push(value.clone());
        }
    }
    joined
        .into_iter()
        .map(|(name, values)| (name, Value::String(values.join(","))))
        .collect()
}

fn function_url(request: &HttpRequest<'_>, origin: &Origin<'_>) -> Value {
    let cookies: Vec<String> = request
        .headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, value)| value.split(';').map(|c| c.trim().to_string()))
        .filter(|cookie| !cookie.is_empty())
        .collect();
    let query: Map<String, Value> = query_values(request.query)
        .into_iter()
        .map(|(name, values)| (name, Value::String(values.join(","))))
        .collect();
    let (body, is_base64) = body_fields(request);
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": joined_headers(request, &["cookie"]),
        "requestContext": {
            "accountId": "anonymous",
            "apiId": origin.function,
            "domainName": origin.host,
            "domainPrefix": origin.function,
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": header(request, "user-agent").unwrap_or(""),
            },
            "requestId": origin.request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": origin.time,
            "timeEpoch": origin.epoch_ms,
        },
        "isBase64Encoded": is_base64,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !body.is_null() {
        event["body"] = body;
    }
    event
}

fn rest(request: &HttpRequest<'_>, origin: &Origin<'_>) -> Value {
    let mut single = Map::new();
    let mut multi: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &request.headers {
        single.insert(name.clone(), Value::String(value.clone()));
        multi.entry(name.clone()).or_default().push(value.clone());
    }
    let query = query_values(request.query);
    let (last, all): (Value, Value) = if query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (
            query
                .iter()
                .map(|(name, values)| (name.clone(), json!(values.last())))
                .collect::<Map<_, _>>()
                .into(),
            json!(query),
        )
    };
    let (body, is_base64) = body_fields(request);
    let proxy = request.path.trim_start_matches('/');
    json!({
        "resource": "/{proxy+}",
        "path": request.path,
        "httpMethod": request.method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": last,
        "multiValueQueryStringParameters": all,
        "pathParameters": if proxy.is_empty() { Value::Null } else { json!({ "proxy": proxy }) },
        "stageVariables": null,
        "requestContext": {
            "accountId": lamina_context::facts::LOCAL_ACCOUNT_ID,
            "apiId": origin.function,
            "domainName": origin.host,
            "httpMethod": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "requestId": origin.request_id,
            "requestTime": origin.time,
            "requestTimeEpoch": origin.epoch_ms,
            "resourcePath": "/{proxy+}",
            "stage": "$default",
            "identity": {
                "sourceIp": "127.0.0.1",
                "userAgent": header(request, "user-agent"),
            },
        },
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

fn alb(request: &HttpRequest<'_>, origin: &Origin<'_>) -> Value {
    let query: Map<String, Value> = query_values(request.query)
        .into_iter()
        .filter_map(|(name, values)| Some((name, Value::String(values.last()?.clone()))))
        .collect();
    let (body, is_base64) = body_fields(request);
    json!({
        "requestContext": {
            "elb": {
                "targetGroupArn": format!(
                    "arn:aws:elasticloadbalancing:{}:{}:targetgroup/{}/0123456789abcdef",
                    lamina_context::facts::DEFAULT_REGION,
                    lamina_context::facts::LOCAL_ACCOUNT_ID,
                    origin.function
                ),
            },
        },
        "httpMethod": request.method,
        "path": request.path,
        "queryStringParameters": query,
        "headers": joined_headers(request, &[]),
        "body": if body.is_null() { json!("") } else { body },
        "isBase64Encoded": is_base64,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;

    fn request(body: &'static [u8], content_type: &str) -> HttpRequest<'static> {
        HttpRequest {
            method: "POST",
            path: "/a/b",
            query: "x=1&x=2&name=J%C3%BCrgen+M",
            headers: vec![
                ("Content-Type".into(), content_type.into()),
                ("Cookie".into(), "a=1; b=2".into()),
                ("X-Multi".into(), "one".into()),
                ("x-multi".into(), "two".into()),
            ],
            body,
        }
    }

    const ORIGIN: Origin<'static> = Origin {
        function: "web",
        host: "127.0.0.1:9000",
        request_id: "req-1",
        epoch_ms: 1_796_292_000_000,
        time: "03/Dec/2026:10:00:00 +0000",
    };

    fn parsed(kind: HttpEventKind, request: &HttpRequest<'_>) -> Value {
        serde_json::from_slice(&event(kind, request, &ORIGIN)).unwrap()
    }

    #[test]
    fn a_function_url_event_has_payload_2_0s_shape() {
        let event = parsed(
            HttpEventKind::FunctionUrl,
            &request(b"{\"k\":1}", "application/json"),
        );
        assert_eq!(event["rawPath"], "/a/b");
        assert_eq!(event["rawQueryString"], "x=1&x=2&name=J%C3%BCrgen+M");
        assert_eq!(event["queryStringParameters"]["x"], "1,2");
        assert_eq!(event["queryStringParameters"]["name"], "Jürgen M");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["headers"]["x-multi"], "one,two");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["requestContext"]["http"]["method"], "POST");
        assert_eq!(event["body"], "{\"k\":1}");
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn a_binary_body_is_base64() {
        let event = parsed(
            HttpEventKind::FunctionUrl,
            &request(&[0, 159, 146, 150], "application/octet-stream"),
        );
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], BASE64.encode([0, 159, 146, 150]));
    }

    #[test]
    fn a_rest_event_has_payload_1_0s_shape() {
        let event = parsed(HttpEventKind::Rest, &request(b"hi", "text/plain"));
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["path"], "/a/b");
        assert_eq!(
            event["multiValueQueryStringParameters"]["x"],
            json!(["1", "2"])
        );
        assert_eq!(event["queryStringParameters"]["x"], "2");
        assert_eq!(event["multiValueHeaders"]["X-Multi"], json!(["one"]));
        assert_eq!(event["pathParameters"]["proxy"], "a/b");
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
    }

    #[test]
    fn an_alb_event_names_its_target_group() {
        let event = parsed(HttpEventKind::Alb, &request(b"", "text/plain"));
        assert!(
            event["requestContext"]["elb"]["targetGroupArn"]
                .as_str()
                .unwrap()
                .contains(":targetgroup/web/")
        );
        assert_eq!(event["body"], "");
        assert_eq!(event["queryStringParameters"]["name"], "Jürgen M");
    }
}
