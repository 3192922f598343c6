//! The loop against a fake Runtime API: a `TcpListener` on 127.0.0.1 answering canned HTTP.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::serve::{Connection, FatalError, RetryPolicy, decode_event, encode_response};
use crate::{Context, Error, MAX_RESPONSE_BYTES};

/// One request as the fake server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// For a chunked body, each chunk as it arrived.
    chunks: Vec<Vec<u8>>,
    /// For a chunked body, its trailers.
    trailers: Vec<(String, String)>,
    /// The status the fake answered with.
    status: u16,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(found, _)| found.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
    fn body_text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// A canned answer.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        headers: vec![],
        body: body.as_bytes().to_vec(),
    }
}

/// An event for `/next` with AWS's headers.
fn event(request_id: &str, body: &str) -> Reply {
    Reply {
        status: 200,
        headers: vec![
            ("Lambda-Runtime-Aws-Request-Id".into(), request_id.into()),
            ("Lambda-Runtime-Deadline-Ms".into(), "4102444800000".into()),
            (
                "Lambda-Runtime-Invoked-Function-Arn".into(),
                "arn:aws:lambda:us-east-1:123456789012:function:test".into(),
            ),
            (
                "Lambda-Runtime-Trace-Id".into(),
                format!("Root=1-{request_id}"),
            ),
        ],
        body: body.as_bytes().to_vec(),
    }
}

struct Script {
    /// Answers to `/next`, in order; when empty, `/next` answers 500 so the loop stops.
    next: VecDeque<Reply>,
    /// Answer to every POST.
    post: Reply,
    /// The `Lambda-Runtime-Invocation-Id` each delivered request id was sent with: a POST for
    /// one of them that does not echo it is refused, as AWS's Runtime API refuses a stale one.
    nonces: std::collections::HashMap<String, String>,
}

/// Chunks of streamed bodies as they arrive, before the request ends.
type LiveChunks = Arc<(Mutex<Vec<Vec<u8>>>, Condvar)>;

struct FakeApi {
    address: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    live: LiveChunks,
}

impl FakeApi {
    fn start(next: Vec<Reply>, post: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(Script {
            next: next.into(),
            post,
            nonces: std::collections::HashMap::new(),
        }));
        let seen_by_server = seen.clone();
        let live = LiveChunks::default();
        let live_by_server = live.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let seen = seen_by_server.clone();
                let script = script.clone();
                let live = live_by_server.clone();
                std::thread::spawn(move || serve_connection(stream, &seen, &script, &live));
            }
        });
        Self {
            address,
            seen,
            live,
        }
    }

    /// Waits until `count` chunks of streamed bodies have reached the server.
    fn wait_for_chunks(live: &LiveChunks, count: usize) -> Vec<Vec<u8>> {
        let (chunks, arrived) = &**live;
        // The bound only turns a hang (chunks held back until the handler returns) into a
        // failure; a correct runtime delivers in microseconds.
        let (chunks, waited) = arrived
            .wait_timeout_while(chunks.lock().unwrap(), Duration::from_secs(30), |chunks| {
                chunks.len() < count
            })
            .unwrap();
        assert!(
            !waited.timed_out(),
            "{count} chunk(s) never reached the server while the handler ran"
        );
        chunks.clone()
    }

    fn runtime(&self, prefix: &str) -> Connection {
        Connection::new(
            format!("http://{}{prefix}/2018-06-01", self.address),
            FAST_RETRY,
        )
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn posts(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|seen| seen.method == "POST")
            .collect()
    }
}

const INVOCATION_ID: &str = "Lambda-Runtime-Invocation-Id";

const FAST_RETRY: RetryPolicy = RetryPolicy {
    retries: 3,
    first_delay: Duration::from_millis(1),
};

