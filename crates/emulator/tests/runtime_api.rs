//! The Runtime API as a bootstrap sees it. The test itself plays the runtime, through the
//! runtime-API-only mode, so every status code and header can be checked exactly.

mod common;

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{Answer, agent, get, post, redact};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig, MAX_RESPONSE_BYTES};

struct Harness {
    emulator: Emulator,
    api: String,
}

fn harness(timeout: Duration) -> Harness {
    let mut function = FunctionConfig::new("probe", "/nonexistent/bootstrap");
    function.timeout = timeout;
    let mut config = EmulatorConfig::new(vec![function]);
    config.runtime_api_only = true;
    let emulator = Emulator::start(config).expect("start emulator");
    let runtime_api = emulator.runtime_api("probe").expect("runtime api endpoint");
    Harness {
        emulator,
        api: format!("http://{runtime_api}/2018-06-01/runtime"),
    }
}

/// Invokes in the background; the test answers as the runtime.
fn invoke_in_background(
    url: String,
    headers: Vec<(&'static str, String)>,
    payload: Vec<u8>,
) -> thread::JoinHandle<Answer> {
    thread::spawn(move || {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        post(&agent(), &url, &headers, &payload)
    })
}

fn epoch_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis()
}

#[test]
fn next_carries_lambda_headers_and_results_get_aws_status_codes() {
    let h = harness(Duration::from_secs(30));
    let agent = agent();
    let client_context = r#"{"client":{"app_title":"t"},"custom":{"k":"v"}}"#;
    let cognito = r#"{"cognitoIdentityId":"id-1","cognitoIdentityPoolId":"pool-1"}"#;
    let caller = invoke_in_background(
        h.emulator.invoke_url("probe"),
        vec![
            (
                "X-Amz-Client-Context",
                base64::engine::general_purpose::STANDARD.encode(client_context),
            ),
            (
                lamina_emulator::COGNITO_IDENTITY_HEADER,
                cognito.to_string(),
            ),
        ],
        br#"{"k": 1}"#.to_vec(),
    );

    let before = epoch_ms();
    let next = get(&agent, &format!("{}/invocation/next", h.api));
    assert_eq!(next.status, 200);
    assert_eq!(next.body, r#"{"k": 1}"#);
    let request_id = next
        .header("Lambda-Runtime-Aws-Request-Id")
        .expect("request id")
        .to_string();
    assert!(common::is_uuid(&request_id), "{request_id}");
    let deadline: u128 = next
        .header("Lambda-Runtime-Deadline-Ms")
        .expect("deadline")
        .parse()
        .expect("deadline is a number");
    // An epoch deadline about `timeout` ahead (not relative, not 1970).
    assert!(
        deadline > before + 25_000,
        "deadline {deadline} vs now {before}"
    );
    assert!(
        deadline <= epoch_ms() + 30_000,
        "deadline {deadline} too far ahead"
    );
    assert_eq!(
        next.header("Lambda-Runtime-Invoked-Function-Arn"),
        Some("arn:aws:lambda:us-east-1:123456789012:function:probe")
    );
    let trace = next.header("Lambda-Runtime-Trace-Id").expect("trace id");
    let parts: Vec<&str> = trace.split(';').collect();
    assert_eq!(parts.len(), 3, "{trace}");
    let root = parts[0].strip_prefix("Root=1-").expect("Root=1-");
    let (epoch_hex, random_hex) = root.split_once('-').expect("two parts");
    assert_eq!(epoch_hex.len(), 8);
    assert_eq!(random_hex.len(), 24);
    let trace_seconds = u128::from(u32::from_str_radix(epoch_hex, 16).expect("hex"));
    assert!(trace_seconds * 1000 <= epoch_ms() && trace_seconds * 1000 + 60_000 >= before);
    assert!(random_hex.bytes().all(|b| b.is_ascii_hexdigit()));
    let parent = parts[1].strip_prefix("Parent=").expect("Parent=");
    assert_eq!(parent.len(), 16);
    assert_eq!(parts[2], "Sampled=0");
    assert_eq!(
        next.header("Lambda-Runtime-Client-Context"),
        Some(client_context)
    );
    assert_eq!(
        next.header("Lambda-Runtime-Cognito-Identity"),
        Some(cognito)
    );

    let unknown = post(
        &agent,
        &format!("{}/invocation/not-a-request-id/response", h.api),
        &[],
        b"{}",
    );
    assert_eq!(unknown.status, 400);
    insta::assert_snapshot!("unknown_request_id", unknown.body);

    let accepted = post(
        &agent,
        &format!("{}/invocation/{request_id}/response", h.api),
        &[],
        br#"{"ok":true}"#,
    );
    assert_eq!(accepted.status, 202);
    assert_eq!(accepted.body, r#"{"status":"OK"}"#);

    let again = post(
        &agent,
        &format!("{}/invocation/{request_id}/response", h.api),
        &[],
        b"{}",
    );
    assert_eq!(again.status, 403);
    insta::assert_snapshot!("second_result", again.body);
    let error_after = post(
        &agent,
        &format!("{}/invocation/{request_id}/error", h.api),
        &[],
        b"{}",
    );
    assert_eq!(error_after.status, 403);

    let answer = caller.join().expect("caller thread");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, r#"{"ok":true}"#);
    assert_eq!(answer.header("X-Amz-Executed-Version"), Some("$LATEST"));
    assert_eq!(answer.header("X-Amz-Function-Error"), None);
    assert_eq!(answer.header("X-Amzn-RequestId"), Some(request_id.as_str()));
}

#[test]
fn oversize_response_is_413_and_the_caller_gets_a_size_error() {
    let h = harness(Duration::from_secs(30));
    let agent = agent();

    let caller = invoke_in_background(h.emulator.invoke_url("probe"), vec![], b"{}".to_vec());
    let next = get(&agent, &format!("{}/invocation/next", h.api));
    let request_id = next
        .header("Lambda-Runtime-Aws-Request-Id")
        .expect("id")
        .to_string();
    let too_big = vec![b'x'; MAX_RESPONSE_BYTES + 1];
    let rejected = post(
        &agent,
        &format!("{}/invocation/{request_id}/response", h.api),
        &[],
        &too_big,
    );
    assert_eq!(rejected.status, 413);
    insta::assert_snapshot!("runtime_response_too_large", rejected.body);
    let answer = caller.join().expect("caller");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
    insta::assert_snapshot!("caller_response_too_large", redact(&answer.body));

    // Exactly at the limit is fine.
    let caller = invoke_in_background(h.emulator.invoke_url("probe"), vec![], b"{}".to_vec());
    let next = get(&agent, &format!("{}/invocation/next", h.api));
    let request_id = next
        .header("Lambda-Runtime-Aws-Request-Id")
        .expect("id")
        .to_string();
    let at_limit = vec![b'y'; MAX_RESPONSE_BYTES];
    let accepted = post(
        &agent,
        &format!("{}/invocation/{request_id}/response", h.api),
        &[],
        &at_limit,
    );
    assert_eq!(accepted.status, 202);
    let answer = caller.join().expect("caller");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), MAX_RESPONSE_BYTES);
}

