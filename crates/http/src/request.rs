//! Lambda events (API Gateway v1, v2 / Function URL, ALB) into `http::Request<Body>`.

use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupRequestContext};
use aws_lambda_events::apigw::{
    ApiGatewayProxyRequest, ApiGatewayProxyRequestContext, ApiGatewayV2httpRequest,
    ApiGatewayV2httpRequestContext,
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, header};
use serde_json::Value;

use crate::body::Body;
use crate::error::HttpError;
use crate::query::QueryParameters;

/// The kind of event a request came from; decides the shape of the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// API Gateway REST API (payload 1.0).
    ApiGatewayV1,
    /// API Gateway HTTP API or Function URL (payload 2.0).
    ApiGatewayV2,
    /// Application Load Balancer; `multi_value` when the target group sends multi-value headers.
    Alb {
        /// The request used `multiValueHeaders`, so the response must too.
        multi_value: bool,
    },
}

/// The event's `requestContext`, typed by kind; in every request's extensions.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per request, never in a collection
pub enum RequestContext {
    /// From an API Gateway REST API event.
    ApiGatewayV1(ApiGatewayProxyRequestContext),
    /// From an HTTP API or Function URL event.
    ApiGatewayV2(ApiGatewayV2httpRequestContext),
    /// From an ALB event.
    Alb(AlbTargetGroupRequestContext),
}

impl RequestContext {
    /// The API Gateway request id (ALB events carry none).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            RequestContext::ApiGatewayV1(context) => context.request_id.as_deref(),
            RequestContext::ApiGatewayV2(context) => context.request_id.as_deref(),
            RequestContext::Alb(_) => None,
        }
    }

    /// The caller's IP address as API Gateway saw it (for ALB, read `X-Forwarded-For`).
    pub fn source_ip(&self) -> Option<&str> {
        match self {
            RequestContext::ApiGatewayV1(context) => context.identity.source_ip.as_deref(),
            RequestContext::ApiGatewayV2(context) => context.http.source_ip.as_deref(),
            RequestContext::Alb(_) => None,
        }
    }

    /// The JWT claims of the authorizer (HTTP API JWT authorizer, or REST API Cognito
    /// authorizer's `claims`), as strings.
    pub fn authorizer_claims(&self) -> Option<std::collections::HashMap<String, String>> {
        match self {
            RequestContext::ApiGatewayV2(context) => context
                .authorizer
                .as_ref()
                .and_then(|authorizer| authorizer.jwt.as_ref())
                .map(|jwt| jwt.claims.clone()),
            RequestContext::ApiGatewayV1(context) => {
                match context.authorizer.fields.get("claims") {
                    Some(Value::Object(claims)) => Some(
                        claims
                            .iter()
                            .map(|(key, value)| {
                                let text = match value {
                                    Value::String(text) => text.clone(),
                                    other => other.to_string(),
                                };
                                (key.clone(), text)
                            })
                            .collect(),
                    ),
                    _ => None,
                }
            }
            RequestContext::Alb(_) => None,
        }
    }
}

