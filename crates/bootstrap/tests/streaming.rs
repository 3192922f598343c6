//! Streamed responses from handlers in any language: a Python generator, a Perl write
//! callback, an executable's stdout (`stream:`), and a worker speaking the protocol's
//! `STREAM`/`CHUNK`/`END` itself. Each chunk must leave the bootstrap before the handler is
//! done (timestamps), an error after the first chunk must end the stream as an error, and
//! under the emulator a Function URL must get the chunks as they are produced.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::{Function, SAFETY, context};
use lamina_bootstrap::{Answer, Handler, InvocationError, ResponseSink};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

/// A sink that notes when each chunk arrived.
#[derive(Default)]
struct Recorder {
    started: Option<Instant>,
    content_type: Option<String>,
    chunks: Vec<(Duration, Vec<u8>)>,
}

impl ResponseSink for Recorder {
    fn start(&mut self, content_type: &str) -> std::io::Result<()> {
        assert!(self.content_type.is_none(), "the stream was opened twice");
        self.content_type = Some(content_type.to_owned());
        Ok(())
    }

    fn chunk(&mut self, data: &[u8]) -> std::io::Result<()> {
        let at = self.started.unwrap().elapsed();
        self.chunks.push((at, data.to_vec()));
        Ok(())
    }
}

impl Recorder {
    fn body(&self) -> String {
        let bytes: Vec<u8> = self.chunks.iter().flat_map(|(_, c)| c.clone()).collect();
        String::from_utf8(bytes).unwrap()
    }
}

/// Invokes `handler` with a recording sink; returns the outcome, the recording and how long
/// the invocation took.
fn stream(
    handler: &mut dyn Handler,
    event: &str,
) -> (Result<Answer, InvocationError>, Recorder, Duration) {
    let mut recorder = Recorder {
        started: Some(Instant::now()),
        ..Recorder::default()
    };
    let outcome = handler.respond(
        event.as_bytes(),
        &context("req-stream", SAFETY),
        &mut recorder,
    );
    let took = recorder.started.unwrap().elapsed();
    (outcome, recorder, took)
}

/// The first chunk came well before the handler finished: it was not buffered.
fn assert_streamed(recorder: &Recorder, took: Duration) {
    let (first, _) = recorder.chunks.first().expect("no chunk");
    assert!(
        took.saturating_sub(*first) >= Duration::from_millis(500),
        "first chunk at {first:?} of {took:?}: buffered"
    );
}

const PYTHON: &str = r#"
import time

def handle(event, context):
    if event.get("http"):
        yield {"statusCode": 201, "headers": {"content-type": "text/plain"}, "cookies": ["a=1"]}
    else:
        yield {"contentType": "text/plain"}
    for i in range(event["chunks"]):
        if i == event.get("fail_at"):
            raise ValueError("the source went away after %d chunks" % i)
        yield "chunk %d;" % i
        time.sleep(event["gap"])

def whole(event, context):
    return {"buffered": True}
"#;

const PERL: &str = r#"
use Time::HiRes qw(sleep);
sub handle {
    my ($event, $context) = @_;
    my $write = $context->stream(content_type => 'text/plain');
    for my $i (0 .. $event->{chunks} - 1) {
        die "the source went away after $i chunks\n" if defined $event->{fail_at} && $i == $event->{fail_at};
        $write->("chunk $i;");
        sleep($event->{gap});
    }
    return 'ignored';
}
1;
"#;

/// Reads `{"chunks":N,"gap":S,"fail_at":K}` with nothing but the shell: the event is small.
const SHELL: &str = r#"#!/bin/sh
event=$(cat)
chunks=$(echo "$event" | sed 's/.*"chunks":\([0-9]*\).*/\1/')
i=0
while [ "$i" -lt "$chunks" ]; do
    case "$event" in *"\"fail_at\":$i"*) echo "the source went away after $i chunks" >&2; exit 3;; esac
    printf 'chunk %d;' "$i"
    sleep 0.3
    i=$((i + 1))
done
"#;

