//! sample-http's binary (shipped as `bootstrap`) run as a real process under lamina's emulator and invoked with
//! HTTP API / Function URL (payload 2.0) events, as AWS sends them.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::PathBuf;
use std::time::Duration;

use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use serde_json::{Value, json};

/// sample-http's own binary, as cargo built it for this test.
fn bootstrap() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sample-http"))
}

fn emulator() -> Emulator {
    let mut config = FunctionConfig::new("sample-http", bootstrap());
    config.timeout = Duration::from_secs(10);
    Emulator::start(EmulatorConfig::new(vec![config])).unwrap()
}

/// A Function URL event as Lambda sends it (payload 2.0, stage `$default`).
fn event(method: &str, path: &str, query: &str, cookies: &[&str], body: Option<&str>) -> Value {
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "abc.lambda-url.us-east-1.on.aws", "user-agent": "curl/8"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "requestId": "r-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "28/Nov/2026:19:00:00 +0000",
            "timeEpoch": 1_795_892_400_000_u64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "curl/8"}
        },
        "isBase64Encoded": body.is_some(),
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

fn invoke(emulator: &Emulator, event: &Value) -> Value {
    let invoked = emulator
        .invoke("sample-http", event.to_string().as_bytes())
        .unwrap();
    assert_eq!(invoked.function_error, None, "{}", invoked.log_tail);
    serde_json::from_slice(&invoked.payload).unwrap()
}

#[test]
fn answers_function_url_events() {
    let emulator = emulator();

    let hello = invoke(
        &emulator,
        &event("GET", "/hello", "name=Ada%20L", &[], None),
    );
    assert_eq!(hello["statusCode"], 200, "{hello}");
    assert_eq!(hello["body"], "Hello, Ada L!");
    assert_eq!(hello["isBase64Encoded"], false);

    // 0x00 0x01 0x02 0xff: not UTF-8, so it can only travel as base64 both ways.
    let echo = invoke(
        &emulator,
        &event("POST", "/echo", "", &[], Some("AAEC/w==")),
    );
    assert_eq!(echo["statusCode"], 200, "{echo}");
    assert_eq!(echo["headers"]["x-body-length"], "4");
    assert_eq!(echo["isBase64Encoded"], true);
    assert_eq!(echo["body"], "AAEC/w==");

    let cookie = invoke(
        &emulator,
        &event("GET", "/cookie", "", &["a=1", "b=2"], None),
    );
    assert_eq!(cookie["statusCode"], 200, "{cookie}");
    assert_eq!(cookie["body"], "cookie: a=1; b=2");
    assert_eq!(
        cookie["cookies"],
        json!(["visited=yes; Path=/", "theme=dark"])
    );
    assert!(cookie["headers"].get("set-cookie").is_none(), "{cookie}");

    let missing = invoke(&emulator, &event("GET", "/nope", "", &[], None));
    assert_eq!(missing["statusCode"], 404, "{missing}");
    assert_eq!(missing["body"], "sample-http has no such page");

    let invoked = emulator
        .invoke(
            "sample-http",
            event("GET", "/fail", "", &[], None).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(invoked.function_error, None, "a 500, not a function error");
    let failed: Value = serde_json::from_slice(&invoked.payload).unwrap();
    assert_eq!(failed["statusCode"], 500, "{failed}");
    assert_eq!(failed["body"], "Internal Server Error");
    assert!(
        invoked.log_tail.contains("the database is down"),
        "the error is logged: {}",
        invoked.log_tail
    );

    emulator.shutdown();
}
