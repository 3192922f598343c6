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