#[test]
fn posted_errors_reach_the_caller_as_unhandled() {
    let h = harness(Duration::from_secs(30));
    let agent = agent();
    let caller = invoke_in_background(h.emulator.invoke_url("probe"), vec![], b"{}".to_vec());
    let next = get(&agent, &format!("{}/invocation/next", h.api));
    let request_id = next
        .header("Lambda-Runtime-Aws-Request-Id")
        .expect("id")
        .to_string();
    let body = r#"{"errorMessage":"boom","errorType":"Handler.Boom","stackTrace":[]}"#;
    let accepted = post(
        &agent,
        &format!("{}/invocation/{request_id}/error", h.api),
        &[("Lambda-Runtime-Function-Error-Type", "Handler.Boom")],
        body.as_bytes(),
    );
    assert_eq!(accepted.status, 202);
    let answer = caller.join().expect("caller");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert_eq!(answer.body, body);

    // A body that is not JSON is wrapped in AWS's shape with the header's error type.
    let caller = invoke_in_background(h.emulator.invoke_url("probe"), vec![], b"{}".to_vec());
    let next = get(&agent, &format!("{}/invocation/next", h.api));
    let request_id = next
        .header("Lambda-Runtime-Aws-Request-Id")
        .expect("id")
        .to_string();
    let accepted = post(
        &agent,
        &format!("{}/invocation/{request_id}/error", h.api),
        &[("Lambda-Runtime-Function-Error-Type", "Handler.Text")],
        b"plain text \xff",
    );
    assert_eq!(accepted.status, 202);
    let answer = caller.join().expect("caller");
    insta::assert_snapshot!("wrapped_error_body", answer.body);
}