fn serve_connection(
    stream: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    script: &Mutex<Script>,
    live: &LiveChunks,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        let length: usize = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map(|(_, value)| value.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let chunked = headers.iter().any(|(name, value)| {
            name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked")
        });
        let (mut chunks, mut trailers) = (Vec::new(), Vec::new());
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim_end(), 16).unwrap();
                if size == 0 {
                    break;
                }
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                assert!(chunk.ends_with(b"\r\n"), "a chunk must end with CRLF");
                chunk.truncate(size);
                body.extend_from_slice(&chunk);
                chunks.push(chunk.clone());
                let (live_chunks, arrived) = &**live;
                live_chunks.lock().unwrap().push(chunk);
                arrived.notify_all();
            }
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                trailers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let answer = {
            let mut script = script.lock().unwrap();
            if method == "GET" {
                let answer = script
                    .next
                    .pop_front()
                    .unwrap_or_else(|| reply(500, "no more events"));
                let header = |name: &str| {
                    answer
                        .headers
                        .iter()
                        .find(|(found, _)| found == name)
                        .map(|(_, value)| value.clone())
                };
                if let (Some(id), Some(nonce)) = (
                    header("Lambda-Runtime-Aws-Request-Id"),
                    header(INVOCATION_ID),
                ) {
                    script.nonces.insert(id, nonce);
                }
                answer
            } else {
                let request_id = path.split('/').rev().nth(1).unwrap_or_default();
                let echoed = headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(INVOCATION_ID))
                    .map(|(_, value)| value.as_str());
                match script.nonces.get(request_id) {
                    Some(nonce) if echoed != Some(nonce.as_str()) => reply(
                        400,
                        r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
                    ),
                    _ => script.post.clone(),
                }
            }
        };
        seen.lock().unwrap().push(Seen {
            method,
            path,
            headers,
            body,
            chunks,
            trailers,
            status: answer.status,
        });
        let mut head = format!(
            "HTTP/1.1 {} Canned\r\nContent-Length: {}\r\n",
            answer.status,
            answer.body.len()
        );
        for (name, value) in &answer.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&answer.body).is_err() {
            return;
        }
    }
}

#[derive(Deserialize)]
struct Greet {
    name: String,
}

#[derive(Serialize)]
struct Greeting {
    message: String,
}

/// The test function: its behaviour depends on the event, like the e2e functions.
fn handler(event: Vec<u8>, context: &Context) -> Result<Vec<u8>, Error> {
    let text = String::from_utf8_lossy(&event).to_string();
    match text.as_str() {
        r#"{"do":"error"}"# => Err(Error::new("Order.NotFound", "no order 42")),
        r#"{"do":"plain-error"}"# => Err(std::io::Error::other("disk on fire").into()),
        r#"{"do":"panic"}"# => panic!("boom at {}", context.request_id),
        r#"{"do":"big"}"# => Ok(vec![b'x'; MAX_RESPONSE_BYTES + 1]),
        r#"{"do":"just-fits"}"# => Ok(vec![b'x'; MAX_RESPONSE_BYTES]),
        r#"{"do":"trace"}"# => Ok(std::env::var("_X_AMZN_TRACE_ID")
            .unwrap_or_default()
            .into_bytes()),
        _ => {
            let event: Greet = decode_event(&event)?;
            encode_response(&Greeting {
                message: format!("Hello, {}!", event.name),
            })
        }
    }
}

/// Serializes the loops of concurrent tests: each exports `_X_AMZN_TRACE_ID`, a process-wide
/// variable that the trace test checks.
static ENVIRONMENT: Mutex<()> = Mutex::new(());

fn serve_with(runtime: &Connection) -> FatalError {
    let _environment = ENVIRONMENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    runtime.serve(&mut handler)
}

fn serve(api: &FakeApi) -> FatalError {
    serve_with(&api.runtime(""))
}

