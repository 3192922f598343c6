//! The `http:` convention with a real web server (Python's standard library): HTTP events
//! forwarded as real requests and answered in their kind's shape, other events POSTed to the
//! events path, and the server's start, death and restart.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Function, SAFETY, context};
use serde_json::{Value, json};

const APP: &str = r#"
import os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "slow":
    time.sleep(2)
if mode == "never":
    time.sleep(3600)
if mode == "crash":
    sys.exit("the app cannot find its configuration")

class App(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, status, body, content_type="text/plain", extra=()):
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == "/hello":
            self.reply(200, ("hello " + query).encode())
        elif path == "/cookie":
            self.reply(200, ("cookie: " + self.headers.get("cookie", "")).encode(),
                       extra=[("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2")])
        elif path == "/big":
            self.reply(200, b"x" * (3 * 1024 * 1024))
        elif path == "/die":
            os._exit(7)
        else:
            self.reply(404, b"no such page")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.path == "/events":
            self.reply(200, b'{"got":' + body + b'}', "application/json")
        else:
            self.reply(200, body, "application/octet-stream")

    def log_message(self, *args):
        pass

print("app listening", flush=True)
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), App).serve_forever()
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Function URL (payload 2.0) event.
fn url_event(method: &str, path: &str, query: &str, extra: Value) -> Vec<u8> {
    let mut event = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"},
                           "stage": "$default", "requestId": "r"},
        "isBase64Encoded": false
    });
    if let (Value::Object(event), Value::Object(extra)) = (&mut event, extra) {
        event.extend(extra);
    }
    event.to_string().into_bytes()
}

fn answer(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn http_events_reach_the_app_and_come_back_in_their_shape() {
    let function = Function::new();
    function.file("app.py", APP, 0o644);
    let port = free_port();
    let mut handler = function
        .load(&format!("http:{port}:python3 app.py"))
        .unwrap();
    let mut invoke =
        |event: Vec<u8>| answer(&handler.invoke(&event, &context("r", SAFETY)).unwrap());

    let hello = invoke(url_event("GET", "/hello", "name=Ada", json!({})));
    assert_eq!(hello["statusCode"], 200, "{hello}");
    assert_eq!(hello["body"], "hello name=Ada");

    let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let echoed = invoke(url_event(
        "POST",
        "/echo",
        "",
        json!({"body": BASE64.encode(&bytes), "isBase64Encoded": true,
               "headers": {"content-type": "application/octet-stream"}}),
    ));
    assert_eq!(echoed["isBase64Encoded"], true, "{echoed}");
    assert_eq!(
        BASE64.decode(echoed["body"].as_str().unwrap()).unwrap(),
        bytes
    );

    let cookie = invoke(url_event(
        "GET",
        "/cookie",
        "",
        json!({"cookies": ["c=3", "d=4"]}),
    ));
    assert_eq!(cookie["body"], "cookie: c=3; d=4", "{cookie}");
    assert_eq!(cookie["cookies"], json!(["a=1; Path=/", "b=2"]));

    let missing = invoke(url_event("GET", "/nowhere", "", json!({})));
    assert_eq!(missing["statusCode"], 404);
    assert_eq!(missing["body"], "no such page");

    let big = invoke(url_event("GET", "/big", "", json!({})));
    assert_eq!(big["body"].as_str().unwrap().len(), 3 * 1024 * 1024);

    // Not an HTTP event: POSTed as it is to /events.
    let other = invoke(br#"{"source":"aws.events","n":1}"#.to_vec());
    assert_eq!(other, json!({"got": {"source": "aws.events", "n": 1}}));
}

#[test]
fn a_server_slow_to_start_is_awaited() {
    let function = Function::new();
    function.file("app.py", APP, 0o644);
    let port = free_port();
    let mut handler = function
        .load(&format!("http:{port}:python3 app.py slow"))
        .unwrap();
    let hello = answer(
        &handler
            .invoke(
                &url_event("GET", "/hello", "x=1", json!({})),
                &context("r", SAFETY),
            )
            .unwrap(),
    );
    assert_eq!(hello["body"], "hello x=1");
}

#[test]
fn a_server_that_never_starts_or_exits_first_is_an_init_error() {
    let mut messages = Vec::new();
    for mode in ["crash", "never"] {
        let function = Function::new();
        function.file("app.py", APP, 0o644);
        let port = free_port();
        let handler = format!("http:{port}:python3 app.py {mode}");
        let error = function.load(&handler).unwrap_err();
        assert_eq!(error.error_type(), "Runtime.WorkerStartError", "{error}");
        messages.push(format!(
            "{mode}: {}",
            function
                .redact(&error.to_string())
                .replace(&port.to_string(), "PORT")
        ));
    }
    insta::assert_snapshot!(messages.join("\n\n"));
}

#[test]
fn a_server_that_dies_mid_request_fails_it_and_is_started_again() {
    let function = Function::new();
    function.file("app.py", APP, 0o644);
    let port = free_port();
    let mut handler = function
        .load(&format!("http:{port}:python3 app.py"))
        .unwrap();
    let error = handler
        .invoke(
            &url_event("GET", "/die", "", json!({})),
            &context("r1", SAFETY),
        )
        .unwrap_err();
    assert_eq!(error.error_type, "Runtime.ExitError", "{error:?}");
    assert!(error.message.contains("exit status 7"), "{}", error.message);
    let hello = answer(
        &handler
            .invoke(
                &url_event("GET", "/hello", "again", json!({})),
                &context("r2", SAFETY),
            )
            .unwrap(),
    );
    assert_eq!(hello["body"], "hello again");
}