#[test]
fn init_error_reaches_the_waiting_caller_and_the_endpoint_serves_on() {
    let h = harness(Duration::from_secs(30));
    let agent = agent();
    // The runtime fails its init before anyone invokes: the next invocation gets the error.
    let body = r#"{"errorMessage":"config missing","errorType":"Runtime.InitError"}"#;
    let accepted = post(
        &agent,
        &format!("{}/init/error", h.api),
        &[("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")],
        body.as_bytes(),
    );
    assert_eq!(accepted.status, 202);
    let answer = post(&agent, &h.emulator.invoke_url("probe"), &[], b"{}");
    assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert_eq!(answer.body, body);

    // An init error while an invocation waits answers that invocation.
    let caller = invoke_in_background(h.emulator.invoke_url("probe"), vec![], b"{}".to_vec());
    let accepted = post(
        &agent,
        &format!("{}/init/error", h.api),
        &[("Lambda-Runtime-Function-Error-Type", "Runtime.InitError")],
        body.as_bytes(),
    );
    assert_eq!(accepted.status, 202);
    let answer = caller.join().expect("caller");
    assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert_eq!(answer.body, body);

    // The runtime, restarted by hand, serves the next invocation.
    let caller = invoke_in_background(h.emulator.invoke_url("probe"), vec![], b"[2]".to_vec());
    let next = get(&agent, &format!("{}/invocation/next", h.api));
    assert_eq!(next.body, "[2]");
    let request_id = next
        .header("Lambda-Runtime-Aws-Request-Id")
        .expect("id")
        .to_string();
    post(
        &agent,
        &format!("{}/invocation/{request_id}/response", h.api),
        &[],
        b"\"fine\"",
    );
    let answer = caller.join().expect("caller");
    assert_eq!(answer.body, "\"fine\"");
    // A second init error once the runtime is serving is out of order.
    let late = post(&agent, &format!("{}/init/error", h.api), &[], b"{}");
    assert_eq!(late.status, 403);
}

#[test]
fn bad_input_gets_clear_answers_and_never_breaks_the_endpoint() {
    let h = harness(Duration::from_secs(30));
    let agent = agent();
    let cases = [
        ("GET", format!("{}/invocation/next/extra", h.api)),
        ("GET", format!("{}/invocation/abc/response", h.api)),
        ("POST", format!("{}/invocation/%FF%FE/response", h.api)),
        ("POST", format!("{}/invocation//error", h.api)),
        (
            "GET",
            format!(
                "http://{}/",
                h.api
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap_or("")
            ),
        ),
        ("POST", format!("{}/nothing", h.api)),
    ];
    let mut seen = String::new();
    for (method, url) in &cases {
        let answer = if *method == "GET" {
            get(&agent, url)
        } else {
            post(&agent, url, &[], b"\xff\xfe{")
        };
        seen.push_str(&format!(
            "{method} {} -> {} {}\n",
            url.replace(&h.api, "{api}"),
            answer.status,
            answer.body
        ));
    }
    let port_free = seen.replace(
        h.api
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap_or(""),
        "{host}",
    );
    insta::assert_snapshot!("bad_runtime_requests", port_free);

    // Still serving.
    let caller = invoke_in_background(h.emulator.invoke_url("probe"), vec![], b"{}".to_vec());
    let next = get(&agent, &format!("{}/invocation/next", h.api));
    let request_id = next
        .header("Lambda-Runtime-Aws-Request-Id")
        .expect("id")
        .to_string();
    let accepted = post(
        &agent,
        &format!("{}/invocation/{request_id}/response", h.api),
        &[],
        b"1",
    );
    assert_eq!(accepted.status, 202);
    assert_eq!(caller.join().expect("caller").body, "1");
}