#[test]
fn a_python_generator_streams_each_item_as_it_is_yielded() {
    let function = Function::new();
    function.file("handler.py", PYTHON, 0o644);
    let mut handler = function.load("handler.handle").unwrap();
    let (outcome, recorder, took) = stream(&mut *handler, r#"{"chunks":4,"gap":0.3}"#);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(recorder.content_type.as_deref(), Some("text/plain"));
    assert_eq!(recorder.body(), "chunk 0;chunk 1;chunk 2;chunk 3;");
    assert_streamed(&recorder, took);

    // A function URL response: the prelude opens the stream under Lambda's content type.
    let (outcome, recorder, _) = stream(&mut *handler, r#"{"chunks":1,"gap":0,"http":true}"#);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(
        recorder.content_type.as_deref(),
        Some("application/vnd.awslambda.http-integration-response")
    );
    let body = recorder.body();
    let (prelude, rest) = body.split_once("\0\0\0\0\0\0\0\0").unwrap();
    let prelude: serde_json::Value = serde_json::from_str(prelude).unwrap();
    assert_eq!(prelude["statusCode"], 201);
    assert_eq!(prelude["cookies"][0], "a=1");
    assert_eq!(rest, "chunk 0;");
}

#[test]
fn a_python_error_after_the_first_item_ends_the_stream_and_the_worker_serves_on() {
    let function = Function::new();
    function.file("handler.py", PYTHON, 0o644);
    let mut handler = function.load("handler.handle").unwrap();
    let (outcome, recorder, _) = stream(&mut *handler, r#"{"chunks":4,"gap":0,"fail_at":2}"#);
    let error = outcome.unwrap_err();
    assert_eq!(error.error_type, "ValueError");
    assert_eq!(error.message, "the source went away after 2 chunks");
    assert!(
        error.stack_trace.iter().any(|l| l.contains("handler.py")),
        "{error:?}"
    );
    assert_eq!(recorder.body(), "chunk 0;chunk 1;");
    // The same worker answers the next invocation, streamed or buffered.
    let (outcome, recorder, _) = stream(&mut *handler, r#"{"chunks":1,"gap":0}"#);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(recorder.body(), "chunk 0;");
    let mut buffered = function.load("handler.whole").unwrap();
    let (outcome, recorder, _) = stream(&mut *buffered, "{}");
    assert_eq!(
        outcome.unwrap(),
        Answer::Buffered(br#"{"buffered": true}"#.to_vec())
    );
    assert!(recorder.content_type.is_none());
}

#[test]
fn a_perl_write_callback_streams_each_write() {
    let function = Function::new();
    function.file("handler.pl", PERL, 0o644);
    let mut handler = function.load("handler.handle").unwrap();
    let (outcome, recorder, took) = stream(&mut *handler, r#"{"chunks":4,"gap":0.3}"#);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(recorder.content_type.as_deref(), Some("text/plain"));
    assert_eq!(recorder.body(), "chunk 0;chunk 1;chunk 2;chunk 3;");
    assert_streamed(&recorder, took);
    let (outcome, recorder, _) = stream(&mut *handler, r#"{"chunks":4,"gap":0,"fail_at":1}"#);
    let error = outcome.unwrap_err();
    assert_eq!(error.message, "the source went away after 1 chunks");
    assert_eq!(recorder.body(), "chunk 0;");
}

#[test]
fn a_stream_executable_has_its_stdout_streamed_as_produced() {
    let function = Function::new();
    function.executable("produce.sh", SHELL);
    let mut handler = function.load("stream:produce.sh").unwrap();
    let (outcome, recorder, took) = stream(&mut *handler, r#"{"chunks":4}"#);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(
        recorder.content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(recorder.body(), "chunk 0;chunk 1;chunk 2;chunk 3;");
    assert_streamed(&recorder, took);
    let (outcome, recorder, _) = stream(&mut *handler, r#"{"chunks":4,"fail_at":2}"#);
    let error = outcome.unwrap_err();
    assert_eq!(error.error_type, "HandlerError");
    assert!(
        error.message.contains("exit status 3") || error.message.contains("exited with"),
        "{error:?}"
    );
    assert_eq!(recorder.body(), "chunk 0;chunk 1;");
    // Without `stream:`, the same file is the buffered executable it always was.
    let mut buffered = function.load("produce.sh").unwrap();
    let (outcome, _, _) = stream(&mut *buffered, r#"{"chunks":2}"#);
    assert_eq!(
        outcome.unwrap(),
        Answer::Buffered(b"chunk 0;chunk 1;".to_vec())
    );
}

#[test]
fn a_worker_breaking_the_stream_framing_is_replaced_with_a_clear_error() {
    let function = Function::new();
    // Speaks the protocol by hand: a CHUNK before any STREAM.
    function.executable(
        "serve.py",
        r#"#!/usr/bin/env python3
import os
replies = os.fdopen(4, "wb", buffering=0)
requests = os.fdopen(3, "rb")
replies.write(b"READY 2\n")
while True:
    header = requests.readline()
    if not header:
        break
    kind, rid, c, e = header.split()
    requests.read(int(c)); requests.read(int(e))
    replies.write(b"CHUNK " + rid + b" 2\nhi")
"#,
    );
    let mut handler = function.load("worker:./serve.py").unwrap();
    let (outcome, recorder, _) = stream(&mut *handler, "{}");
    let error = outcome.unwrap_err();
    assert_eq!(error.error_type, "Runtime.ProtocolError");
    insta::assert_snapshot!(error.message, @"worker `worker:./serve.py` sent CHUNK for `req-stream` before STREAM (a stream starts with STREAM), and the worker was replaced");
    assert!(recorder.chunks.is_empty());
}

/// A function under the emulator with its Function URL in RESPONSE_STREAM mode.
fn streaming_function(name: &str, function: &Function, handler: &str) -> FunctionConfig {
    let mut config = FunctionConfig::new(name, env!("CARGO_BIN_EXE_lamina-bootstrap"));
    config.task_root = function.task_root.path().to_path_buf();
    config.handler = handler.into();
    config.timeout = Duration::from_secs(20);
    config.response_streaming = true;
    config.env = vec![
        (
            "LAMINA_OPT_DIR".into(),
            function.opt.path().to_string_lossy().into_owned(),
        ),
        (
            "LAMINA_ADAPTERS_DIR".into(),
            common::adapters_dir().to_string_lossy().into_owned(),
        ),
        (common::ROOMY_MARGIN.0.into(), common::ROOMY_MARGIN.1.into()),
    ];
    config
}

/// GETs a Function URL; returns the status, when the first bytes came, when the body ended,
/// and the body.
fn get_streamed(url: &str) -> (u16, Duration, Duration, String) {
    let started = Instant::now();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(SAFETY))
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    let mut reader = response.body_mut().as_reader();
    let mut first = [0u8; 1];
    reader.read_exact(&mut first).unwrap();
    let first_at = started.elapsed();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    let body = String::from_utf8([&first[..], &rest].concat()).unwrap();
    (status, first_at, started.elapsed(), body)
}

#[test]
fn under_the_emulator_function_urls_get_any_language_streams_as_produced() {
    // The Function URL's event is an HTTP request, so each handler streams a fixed answer.
    let python = Function::new();
    python.file(
        "handler.py",
        r#"
import time
def handle(event, context):
    yield {"statusCode": 202, "headers": {"content-type": "text/plain", "x-from": "python"}}
    for i in range(4):
        yield "python %d;" % i
        time.sleep(0.3)
"#,
        0o644,
    );
    let function = Function::new();
    function.file(
        "handler.pl",
        r#"
use Time::HiRes qw(sleep);
sub handle {
    my ($event, $context) = @_;
    my $write = $context->stream(http => { statusCode => 203, headers => { 'content-type' => 'text/plain' } });
    for my $i (0 .. 3) { $write->("perl $i;"); sleep(0.3); }
    return;
}
1;
"#,
        0o644,
    );
    function.executable(
        "produce.sh",
        "#!/bin/sh\ncat >/dev/null\nfor i in 0 1 2 3; do printf 'shell %d;' $i; sleep 0.3; done\n",
    );
    let emulator = Emulator::start(EmulatorConfig::new(vec![
        streaming_function("python", &python, "handler.handle"),
        streaming_function("perl", &function, "handler.handle"),
        streaming_function("shell", &function, "stream:produce.sh"),
    ]))
    .unwrap();
    for (name, status, body) in [
        ("python", 202, "python 0;python 1;python 2;python 3;"),
        ("perl", 203, "perl 0;perl 1;perl 2;perl 3;"),
        ("shell", 200, "shell 0;shell 1;shell 2;shell 3;"),
    ] {
        let url = format!("{}/lambda-url/{name}/", emulator.endpoint_url());
        let (got_status, first_at, end_at, got_body) = get_streamed(&url);
        assert_eq!(got_status, status, "{name}: {got_body}");
        assert_eq!(got_body, body, "{name}");
        assert!(
            end_at - first_at >= Duration::from_millis(600),
            "{name}: first bytes at {first_at:?}, end at {end_at:?}: buffered"
        );
    }
}
