//! A runtime's answer is taken once (issue #19): whatever the Runtime API refuses or cannot
//! read from the runtime for an invocation it delivered ends that invocation as failed, and
//! it is never handed out again by `/next`; a second streamed answer for one id is refused,
//! not merged; an instance serves as many slots as Lambda Managed Instances allow. The test
//! plays the runtime (runtime-API-only mode) with raw HTTP, so every byte is the attack's.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Barrier;
use std::time::Duration;

use base64::Engine as _;
use common::{SAFETY, agent, get, post};
use lamina_emulator::{Emulator, EmulatorConfig, EmulatorError, FunctionConfig, Invoked};

/// An emulator serving one function, `probe`, whose runtime is this test.
struct Harness {
    emulator: Emulator,
    /// `127.0.0.1:PORT` of the Runtime API.
    addr: String,
}

fn harness(max_concurrency: usize) -> Harness {
    // Long enough that a test failing on the old code fails on its assertion, not a timeout;
    // short enough that the old code's Sandbox.Timedout comes back within the safety bound.
    harness_with(max_concurrency, Duration::from_secs(5))
}

fn harness_with(max_concurrency: usize, timeout: Duration) -> Harness {
    let mut function = FunctionConfig::new("probe", "/nonexistent/bootstrap");
    function.timeout = timeout;
    function.max_concurrency = max_concurrency;
    let mut config = EmulatorConfig::new(vec![function]);
    config.runtime_api_only = true;
    let emulator = Emulator::start(config).expect("start emulator");
    let addr = emulator.runtime_api("probe").expect("runtime api endpoint");
    Harness { emulator, addr }
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("http://{}/2018-06-01/runtime/{path}", self.addr)
    }

    /// `GET /next` on its own connection: the request id and the event.
    fn next(&self) -> (String, String) {
        let answer = get(&agent(), &self.url("invocation/next"));
        assert_eq!(answer.status, 200, "{}", answer.body);
        let id = answer
            .header("Lambda-Runtime-Aws-Request-Id")
            .expect("request id")
            .to_string();
        (id, answer.body)
    }
}

/// Sends `head` and `body` on a new connection, ignoring a server that stops reading, and
/// returns the answer's status and body, or `None` when the connection ended without one.
fn raw_post(addr: &str, head: &str, body: &[u8]) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(SAFETY)).expect("timeout");
    // A server that refuses the request may close before everything is written.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    read_answer(&mut stream)
}

/// Reads one HTTP answer (status line, headers, a `Content-Length` body).
fn read_answer(stream: &mut TcpStream) -> Option<(u16, String)> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
            let status = head.split(' ').nth(1)?.parse().ok()?;
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            while bytes.len() < end + 4 + length {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => bytes.extend_from_slice(&buffer[..n]),
                }
            }
            let body = String::from_utf8_lossy(&bytes[end + 4..end + 4 + length]).into_owned();
            return Some((status, body));
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return None,
            Ok(n) => bytes.extend_from_slice(&buffer[..n]),
        }
    }
}

/// The head of a streamed `/response` for `id`.
fn streaming_head(id: &str) -> String {
    format!(
        "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: runtime\r\n\
         Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n\
         Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\
         Content-Type: text/plain\r\n\r\n"
    )
}

/// One chunk of a chunked body.
fn chunk(data: &[u8]) -> Vec<u8> {
    [format!("{:x}\r\n", data.len()).as_bytes(), data, b"\r\n"].concat()
}

/// The end of a chunked body with these error trailers (raw bytes: a test may send any).
fn end_with_error(error_type: &[u8], body_json: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(body_json);
    [
        b"0\r\nLambda-Runtime-Function-Error-Type: ".as_slice(),
        error_type,
        b"\r\nLambda-Runtime-Function-Error-Body: ",
        encoded.as_bytes(),
        b"\r\n\r\n",
    ]
    .concat()
}

