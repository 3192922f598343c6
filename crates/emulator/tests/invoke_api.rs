//! The Invoke API as callers see it, with real processes: `#!/bin/sh` functions that talk to
//! the Runtime API with curl.

mod common;

use base64::Engine as _;
use common::{ECHO, agent, post, redact, script, wait_until};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig, MAX_REQUEST_BYTES};

fn start(functions: Vec<FunctionConfig>) -> Emulator {
    Emulator::start(EmulatorConfig::new(functions)).expect("start emulator")
}

#[test]
fn with_one_function_any_name_reaches_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = start(vec![FunctionConfig::new(
        "echo",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    let agent = agent();
    for name in [
        "echo",
        "function",
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Aother",
    ] {
        let answer = post(&agent, &emulator.invoke_url(name), &[], br#"{"to":"x"}"#);
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
        assert_eq!(answer.body, r#"{"to":"x"}"#);
        assert_eq!(answer.header("X-Amz-Executed-Version"), Some("$LATEST"));
    }
}

#[test]
fn with_several_functions_names_route_and_unknown_is_404() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"while true; do next; respond "\"$AWS_LAMBDA_FUNCTION_NAME\""; done"#;
    let bootstrap = script(dir.path(), "bootstrap", body);
    let emulator = start(vec![
        FunctionConfig::new("alpha", &bootstrap),
        FunctionConfig::new("beta", &bootstrap),
    ]);
    let agent = agent();
    assert_eq!(
        post(&agent, &emulator.invoke_url("alpha"), &[], b"{}").body,
        "\"alpha\""
    );
    assert_eq!(
        post(&agent, &emulator.invoke_url("beta"), &[], b"{}").body,
        "\"beta\""
    );
    let by_arn = emulator.invoke_url("arn:aws:lambda:us-east-1:123456789012:function:beta:$LATEST");
    assert_eq!(post(&agent, &by_arn, &[], b"{}").body, "\"beta\"");
    let unknown = post(&agent, &emulator.invoke_url("gamma"), &[], b"{}");
    assert_eq!(unknown.status, 404);
    assert_eq!(
        unknown.header("x-amzn-ErrorType"),
        Some("ResourceNotFoundException")
    );
    insta::assert_snapshot!("unknown_function", unknown.body);
}

#[test]
fn dry_run_is_204_and_event_is_202_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"while true; do next; echo "got $EVENT"; respond '"done"'; done"#;
    let emulator = start(vec![FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", body),
    )]);
    let agent = agent();

    let dry = post(
        &agent,
        &emulator.invoke_url("f"),
        &[("X-Amz-Invocation-Type", "DryRun")],
        b"{}",
    );
    assert_eq!(dry.status, 204);
    assert_eq!(dry.body, "");
    assert!(
        !emulator.logs("f").contains("START"),
        "a dry run runs nothing"
    );

    let event = post(
        &agent,
        &emulator.invoke_url("f"),
        &[("X-Amz-Invocation-Type", "Event")],
        br#"{"event":1}"#,
    );
    assert_eq!(event.status, 202);
    assert_eq!(event.body, "");
    let request_id = event
        .header("X-Amzn-RequestId")
        .expect("request id")
        .to_string();
    wait_until("the event's REPORT line", || {
        emulator
            .logs("f")
            .contains(&format!("REPORT RequestId: {request_id}"))
    });
    assert!(emulator.logs("f").contains(r#"got {"event":1}"#));
}

#[test]
fn tail_returns_this_invocations_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"while true; do next; echo "stdout says $EVENT"; echo "stderr says hi" >&2; respond '{}'; done"#;
    let emulator = start(vec![FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", body),
    )]);
    let agent = agent();
    let first = post(
        &agent,
        &emulator.invoke_url("f"),
        &[("X-Amz-Log-Type", "Tail")],
        b"1",
    );
    let second = post(
        &agent,
        &emulator.invoke_url("f"),
        &[("X-Amz-Log-Type", "Tail")],
        b"2",
    );
    let no_tail = post(&agent, &emulator.invoke_url("f"), &[], b"3");
    assert_eq!(no_tail.header("X-Amz-Log-Result"), None);

    let decode = |answer: &common::Answer| {
        let encoded = answer.header("X-Amz-Log-Result").expect("X-Amz-Log-Result");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        String::from_utf8(bytes).expect("utf-8")
    };
    let first_log = decode(&first);
    let second_log = decode(&second);
    assert!(
        first_log.contains("stdout says 1\nstderr says hi\n"),
        "{first_log}"
    );
    assert!(!first_log.contains("says 2"), "{first_log}");
    assert!(second_log.contains("stdout says 2"), "{second_log}");
    assert!(!second_log.contains("says 1"), "{second_log}");
    // The first invocation of an instance reports its init; later ones do not.
    insta::assert_snapshot!("tail_first", redact(&first_log));
    insta::assert_snapshot!("tail_second", redact(&second_log));
}

#[test]
fn oversize_and_malformed_requests_get_aws_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = start(vec![FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    let agent = agent();
    let url = emulator.invoke_url("f");

    let mut too_big = vec![b' '; MAX_REQUEST_BYTES + 1];
    too_big[0] = b'1';
    let answer = post(&agent, &url, &[], &too_big);
    assert_eq!(answer.status, 413);
    assert_eq!(
        answer.header("x-amzn-ErrorType"),
        Some("RequestEntityTooLargeException")
    );
    insta::assert_snapshot!("invoke_too_large", answer.body);

    let mut at_limit = vec![b' '; MAX_REQUEST_BYTES];
    at_limit[0] = b'1';
    assert_eq!(post(&agent, &url, &[], &at_limit).status, 200);

    let mut report = String::new();
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [u8]);
    let too_long_context = "e30=".repeat(896);
    let cases: [Case; 6] = [
        ("bad json", &[], b"{not json"),
        ("non-utf-8", &[], b"\"\xff\xfe\""),
        (
            "bad invocation type",
            &[("X-Amz-Invocation-Type", "Sometimes")],
            b"{}",
        ),
        ("bad log type", &[("X-Amz-Log-Type", "Everything")], b"{}"),
        (
            "bad client context",
            &[("X-Amz-Client-Context", "not base64!")],
            b"{}",
        ),
        (
            "client context over 3583 bytes",
            &[("X-Amz-Client-Context", &too_long_context)],
            b"{}",
        ),
    ];
    for (what, headers, body) in cases {
        let answer = post(&agent, &url, headers, body);
        report.push_str(&format!(
            "{what}: {} {} {}\n",
            answer.status,
            answer.header("x-amzn-ErrorType").unwrap_or("-"),
            answer.body
        ));
    }
    let wrong_path = common::get(
        &agent,
        &format!("{}/2015-03-31/functions/f", emulator.endpoint_url()),
    );
    report.push_str(&format!(
        "wrong path: {} {}\n",
        wrong_path.status, wrong_path.body
    ));
    insta::assert_snapshot!("malformed_invokes", report);

    // Empty payload means `{}`, as on AWS.
    assert_eq!(post(&agent, &url, &[], b"").body, "{}");
}

#[test]
fn function_errors_answer_200_unhandled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"while true; do next; fail Handler.Bad "bad input"; done"#;
    let emulator = start(vec![FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", body),
    )]);
    let answer = post(&agent(), &emulator.invoke_url("f"), &[], b"{}");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
    assert_eq!(
        answer.body,
        r#"{"errorMessage":"bad input","errorType":"Handler.Bad"}"#
    );
}

