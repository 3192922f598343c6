//! The front door over real HTTP: the event a function sees (echoed back by a function that
//! answers each event with itself, which a Function URL serves as a plain JSON result), and a
//! shaped answer's status, headers and cookies.

mod common;

use common::{ECHO, agent, get, post, script};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

fn start(body: &str, configure: impl FnOnce(&mut EmulatorConfig)) -> (Emulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let function = FunctionConfig::new("web", script(dir.path(), "bootstrap", body));
    let mut config = EmulatorConfig::new(vec![function]);
    configure(&mut config);
    (Emulator::start(config).expect("start"), dir)
}

#[test]
fn a_request_becomes_a_payload_2_0_event_and_a_plain_json_result_a_200() {
    let (emulator, _dir) = start(ECHO, |config| config.http_port = Some(0));
    let url = format!(
        "{}/lambda-url/web/a/b?x=1&x=2&name=J%C3%BCrgen+M",
        emulator.endpoint_url()
    );
    let answer = post(
        &agent(),
        &url,
        &[("Cookie", "a=1; b=2"), ("Content-Type", "application/json")],
        br#"{"k":1}"#,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let event: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON event");
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["rawPath"], "/a/b");
    assert_eq!(event["queryStringParameters"]["x"], "1,2");
    assert_eq!(event["queryStringParameters"]["name"], "Jürgen M");
    assert_eq!(event["cookies"], serde_json::json!(["a=1", "b=2"]));
    assert_eq!(event["requestContext"]["http"]["method"], "POST");
    assert_eq!(event["body"], r#"{"k":1}"#);
    assert_eq!(event["isBase64Encoded"], false);

    // The same function at / on its own port.
    let own = emulator.http_addr().expect("http_addr");
    let answer = get(&agent(), &format!("http://{own}/own/path"));
    let event: serde_json::Value = serde_json::from_str(&answer.body).expect("JSON event");
    assert_eq!(event["rawPath"], "/own/path");
}

#[test]
fn a_shaped_answer_sets_status_headers_and_cookies() {
    let shaped = r#"while true; do next; respond '{"statusCode":418,"headers":{"content-type":"text/plain","x-a":"b"},"cookies":["s=1; Path=/","t=2"],"body":"short and stout"}'; done"#;
    let (emulator, _dir) = start(shaped, |_| {});
    let answer = get(
        &agent(),
        &format!("{}/lambda-url/web/teapot", emulator.endpoint_url()),
    );
    assert_eq!(answer.status, 418);
    assert_eq!(answer.body, "short and stout");
    assert_eq!(answer.header("x-a"), Some("b"));
    let cookies: Vec<&str> = answer
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, ["s=1; Path=/", "t=2"]);
}

#[test]
fn an_unknown_function_behind_the_front_door_is_named() {
    let (emulator, _dir) = start(ECHO, |config| config.strict_names = true);
    let answer = get(
        &agent(),
        &format!("{}/lambda-url/nobody/x", emulator.endpoint_url()),
    );
    assert_eq!(answer.status, 404);
    assert!(answer.body.contains("\"nobody\""), "{}", answer.body);
}

/// One response read off a raw connection: status, headers (lowercased names), body.
type Raw = (u16, Vec<(String, String)>, Vec<u8>);

/// Sends `requests` (raw, pipelined, the last one closing) on one connection to `addr` and
/// splits what comes back into responses by their own framing (Content-Length or chunked), as
/// a keep-alive client does.
fn pipelined(addr: std::net::SocketAddr, requests: &[String]) -> Vec<Raw> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(common::SAFETY))
        .expect("read timeout");
    stream
        .write_all(requests.concat().as_bytes())
        .expect("send the requests");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the responses");
    let mut responses = Vec::new();
    let mut rest = &raw[..];
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("a response head: {:?}", String::from_utf8_lossy(rest)));
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("a status line: {head:?}"));
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(": "))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect();
        let value = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if value("transfer-encoding").as_deref() == Some("chunked") {
            loop {
                let line_end = rest
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .expect("chunk size");
                let size =
                    usize::from_str_radix(String::from_utf8_lossy(&rest[..line_end]).trim(), 16)
                        .expect("hex chunk size");
                rest = &rest[line_end + 2..];
                body.extend_from_slice(&rest[..size]);
                rest = &rest[size + 2..];
                if size == 0 {
                    break;
                }
            }
        } else {
            let length: usize = value("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("a framed response: {head:?}"));
            body = rest[..length.min(rest.len())].to_vec();
            rest = &rest[length.min(rest.len())..];
        }
        responses.push((status, headers, body));
    }
    responses
}

/// A keep-alive GET of `path`, and one that closes the connection after it.
fn two_gets(path: &str) -> [String; 2] {
    [
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    ]
}