/// Which kind of HTTP event `event` is, from the keys only each kind has.
pub fn detect(event: &Value) -> Result<EventKind, HttpError> {
    let context = event.get("requestContext");
    if context.and_then(|c| c.get("elb")).is_some() {
        let multi_value = event.get("multiValueHeaders").is_some_and(|v| !v.is_null());
        return Ok(EventKind::Alb { multi_value });
    }
    if event.get("version").and_then(Value::as_str) == Some("2.0")
        && context.and_then(|c| c.get("http")).is_some()
    {
        return Ok(EventKind::ApiGatewayV2);
    }
    if event.get("httpMethod").is_some() && context.is_some() {
        return Ok(EventKind::ApiGatewayV1);
    }
    Err(HttpError::NotHttp {
        keys: match event {
            Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
            other => format!("a JSON {}", json_type(other)),
        },
    })
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Turns a Lambda event into the request the handler sees, and the kind to answer in.
pub fn from_event(event: &[u8]) -> Result<(http::Request<Body>, EventKind), HttpError> {
    let value: Value = serde_json::from_slice(event).map_err(HttpError::Json)?;
    let kind = detect(&value)?;
    let request = match kind {
        EventKind::ApiGatewayV1 => {
            let event: ApiGatewayProxyRequest = typed(value, "API Gateway REST (v1)")?;
            v1_request(event)?
        }
        EventKind::ApiGatewayV2 => {
            let event: ApiGatewayV2httpRequest = typed(value, "HTTP API / Function URL (v2)")?;
            v2_request(event)?
        }
        EventKind::Alb { .. } => {
            let event: AlbTargetGroupRequest = typed(value, "ALB")?;
            alb_request(event)?
        }
    };
    Ok((request, kind))
}

fn typed<T: serde::de::DeserializeOwned>(value: Value, kind: &'static str) -> Result<T, HttpError> {
    serde_json::from_value(value).map_err(|source| HttpError::Malformed { kind, source })
}

fn body(body: Option<String>, base64: bool) -> Result<Body, HttpError> {
    match body {
        None => Ok(Body::Empty),
        Some(text) if text.is_empty() => Ok(Body::Empty),
        Some(text) if base64 => STANDARD
            .decode(text.as_bytes())
            .map(Body::Binary)
            .map_err(HttpError::Base64),
        Some(text) => Ok(Body::Text(text)),
    }
}

/// Single-value headers merged under multi-value ones (the multi-value map is complete when
/// present; the single one holds only the last value of each name).
fn merge_headers(single: HeaderMap, multi: HeaderMap) -> HeaderMap {
    if multi.is_empty() {
        return single;
    }
    let mut headers = multi;
    for (name, value) in single.iter() {
        if !headers.contains_key(name) {
            headers.insert(name.clone(), value.clone());
        }
    }
    headers
}

/// `k=v&k=v2` from a v1/ALB query map. API Gateway v1 hands the values decoded, so they are
/// encoded again; ALB passes them as the client sent them (`encoded`), so they are joined as is.
fn query_string(
    single: &aws_lambda_events::query_map::QueryMap,
    multi: &aws_lambda_events::query_map::QueryMap,
    encoded: bool,
) -> String {
    let map = if multi.is_empty() { single } else { multi };
    let mut pairs: Vec<(&str, &str)> = map.iter().collect();
    // A HashMap underneath: sort so the URI is the same on every run.
    pairs.sort();
    if encoded {
        return pairs
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join("&");
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        out.append_pair(key, value);
    }
    out.finish()
}

fn build(
    method: http::Method,
    path: &str,
    query: &str,
    headers: HeaderMap,
    body: Body,
) -> Result<http::Request<Body>, HttpError> {
    let path = if path.is_empty() { "/" } else { path };
    let uri = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    let mut request = http::Request::builder()
        .method(method)
        .uri(&uri)
        .body(body)
        .map_err(|source| HttpError::Uri { uri, source })?;
    *request.headers_mut() = headers;
    request
        .extensions_mut()
        .insert(QueryParameters::parse(query));
    Ok(request)
}

/// Query parameters and the event's context, from a request made by this crate.
pub trait RequestExt {
    /// The first value of query parameter `name`, percent-decoded.
    fn query_parameter(&self, name: &str) -> Option<&str> {
        self.query_parameters()
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
    /// Every `(name, value)` of the query string in order, percent-decoded.
    fn query_parameters(&self) -> &QueryParameters;
    /// The event's `requestContext` (absent on a request not made by this crate).
    fn request_context(&self) -> Option<&RequestContext>;
}

static NO_QUERY: QueryParameters = QueryParameters(Vec::new());

impl<B> RequestExt for http::Request<B> {
    fn query_parameters(&self) -> &QueryParameters {
        self.extensions().get().unwrap_or(&NO_QUERY)
    }
    fn request_context(&self) -> Option<&RequestContext> {
        self.extensions().get()
    }
}

/// Drops the `/{stage}` API Gateway puts before the resource path, when it is there.
fn strip_stage<'a>(path: &'a str, stage: Option<&str>) -> &'a str {
    match stage {
        Some(stage) if !stage.is_empty() && stage != "$default" => {
            match path
                .strip_prefix('/')
                .and_then(|rest| rest.strip_prefix(stage))
            {
                Some("") => "/",
                Some(rest) if rest.starts_with('/') => rest,
                _ => path,
            }
        }
        _ => path,
    }
}

fn v1_request(event: ApiGatewayProxyRequest) -> Result<http::Request<Body>, HttpError> {
    let context = event.request_context;
    // `path` is the resource path; `requestContext.path` is what the client sent, with the
    // stage when the API is called on its execute-api domain. Strip only what it shows.
    let raw = event.path.clone().unwrap_or_default();
    let path = match context.path.as_deref() {
        Some(full) if full != raw => strip_stage(full, context.stage.as_deref()).to_owned(),
        _ => raw,
    };
    let query = query_string(
        &event.query_string_parameters,
        &event.multi_value_query_string_parameters,
        false,
    );
    let headers = merge_headers(event.headers, event.multi_value_headers);
    let body = body(event.body, event.is_base64_encoded)?;
    let mut request = build(event.http_method, &path, &query, headers, body)?;
    request
        .extensions_mut()
        .insert(RequestContext::ApiGatewayV1(context));
    Ok(request)
}

fn v2_request(event: ApiGatewayV2httpRequest) -> Result<http::Request<Body>, HttpError> {
    let context = event.request_context;
    let raw = event
        .raw_path
        .clone()
        .or_else(|| context.http.path.clone())
        .unwrap_or_default();
    let path = strip_stage(&raw, context.stage.as_deref()).to_owned();
    let query = event.raw_query_string.clone().unwrap_or_default();
    let mut headers = event.headers;
    // Payload 2.0 moves cookies out of the headers; put them back where HTTP has them.
    if let Some(cookies) = event.cookies.as_ref().filter(|c| !c.is_empty()) {
        let joined = cookies.join("; ");
        let value = HeaderValue::from_str(&joined).map_err(|_| HttpError::Header {
            name: "cookie".to_owned(),
        })?;
        headers.insert(header::COOKIE, value);
    }
    let body = body(event.body, event.is_base64_encoded)?;
    let mut request = build(context.http.method.clone(), &path, &query, headers, body)?;
    request
        .extensions_mut()
        .insert(RequestContext::ApiGatewayV2(context));
    Ok(request)
}

fn alb_request(event: AlbTargetGroupRequest) -> Result<http::Request<Body>, HttpError> {
    let path = event.path.clone().unwrap_or_default();
    let query = query_string(
        &event.query_string_parameters,
        &event.multi_value_query_string_parameters,
        true,
    );
    let headers = merge_headers(event.headers, event.multi_value_headers);
    let body = body(event.body, event.is_base64_encoded)?;
    let mut request = build(event.http_method, &path, &query, headers, body)?;
    request
        .extensions_mut()
        .insert(RequestContext::Alb(event.request_context));
    Ok(request)
}