/// The error JSON a caller got, parsed.
fn error_of(invoked: &Invoked) -> serde_json::Value {
    assert_eq!(
        invoked.function_error.as_deref(),
        Some("Unhandled"),
        "{}",
        String::from_utf8_lossy(&invoked.payload)
    );
    serde_json::from_slice(&invoked.payload).expect("error JSON")
}

#[test]
fn an_error_trailer_too_big_to_read_fails_the_invocation_once_and_it_is_never_redelivered() {
    let h = harness(1);
    std::thread::scope(|scope| {
        let first = scope.spawn(|| h.emulator.invoke("probe", br#"{"n":1}"#).expect("invoke"));
        let (id, event) = h.next();
        assert_eq!(event, r#"{"n":1}"#);
        // The attack: STREAM, one CHUNK, then an ERROR whose traceback is 20,000 bytes; its
        // trailer section is past the Runtime API's 16 KiB.
        let message = "x".repeat(20_000);
        let json = serde_json::json!({"errorMessage": message, "errorType": "ValueError"});
        let body = [
            chunk(b"part one;"),
            end_with_error(b"ValueError", json.to_string().as_bytes()),
        ]
        .concat();
        let answer = raw_post(&h.addr, &streaming_head(&id), &body);
        if let Some((status, body)) = answer {
            assert_eq!(status, 400, "{body}");
            insta::assert_snapshot!(body, @r#"{"errorMessage":"HTTP request detected as truncated","errorType":"TruncatedHTTPRequest"}"#);
        }
        // The caller gets a failure that says why, not Sandbox.Timedout after the timeout.
        let first = first.join().expect("caller");
        let error = error_of(&first);
        insta::assert_snapshot!(
            common::redact(&error.to_string()),
            @r#"{"errorMessage":"RequestId: [request-id] Error: the runtime's streamed response could not be read to its end (error reading a body from connection: chunk trailers bytes over limit), so the invocation failed","errorType":"Runtime.TruncatedResponse"}"#
        );
        // The runtime asks again: it gets the next invocation, never the failed one.
        let second = scope.spawn(|| h.emulator.invoke("probe", br#"{"n":2}"#).expect("invoke"));
        let (next_id, event) = h.next();
        assert_ne!(next_id, id, "the failed invocation was handed out again");
        assert_eq!(event, r#"{"n":2}"#);
        let answer = post(
            &agent(),
            &h.url(&format!("invocation/{next_id}/response")),
            &[],
            b"\"ok\"",
        );
        assert_eq!(answer.status, 202);
        assert_eq!(second.join().expect("caller").payload, b"\"ok\"");
        // A late answer for the failed one is "already answered", as for any finished one.
        let late = post(
            &agent(),
            &h.url(&format!("invocation/{id}/response")),
            &[],
            b"{}",
        );
        assert_eq!(late.status, 403, "{}", late.body);
    });
    let log = common::platform_lines(&h.emulator.logs("probe"));
    assert_eq!(log.matches("START ").count(), 2, "{log}");
}

#[test]
fn a_non_ascii_error_type_trailer_still_fails_the_invocation() {
    let h = harness(1);
    std::thread::scope(|scope| {
        let caller = scope.spawn(|| h.emulator.invoke("probe", b"{}").expect("invoke"));
        let (id, _) = h.next();
        let body = [
            chunk(b"partial"),
            end_with_error(
                b"Caf\xe9.Error",
                br#"{"errorMessage":"bad","errorType":"Caf\u00e9.Error"}"#,
            ),
        ]
        .concat();
        let (status, body) = raw_post(&h.addr, &streaming_head(&id), &body).expect("answer");
        assert_eq!(status, 202, "{body}");
        let error = error_of(&caller.join().expect("caller"));
        assert_eq!(error["errorMessage"], "bad");
        assert_eq!(error["errorType"], "Café.Error");
    });
    std::thread::scope(|scope| {
        // Without a body trailer, the type (decoded lossily) is the whole error.
        let caller = scope.spawn(|| h.emulator.invoke("probe", b"{}").expect("invoke"));
        let (id, _) = h.next();
        let end = b"0\r\nLambda-Runtime-Function-Error-Type: Bad\xff\xfeType\r\n\r\n";
        let body = [chunk(b"partial"), end.to_vec()].concat();
        let (status, _) = raw_post(&h.addr, &streaming_head(&id), &body).expect("answer");
        assert_eq!(status, 202);
        let error = error_of(&caller.join().expect("caller"));
        insta::assert_snapshot!(error.to_string(), @r#"{"errorMessage":"","errorType":"Bad��Type"}"#);
    });
}

#[test]
fn a_second_streamed_answer_for_one_id_is_refused_and_nothing_merges() {
    let h = harness(1);
    let (arrived, first_chunk) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        let emulator = &h.emulator;
        let caller = scope.spawn(move || {
            let mut chunks = Vec::new();
            let invoked = emulator
                .invoke_stream("probe", b"{}", &mut |c| {
                    chunks.extend_from_slice(c);
                    let _ = arrived.send(());
                })
                .expect("invoke");
            (invoked, String::from_utf8(chunks).expect("text"))
        });
        let (id, _) = h.next();
        // The first answer opens its stream and sends its first chunk, which reaches the
        // caller: that stream is under way.
        let mut first = TcpStream::connect(&h.addr).expect("connect");
        first.set_read_timeout(Some(SAFETY)).expect("timeout");
        first
            .write_all(&[streaming_head(&id).into_bytes(), chunk(b"first 1;")].concat())
            .expect("write");
        first_chunk.recv_timeout(SAFETY).expect("the first chunk");
        // The second, for the same id, is refused whole: none of its bytes reach the caller.
        let mut second_body = chunk(b"second;");
        second_body.extend_from_slice(b"0\r\n\r\n");
        let (status, body) = raw_post(&h.addr, &streaming_head(&id), &second_body).expect("answer");
        assert_eq!(status, 400, "{body}");
        insta::assert_snapshot!(body, @r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#);
        first
            .write_all(&[chunk(b"first 2;"), b"0\r\n\r\n".to_vec()].concat())
            .expect("write");
        let (status, body) = read_answer(&mut first).expect("answer");
        assert_eq!(status, 202, "{body}");
        let (invoked, chunks) = caller.join().expect("caller");
        assert_eq!(invoked.function_error, None);
        assert_eq!(chunks, "first 1;first 2;");
    });
}

#[test]
fn a_buffered_answer_cut_short_fails_the_invocation_once() {
    let h = harness(1);
    std::thread::scope(|scope| {
        let caller = scope.spawn(|| h.emulator.invoke("probe", b"{}").expect("invoke"));
        let (id, _) = h.next();
        {
            // Promises 100 bytes, sends 10, hangs up.
            let mut stream = TcpStream::connect(&h.addr).expect("connect");
            let head = format!(
                "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: runtime\r\n\
                 Content-Length: 100\r\n\r\n0123456789"
            );
            stream.write_all(head.as_bytes()).expect("write");
        }
        let error = error_of(&caller.join().expect("caller"));
        assert_eq!(error["errorType"], "Runtime.TruncatedResponse", "{error}");
        // Lambda's own failure, not the handler's: REPORT says so as for Runtime.ExitError.
        let log = common::platform_lines(&h.emulator.logs("probe"));
        let report = log
            .lines()
            .find(|line| line.starts_with("REPORT "))
            .expect("a REPORT line");
        assert!(
            report.ends_with("Status: error\tError Type: Runtime.TruncatedResponse\t"),
            "{log}"
        );
        let late = post(
            &agent(),
            &h.url(&format!("invocation/{id}/response")),
            &[],
            b"{}",
        );
        assert_eq!(late.status, 403, "{}", late.body);
    });
}

#[test]
fn a_stream_past_200_mb_is_cut_naming_the_streamed_limit() {
    const MIB: usize = 1024 * 1024;
    let limit = lamina_context::facts::MAX_STREAMED_RESPONSE_BYTES;
    let h = harness_with(1, Duration::from_secs(120));
    std::thread::scope(|scope| {
        let caller = scope.spawn(|| {
            let mut received = 0usize;
            let invoked = h
                .emulator
                .invoke_stream("probe", b"{}", &mut |c| received += c.len())
                .expect("invoke");
            (invoked, received)
        });
        let (id, _) = h.next();
        let mut stream = TcpStream::connect(&h.addr).expect("connect");
        stream.set_read_timeout(Some(SAFETY)).expect("timeout");
        stream.set_write_timeout(Some(SAFETY)).expect("timeout");
        let megabyte = chunk(&vec![b'x'; MIB]);
        let mut sent = stream.write_all(streaming_head(&id).as_bytes());
        for _ in 0..limit as usize / MIB {
            sent = sent.and_then(|()| stream.write_all(&megabyte));
        }
        // One byte past the limit, then the end: the server may stop reading at the byte.
        let _ = sent
            .and_then(|()| stream.write_all(&chunk(b"x")))
            .and_then(|()| stream.write_all(b"0\r\n\r\n"));
        let (status, body) = read_answer(&mut stream).expect("answer");
        assert_eq!(status, 413);
        insta::assert_snapshot!(body, @r#"{"errorMessage":"Exceeded maximum allowed payload size (209715200 bytes).","errorType":"RequestEntityTooLarge"}"#);
        let (invoked, received) = caller.join().expect("caller");
        assert_eq!(
            received as u64, limit,
            "every byte within the limit went on"
        );
        insta::assert_snapshot!(
            String::from_utf8_lossy(&invoked.payload),
            @r#"{"errorMessage":"Response payload size exceeded maximum allowed payload size (209715200 bytes).","errorType":"Function.ResponseSizeTooLarge"}"#
        );
    });
}

#[test]
fn two_hundred_slots_in_one_instance_are_all_served_at_once() {
    const SLOTS: usize = 200;
    let h = harness(SLOTS);
    let all_delivered = Barrier::new(SLOTS);
    std::thread::scope(|scope| {
        let callers: Vec<_> = (0..SLOTS)
            .map(|n| {
                let emulator = &h.emulator;
                scope.spawn(move || {
                    let payload = format!("{{\"n\":{n}}}");
                    let invoked = emulator
                        .invoke("probe", payload.as_bytes())
                        .expect("invoke");
                    (payload, invoked)
                })
            })
            .collect();
        for _ in 0..SLOTS {
            let (h, all_delivered) = (&h, &all_delivered);
            scope.spawn(move || {
                // One keep-alive connection per slot, as a runtime polls.
                let agent = agent();
                let answer = get(&agent, &h.url("invocation/next"));
                assert_eq!(answer.status, 200, "{}", answer.body);
                let id = answer
                    .header("Lambda-Runtime-Aws-Request-Id")
                    .expect("id")
                    .to_string();
                // Every slot holds its invocation until all of them have theirs.
                all_delivered.wait();
                let url = h.url(&format!("invocation/{id}/response"));
                assert_eq!(post(&agent, &url, &[], answer.body.as_bytes()).status, 202);
            });
        }
        for caller in callers {
            let (payload, invoked) = caller.join().expect("caller");
            assert_eq!(invoked.function_error, None);
            assert_eq!(String::from_utf8(invoked.payload).expect("text"), payload);
        }
    });
}

#[test]
fn a_max_concurrency_outside_lambdas_range_is_refused_naming_the_limit() {
    for slots in [0, 1601, 4_294_967_295] {
        let mut function = FunctionConfig::new("probe", "/nonexistent/bootstrap");
        function.max_concurrency = slots;
        let mut config = EmulatorConfig::new(vec![function]);
        config.runtime_api_only = true;
        let error = Emulator::start(config).err().expect("refused");
        assert!(
            matches!(error, EmulatorError::InvalidFunction { .. }),
            "{error:?}"
        );
        if slots == 1601 {
            insta::assert_snapshot!(error.to_string(), @"function `probe`: max concurrency 1601: Lambda Managed Instances run 1 to 1600 invocations at once in one execution environment (PerExecutionEnvironmentMaxConcurrency)");
        }
    }
    let mut function = FunctionConfig::new("probe", "/nonexistent/bootstrap");
    function.max_concurrency = 1600;
    let mut config = EmulatorConfig::new(vec![function]);
    config.runtime_api_only = true;
    assert!(Emulator::start(config).is_ok());
}

/// A runtime that asks `/next` again without answering waits; it is not handed the invocation
/// it was given (which would run its handler again: an attacker's raw client ran one
/// invocation's handler 15,000 times in 10 s). The unanswered invocation ends by its timeout,
/// and the waiting `/next` gets the next invocation.
#[test]
fn a_runtime_asking_again_without_answering_is_not_handed_the_same_invocation() {
    let h = harness_with(1, Duration::from_secs(1));
    std::thread::scope(|scope| {
        let first = scope.spawn(|| h.emulator.invoke("probe", br#"{"n":1}"#).expect("invoke"));
        let (id, _) = h.next();
        let again = scope.spawn(|| h.next());
        let first = first.join().expect("caller");
        assert_eq!(error_of(&first)["errorType"], "Sandbox.Timedout");
        // Nothing else is queued: the second `/next` must still be waiting.
        if again.is_finished() {
            let (next_id, _) = again.join().expect("second /next");
            panic!("/next handed out {next_id} again (the unanswered one is {id})");
        }
        let second = scope.spawn(|| h.emulator.invoke("probe", br#"{"n":2}"#).expect("invoke"));
        let (next_id, event) = again.join().expect("second /next");
        assert_ne!(
            next_id, id,
            "the unanswered invocation was handed out again"
        );
        assert_eq!(event, r#"{"n":2}"#);
        let answer = post(
            &agent(),
            &h.url(&format!("invocation/{next_id}/response")),
            &[],
            b"\"ok\"",
        );
        assert_eq!(answer.status, 202);
        assert_eq!(second.join().expect("caller").payload, b"\"ok\"");
    });
    let log = common::platform_lines(&h.emulator.logs("probe"));
    assert_eq!(log.matches("START ").count(), 2, "{log}");
}

/// An answer cut short, then `/next` at once (before the emulator has read the cut): the cut
/// invocation is not handed out again (an attacker's client got it back 5 times in 6).
#[test]
fn a_cut_answer_followed_at_once_by_next_is_not_handed_out_again() {
    let h = harness(1);
    for round in 0..6 {
        std::thread::scope(|scope| {
            let first = scope.spawn(|| h.emulator.invoke("probe", b"{}").expect("invoke"));
            let (id, _) = h.next();
            let mut stream = TcpStream::connect(&h.addr).expect("connect");
            let head = format!(
                "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\n\
                 Content-Length: 1000\r\n\r\n0123456789"
            );
            stream.write_all(head.as_bytes()).expect("write");
            drop(stream);
            let again = scope.spawn(|| h.next());
            assert_eq!(
                error_of(&first.join().expect("caller"))["errorType"],
                "Runtime.TruncatedResponse",
                "round {round}"
            );
            if again.is_finished() {
                let (next_id, _) = again.join().expect("second /next");
                panic!("round {round}: /next handed out {next_id} (the cut one is {id})");
            }
            let second = scope.spawn(|| h.emulator.invoke("probe", b"{}").expect("invoke"));
            let (next_id, _) = again.join().expect("second /next");
            assert_ne!(
                next_id, id,
                "round {round}: the cut invocation was handed out again"
            );
            let answer = post(
                &agent(),
                &h.url(&format!("invocation/{next_id}/response")),
                &[],
                b"\"ok\"",
            );
            assert_eq!(answer.status, 202);
            assert_eq!(second.join().expect("caller").payload, b"\"ok\"");
        });
    }
}