#[test]
fn the_function_gets_lambdas_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = r#"next; env > ./env.txt; respond '{}'; sleep 30"#;
    let mut function = FunctionConfig::new("env-probe", script(dir.path(), "bootstrap", body));
    function.memory_mb = 512;
    function.handler = "app.handler".into();
    function.env.push(("EXTRA".into(), "yes".into()));
    let emulator = start(vec![function]);
    post(&agent(), &emulator.invoke_url("env-probe"), &[], b"{}");
    let text = std::fs::read_to_string(dir.path().join("env.txt")).expect("env.txt");
    let vars: std::collections::HashMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once('=')).collect();
    let task_root = dir.path().to_string_lossy().into_owned();
    assert_eq!(vars["_HANDLER"], "app.handler");
    assert_eq!(vars["LAMBDA_TASK_ROOT"], task_root);
    assert_eq!(vars["AWS_LAMBDA_FUNCTION_NAME"], "env-probe");
    assert_eq!(vars["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
    assert_eq!(vars["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/env-probe");
    assert!(vars["AWS_LAMBDA_LOG_STREAM_NAME"].contains("/[$LATEST]"));
    assert_eq!(vars["AWS_REGION"], "us-east-1");
    assert_eq!(vars["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(vars["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(vars["TZ"], ":UTC");
    assert!(vars["AWS_LAMBDA_RUNTIME_API"].starts_with("127.0.0.1:"));
    assert!(vars.contains_key("AWS_ACCESS_KEY_ID"));
    assert!(vars.contains_key("AWS_SECRET_ACCESS_KEY"));
    assert!(vars.contains_key("AWS_SESSION_TOKEN"));
    assert_eq!(vars["EXTRA"], "yes");
    // Lambda's PATH first, then the host's so local tools are found.
    let path = vars["PATH"];
    assert!(
        path.starts_with("/usr/local/bin:/usr/bin/:/bin:/opt/bin:"),
        "{path}"
    );
    let host_path = std::env::var("PATH").expect("PATH");
    assert!(path.ends_with(&host_path), "{path}");
    assert_eq!(
        vars["LD_LIBRARY_PATH"],
        format!(
            "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:{task_root}:{task_root}/lib:/opt/lib"
        )
    );
    assert!(
        !vars.contains_key("HOME"),
        "the host's environment does not leak in"
    );
}

/// Sends raw bytes and returns whatever comes back before the server closes or 5 s pass.
fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn raw_garbage_and_non_text_headers_get_400s_and_the_server_serves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = start(vec![FunctionConfig::new(
        "f",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    let addr = emulator.addr();

    let non_text = raw_exchange(
        addr,
        b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Amz-Invocation-Type: \xffEvent\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert!(non_text.starts_with("HTTP/1.1 400"), "{non_text}");
    assert!(
        non_text.contains("InvalidParameterValueException"),
        "{non_text}"
    );

    let garbage = raw_exchange(addr, b"\x00\x01\xfe GARBAGE\r\n\r\n");
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    let bad_path = raw_exchange(
        addr,
        b"POST /2015-03-31/functions/%ZZ/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    );
    assert!(bad_path.starts_with("HTTP/1.1 400"), "{bad_path}");
    let lying_length = raw_exchange(
        addr,
        b"POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999\r\n\r\n{}",
    );
    assert!(
        lying_length.is_empty() || lying_length.starts_with("HTTP/1.1 4"),
        "{lying_length}"
    );

    let answer = post(
        &agent(),
        &emulator.invoke_url("f"),
        &[],
        b"[\"still here\"]",
    );
    assert_eq!(answer.body, "[\"still here\"]");
}