#[test]
fn a_functions_framing_headers_cannot_split_a_keep_alive_connections_responses() {
    // The attack of #19: the function's own Content-Length made the body read as a response.
    let smuggler = r#"while true; do next; respond '{"statusCode":200,"headers":{"content-length":"0","x-a":"b"},"body":"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"}'; done"#;
    let (emulator, _dir) = start(smuggler, |_| {});
    let responses = pipelined(emulator.addr(), &two_gets("/lambda-url/web/x"));
    let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED".to_vec();
    let seen: Vec<(u16, Vec<u8>)> = responses.iter().map(|(s, _, b)| (*s, b.clone())).collect();
    assert_eq!(seen, vec![(200, whole.clone()), (200, whole)]);
    for (_, headers, _) in &responses {
        assert!(headers.contains(&("x-a".to_string(), "b".to_string())));
    }

    // A Content-Length shorter than the body: all of it is sent, with its true length.
    let short = r#"while true; do next; respond '{"statusCode":200,"headers":{"Content-Length":"2"},"body":"hello world"}'; done"#;
    let (emulator, _dir) = start(short, |_| {});
    let responses = pipelined(emulator.addr(), &two_gets("/lambda-url/web/x"));
    let seen: Vec<(u16, Vec<u8>)> = responses.iter().map(|(s, _, b)| (*s, b.clone())).collect();
    assert_eq!(seen, vec![(200, b"hello world".to_vec()); 2]);
}

#[test]
fn rest_multi_value_framing_headers_are_dropped_too() {
    let smuggler = r#"while true; do next; respond '{"statusCode":200,"multiValueHeaders":{"Content-Length":["0"],"Transfer-Encoding":["identity"]},"body":"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"}'; done"#;
    let (emulator, _dir) = start(smuggler, |config| {
        config.http_event = lamina_emulator::HttpEventKind::Rest;
    });
    let responses = pipelined(emulator.addr(), &two_gets("/lambda-url/web/x"));
    let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED".to_vec();
    let seen: Vec<(u16, Vec<u8>)> = responses.iter().map(|(s, _, b)| (*s, b.clone())).collect();
    assert_eq!(seen, vec![(200, whole.clone()), (200, whole)]);
}

/// A streaming function whose HTTP prelude is `prelude`, then `body` (a `printf` format: its
/// `\r\n` are CR LF).
fn streaming(prelude: &str, body: &str) -> String {
    format!(
        r#"printf '%s' '{prelude}' > ./prelude; printf '\0\0\0\0\0\0\0\0{body}' >> ./prelude
while true; do next; curl -sS -o /dev/null -X POST -H "Lambda-Runtime-Function-Response-Mode: streaming" -H "Content-Type: application/vnd.awslambda.http-integration-response" -H "Transfer-Encoding: chunked" --data-binary @./prelude "$API/invocation/$REQUEST_ID/response"; done"#
    )
}

#[test]
fn a_streamed_prelude_cannot_set_the_framing() {
    let body = streaming(
        r#"{"statusCode":200,"headers":{"content-length":"0","connection":"close","x-a":"b"}}"#,
        "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED",
    );
    let (emulator, _dir) = start(&body, |config| {
        config.functions[0].response_streaming = true;
    });
    let responses = pipelined(emulator.addr(), &two_gets("/lambda-url/web/x"));
    let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED".to_vec();
    let seen: Vec<(u16, Vec<u8>)> = responses.iter().map(|(s, _, b)| (*s, b.clone())).collect();
    assert_eq!(seen, vec![(200, whole.clone()), (200, whole)]);
    assert!(
        responses[0]
            .1
            .contains(&("x-a".to_string(), "b".to_string()))
    );
}

#[test]
fn a_status_that_is_not_final_is_a_502_naming_it() {
    for status in [100, 101, 103] {
        let shaped = format!(
            r#"while true; do next; respond '{{"statusCode":{status},"headers":{{"upgrade":"websocket","connection":"upgrade"}},"body":"x"}}'; done"#
        );
        let (emulator, _dir) = start(&shaped, |_| {});
        let answer = get(
            &agent(),
            &format!("{}/lambda-url/web/x", emulator.endpoint_url()),
        );
        assert_eq!(answer.status, 502, "{status}: {}", answer.body);
        insta::assert_snapshot!(format!("status_{status}"), answer.body);
    }
    // The streamed path too.
    let body = streaming(r#"{"statusCode":101}"#, "x");
    let (emulator, _dir) = start(&body, |config| {
        config.functions[0].response_streaming = true;
    });
    let answer = get(
        &agent(),
        &format!("{}/lambda-url/web/x", emulator.endpoint_url()),
    );
    assert_eq!(answer.status, 502, "{}", answer.body);
    assert!(
        answer.body.contains("statusCode 101 is not"),
        "{}",
        answer.body
    );
}