#[test]
fn success_posts_the_response_then_a_500_stops_the_loop() {
    let api = FakeApi::start(vec![event("req-1", r#"{"name":"Ada"}"#)], reply(202, "{}"));
    let fatal = serve(&api);
    let seen = api.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/2018-06-01/runtime/invocation/next")
    );
    assert_eq!(
        seen[1].path,
        "/2018-06-01/runtime/invocation/req-1/response"
    );
    assert_eq!(seen[1].body_text(), r#"{"message":"Hello, Ada!"}"#);
    assert!(
        matches!(fatal, FatalError::ContainerError { .. }),
        "{fatal:?}"
    );
    assert!(fatal.to_string().contains("no more events"), "{fatal}");
}

#[test]
fn every_failure_is_posted_as_an_error_and_the_loop_goes_on() {
    let api = FakeApi::start(
        vec![
            event("r-error", r#"{"do":"error"}"#),
            event("r-plain", r#"{"do":"plain-error"}"#),
            event("r-panic", r#"{"do":"panic"}"#),
            event("r-big", r#"{"do":"big"}"#),
            event("r-bad-type", r#"{"name":5}"#),
            event("r-bad-json", r#"{"name":"#),
            event("r-trailing", r#"{"name":"Ada"} x"#),
            event("r-ok", r#"{"name":"Ada"}"#),
        ],
        reply(202, r#"{"status":"OK"}"#),
    );
    serve(&api);
    let posts = api.posts();
    let paths: Vec<&str> = posts.iter().map(|seen| seen.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/2018-06-01/runtime/invocation/r-error/error",
            "/2018-06-01/runtime/invocation/r-plain/error",
            "/2018-06-01/runtime/invocation/r-panic/error",
            "/2018-06-01/runtime/invocation/r-big/error",
            "/2018-06-01/runtime/invocation/r-bad-type/error",
            "/2018-06-01/runtime/invocation/r-bad-json/error",
            "/2018-06-01/runtime/invocation/r-trailing/error",
            "/2018-06-01/runtime/invocation/r-ok/response",
        ]
    );
    let mut report = String::new();
    for post in &posts[..7] {
        let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
        // The header and the body always agree on the type.
        assert_eq!(
            post.header("Lambda-Runtime-Function-Error-Type"),
            body["errorType"].as_str(),
            "{post:?}"
        );
        assert_eq!(post.header("Content-Type"), Some("application/json"));
        report.push_str(&format!("{}\n{}\n", post.path, post.body_text()));
    }
    insta::assert_snapshot!(report);
}

#[test]
fn a_response_of_exactly_the_limit_is_posted() {
    let api = FakeApi::start(vec![event("r", r#"{"do":"just-fits"}"#)], reply(202, ""));
    serve(&api);
    let posts = api.posts();
    assert_eq!(posts[0].path, "/2018-06-01/runtime/invocation/r/response");
    assert_eq!(posts[0].body.len(), MAX_RESPONSE_BYTES);
}

#[test]
fn refused_posts_are_logged_and_the_loop_goes_on() {
    for status in [400, 403, 413] {
        let api = FakeApi::start(
            vec![event("a", r#"{"name":"A"}"#), event("b", r#"{"name":"B"}"#)],
            reply(status, r#"{"errorType":"InvalidStateTransition"}"#),
        );
        let fatal = serve(&api);
        let posts = api.posts();
        assert_eq!(posts.len(), 2, "status {status}: {posts:?}");
        assert_eq!(posts[1].body_text(), r#"{"message":"Hello, B!"}"#);
        assert!(matches!(fatal, FatalError::ContainerError { .. }));
    }
}

#[test]
fn a_500_to_a_post_stops_at_once() {
    let api = FakeApi::start(
        vec![event("a", r#"{"name":"A"}"#), event("b", r#"{"name":"B"}"#)],
        reply(500, "Container error. Non-recoverable state."),
    );
    let fatal = serve(&api);
    assert_eq!(api.posts().len(), 1);
    assert_eq!(
        fatal.to_string(),
        format!(
            "POST http://{}/2018-06-01/runtime/invocation/a/response answered 500 \
             (container error, the runtime must exit): Container error. Non-recoverable state.",
            api.address
        )
    );
}

#[test]
fn next_5xx_is_retried_then_served() {
    let api = FakeApi::start(
        vec![
            reply(503, "busy"),
            reply(502, "bad gateway"),
            event("a", r#"{"name":"A"}"#),
        ],
        reply(202, ""),
    );
    serve(&api);
    let posts = api.posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body_text(), r#"{"message":"Hello, A!"}"#);
}

#[test]
fn next_5xx_beyond_the_retries_gives_up_naming_the_failure() {
    let api = FakeApi::start(vec![reply(503, "busy"); 10], reply(202, ""));
    let fatal = serve(&api);
    assert_eq!(api.seen().len(), 4, "one try and three retries");
    assert_eq!(
        fatal.to_string(),
        format!(
            "GET http://{}/2018-06-01/runtime/invocation/next failed 4 times, giving up; \
             last failure: answered 503: busy",
            api.address
        )
    );
}

#[test]
fn next_unreachable_gives_up_naming_the_url() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let runtime = Connection::new(format!("http://{address}/2018-06-01"), FAST_RETRY);
    let fatal = runtime.serve(&mut handler);
    assert!(
        matches!(fatal, FatalError::NextUnavailable { attempts: 4, .. }),
        "{fatal:?}"
    );
    let message = fatal.to_string();
    assert!(
        message.starts_with(&format!(
            "GET http://{address}/2018-06-01/runtime/invocation/next failed 4 times"
        )),
        "{message}"
    );
}

#[test]
fn next_4xx_stops_at_once() {
    let api = FakeApi::start(vec![reply(404, "no such path")], reply(202, ""));
    let fatal = serve(&api);
    assert_eq!(api.seen().len(), 1);
    assert!(
        fatal
            .to_string()
            .ends_with("/runtime/invocation/next answered 404: no such path"),
        "{fatal}"
    );
}

#[test]
fn path_prefix_is_kept_in_every_url() {
    let api = FakeApi::start(vec![event("a", r#"{"name":"A"}"#)], reply(202, ""));
    serve_with(&api.runtime("/some/prefix"));
    let paths: Vec<String> = api.seen().into_iter().map(|seen| seen.path).collect();
    assert_eq!(
        paths[..2],
        [
            "/some/prefix/2018-06-01/runtime/invocation/next",
            "/some/prefix/2018-06-01/runtime/invocation/a/response"
        ]
    );
}

#[test]
fn malformed_headers_are_reported_to_the_request_and_the_loop_goes_on() {
    let mut bad_deadline = event("bad", "{}");
    bad_deadline.headers[1].1 = "tomorrow".into();
    let mut no_id = event("x", "{}");
    no_id.headers.remove(0);
    let api = FakeApi::start(
        vec![bad_deadline, no_id, event("good", r#"{"name":"G"}"#)],
        reply(202, ""),
    );
    serve(&api);
    let posts = api.posts();
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert_eq!(posts[0].path, "/2018-06-01/runtime/invocation/bad/error");
    assert_eq!(
        posts[0].header("Lambda-Runtime-Function-Error-Type"),
        Some("Runtime.InvalidContext")
    );
    assert!(
        posts[0].body_text().contains("Lambda-Runtime-Deadline-Ms"),
        "{}",
        posts[0].body_text()
    );
    assert_eq!(
        posts[1].path,
        "/2018-06-01/runtime/invocation/good/response"
    );
}

#[test]
fn trace_id_is_exported_only_during_the_invocation() {
    let api = FakeApi::start(vec![event("t-1", r#"{"do":"trace"}"#)], reply(202, ""));
    let runtime = api.runtime("");
    let _environment = ENVIRONMENT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    runtime.serve(&mut handler);
    assert_eq!(api.posts()[0].body_text(), "Root=1-t-1");
    assert_eq!(std::env::var("_X_AMZN_TRACE_ID").ok(), None);
}

#[test]
fn init_failures_are_posted_to_init_error() {
    let api = FakeApi::start(vec![], reply(202, ""));
    let runtime = api.runtime("");
    let fatal = runtime
        .init(|| -> Result<(), Error> { Err(Error::new("Config.MissingTable", "no TABLE set")) })
        .unwrap_err();
    assert_eq!(
        fatal.to_string(),
        "init failed with Config.MissingTable: no TABLE set"
    );
    let fatal = runtime
        .init(|| -> Result<(), Error> { Err(std::io::Error::other("refused").into()) })
        .unwrap_err();
    assert_eq!(
        fatal.to_string(),
        "init failed with Runtime.InitError: refused"
    );
    let fatal = runtime
        .init(|| -> Result<(), Error> { panic!("cannot init") })
        .unwrap_err();
    assert_eq!(
        fatal.to_string(),
        "init failed with Runtime.InitPanic: cannot init"
    );
    let posts = api.posts();
    assert_eq!(posts.len(), 3);
    let mut report = String::new();
    for post in &posts {
        assert_eq!(post.path, "/2018-06-01/runtime/init/error");
        report.push_str(&format!(
            "{}\n{}\n",
            post.header("Lambda-Runtime-Function-Error-Type").unwrap(),
            post.body_text()
        ));
    }
    insta::assert_snapshot!(report);
    assert!(runtime.init(|| Ok(7)).is_ok());
}

#[test]
fn deserialization_errors_name_nested_paths() {
    #[derive(Debug, Deserialize)]
    struct Order {
        #[allow(dead_code)]
        items: Vec<Item>,
    }
    #[derive(Debug, Deserialize)]
    struct Item {
        #[allow(dead_code)]
        price: u32,
    }
    let error = decode_event::<Order>(br#"{"items":[{"price":1},{"price":"free"}]}"#).unwrap_err();
    assert_eq!(error.error_type(), Some("Runtime.DeserializationError"));
    assert!(
        error
            .message()
            .starts_with("the event does not match the handler's type at `items[1].price`: "),
        "{}",
        error.message()
    );
    let error = decode_event::<Order>(br#"{}"#).unwrap_err();
    assert!(
        error.message().contains("missing field `items`"),
        "{}",
        error.message()
    );
}

mod concurrent;
mod invocation_id;
mod streaming;
