//! The real event payloads shipped with `aws_lambda_events`, fed through the conversion layer;
//! requests checked field by field, responses snapshotted as JSON.

use lamina_http::{
    Body, Context, Error, EventKind, RequestContext, RequestExt, from_event, handle_event,
    http::{self, Response, StatusCode, header},
    to_json,
};
use serde_json::{Value, json};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn convert(event: &Value) -> (http::Request<Body>, EventKind) {
    from_event(event.to_string().as_bytes()).expect("an HTTP event")
}

fn context() -> Context {
    Context::from_headers([
        ("Lambda-Runtime-Aws-Request-Id", "req-1"),
        ("Lambda-Runtime-Deadline-Ms", "4102444800000"),
    ])
    .expect("context")
}

/// A response that exercises every shape: status, repeated headers, two cookies, text body.
fn sample_response() -> Response<Body> {
    Response::builder()
        .status(StatusCode::CREATED)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-multi", "a")
        .header("x-multi", "b")
        .header(header::SET_COOKIE, "session=abc; Path=/")
        .header(header::SET_COOKIE, "theme=dark")
        .body(Body::from(r#"{"ok":true}"#))
        .expect("response")
}

#[test]
fn rest_v1_request_fields() {
    let (request, kind) = convert(&fixture("example-apigw-request.json"));
    assert_eq!(kind, EventKind::ApiGatewayV1);
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(request.uri().path(), "/hello/world");
    assert_eq!(request.uri().query(), Some("name=me"));
    assert_eq!(request.query_parameter("name"), Some("me"));
    assert_eq!(request.headers()["accept"], "*/*");
    assert_eq!(request.headers()["cache-control"], "no-cache");
    assert_eq!(
        request.body(),
        &Body::Text("{\r\n\t\"a\": 1\r\n}".to_owned())
    );
    let Some(RequestContext::ApiGatewayV1(context)) = request.request_context() else {
        panic!("v1 context expected, got {:?}", request.request_context());
    };
    assert_eq!(context.stage.as_deref(), Some("testStage"));
    let rc = request.request_context().expect("context");
    assert_eq!(
        rc.request_id(),
        Some("deef4878-7910-11e6-8f14-25afc3e9ae33")
    );
    assert_eq!(rc.source_ip(), Some("192.168.196.186"));
}

#[test]
fn rest_v1_multi_value_query_and_stage_stripped() {
    let mut event = fixture("example-apigw-request-multi-value-parameters.json");
    // Called on the execute-api domain, requestContext.path carries the stage.
    event["requestContext"]["path"] = json!("/testStage/hello/world");
    let (request, _) = convert(&event);
    assert_eq!(request.uri().path(), "/hello/world");
    assert_eq!(request.query_parameters().all("name"), ["me", "me2"]);
}

#[test]
fn rest_v1_base64_body_decoded_and_cookies_in_headers() {
    let mut event = fixture("example-apigw-request.json");
    event["body"] = json!("AAEC/w==");
    event["isBase64Encoded"] = json!(true);
    event["multiValueHeaders"]["Cookie"] = json!(["a=1; b=2"]);
    let (request, _) = convert(&event);
    assert_eq!(request.body(), &Body::Binary(vec![0, 1, 2, 255]));
    assert_eq!(request.headers()["cookie"], "a=1; b=2");
}

#[test]
fn rest_v1_response_shape() {
    let json = to_json(sample_response(), EventKind::ApiGatewayV1);
    insta::assert_json_snapshot!(json);
}

#[test]
fn http_v2_request_fields() {
    let (request, kind) = convert(&fixture("example-apigw-v2-request-jwt-authorizer.json"));
    assert_eq!(kind, EventKind::ApiGatewayV2);
    assert_eq!(request.method(), http::Method::GET);
    // Stage `$default`: nothing to strip.
    assert_eq!(request.uri().path(), "/my/path");
    assert_eq!(
        request.uri().query(),
        Some("parameter1=value1&parameter1=value2&parameter2=value")
    );
    assert_eq!(
        request.query_parameters().all("parameter1"),
        ["value1", "value2"]
    );
    assert_eq!(request.headers()["header1"], "value1");
    assert_eq!(request.headers()["cookie"], "cookie1; cookie2");
    assert_eq!(
        request.body(),
        &Body::Text("{\r\n\t\"a\": 1\r\n}".to_owned())
    );
    let rc = request.request_context().expect("context");
    assert_eq!(rc.request_id(), Some("id"));
    assert_eq!(rc.source_ip(), Some("IP"));
    let claims = rc.authorizer_claims().expect("JWT claims");
    assert_eq!(claims.get("claim1").map(String::as_str), Some("value1"));
}

#[test]
fn http_v2_named_stage_stripped_and_base64_body() {
    let mut event = fixture("example-apigw-v2-request-jwt-authorizer.json");
    event["requestContext"]["stage"] = json!("prod");
    event["rawPath"] = json!("/prod/my/path");
    event["body"] = json!("AAEC/w==");
    event["isBase64Encoded"] = json!(true);
    let (request, _) = convert(&event);
    assert_eq!(request.uri().path(), "/my/path");
    assert_eq!(request.body(), &Body::Binary(vec![0, 1, 2, 255]));
}

#[test]
fn http_v2_response_shape() {
    let json = to_json(sample_response(), EventKind::ApiGatewayV2);
    insta::assert_json_snapshot!(json);
}

#[test]
fn alb_single_value_request_and_response() {
    let (request, kind) = convert(&fixture(
        "example-alb-lambda-target-request-headers-only.json",
    ));
    assert_eq!(kind, EventKind::Alb { multi_value: false });
    assert_eq!(request.method(), http::Method::GET);
    assert_eq!(request.uri().path(), "/");
    assert_eq!(request.query_parameter("key"), Some("hello"));
    assert_eq!(request.headers()["user-agent"], "curl/7.54.0");
    assert_eq!(request.body(), &Body::Empty);
    assert!(matches!(
        request.request_context(),
        Some(RequestContext::Alb(_))
    ));
    insta::assert_json_snapshot!(to_json(sample_response(), kind));
}

#[test]
fn alb_multi_value_request_and_response() {
    let (request, kind) = convert(&fixture(
        "example-alb-lambda-target-request-multivalue-headers.json",
    ));
    assert_eq!(kind, EventKind::Alb { multi_value: true });
    assert_eq!(request.query_parameter("key"), Some("hello"));
    assert_eq!(request.headers()["accept"], "*/*");
    assert_eq!(request.body(), &Body::Text("Some text".to_owned()));
    insta::assert_json_snapshot!(to_json(sample_response(), kind));
}

#[test]
fn binary_response_is_base64_and_text_types_are_not() {
    let png = Response::builder()
        .header(header::CONTENT_TYPE, "image/png")
        .body(Body::from(vec![0u8, 1, 2, 255]))
        .expect("response");
    let json = to_json(png, EventKind::ApiGatewayV2);
    assert_eq!(json["body"], "AAEC/w==");
    assert_eq!(json["isBase64Encoded"], true);
    for text in [
        "text/html; charset=utf-8",
        "application/json",
        "application/problem+json",
        "application/atom+xml",
        "application/x-www-form-urlencoded",
    ] {
        assert!(lamina_http::is_text_content_type(text), "{text}");
    }
    assert!(!lamina_http::is_text_content_type(
        "application/octet-stream"
    ));
}

#[test]
fn handler_error_and_panic_are_500_not_function_errors() {
    let event = fixture("example-apigw-v2-request-jwt-authorizer.json").to_string();
    let failed = handle_event(event.as_bytes(), &context(), |_, _| {
        Err(Error::msg("database down"))
    })
    .expect("a 500 response, not an error");
    let failed: Value = serde_json::from_slice(&failed).expect("json");
    insta::assert_json_snapshot!(failed);
    let panicked = handle_event(event.as_bytes(), &context(), |_, _| panic!("boom"))
        .expect("a 500 response, not an error");
    let panicked: Value = serde_json::from_slice(&panicked).expect("json");
    assert_eq!(panicked, failed);
}

#[test]
fn non_http_event_is_a_clear_error() {
    let error = handle_event(br#"{"Records": []}"#, &context(), |_, _| {
        Ok(Response::new(Body::Empty))
    })
    .expect_err("not HTTP");
    insta::assert_snapshot!(format!(
        "{}: {}",
        error.error_type().unwrap_or(""),
        error.message()
    ));
}

#[test]
fn body_marked_base64_but_not_is_a_clear_error() {
    let mut event = fixture("example-apigw-v2-request-jwt-authorizer.json");
    event["body"] = json!("not base64!");
    event["isBase64Encoded"] = json!(true);
    let error = from_event(event.to_string().as_bytes()).expect_err("bad base64");
    insta::assert_snapshot!(error.to_string());
}
