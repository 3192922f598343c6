//! Streamed responses from handlers in any language: a Python generator, a Perl write
//! callback, an executable's stdout (`stream:`), and a worker speaking the protocol's
//! `STREAM`/`CHUNK`/`END` itself. Each chunk must leave the bootstrap before the handler goes
//! on (a barrier: the handler writes chunk N+1 only once the test's sink, or HTTP client, has
//! chunk N and creates the file the handler waits for; a chunk held back until the handler is
//! done would leave it waiting until its deadline), an error after the first chunk must end
//! the stream as an error, and under the emulator a Function URL must get the chunks as they
//! are produced.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Function, SAFETY, context};
use lamina_bootstrap::{Answer, Handler, InvocationError, ResponseSink};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

/// A sink that keeps each chunk and, once it holds `chunk N;`, creates `<gate>/seen-N`: the
/// file the handler waits for before it writes chunk N+1.
#[derive(Default)]
struct Recorder {
    gate: Option<PathBuf>,
    content_type: Option<String>,
    chunks: Vec<Vec<u8>>,
}

impl ResponseSink for Recorder {
    fn start(&mut self, content_type: &str) -> std::io::Result<()> {
        assert!(self.content_type.is_none(), "the stream was opened twice");
        self.content_type = Some(content_type.to_owned());
        Ok(())
    }

    fn chunk(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.chunks.push(data.to_vec());
        if let Some(gate) = &self.gate {
            let body = self.body();
            for n in (0..).take_while(|n| body.contains(&format!("chunk {n};"))) {
                let seen = gate.join(format!("seen-{n}"));
                if !seen.exists() {
                    std::fs::write(seen, b"")?;
                }
            }
        }
        Ok(())
    }
}

impl Recorder {
    fn body(&self) -> String {
        let bytes: Vec<u8> = self.chunks.concat();
        String::from_utf8(bytes).unwrap()
    }
}

/// Invokes `handler` with a recording sink; returns the outcome and the recording.
fn stream(handler: &mut dyn Handler, event: &str) -> (Result<Answer, InvocationError>, Recorder) {
    stream_gated(handler, event, None)
}

/// [`stream`] with the sink opening `gate` chunk by chunk (the event names it too).
fn stream_gated(
    handler: &mut dyn Handler,
    event: &str,
    gate: Option<&Path>,
) -> (Result<Answer, InvocationError>, Recorder) {
    let mut recorder = Recorder {
        gate: gate.map(Path::to_path_buf),
        ..Recorder::default()
    };
    let outcome = handler.respond(
        event.as_bytes(),
        &context("req-stream", SAFETY),
        &mut recorder,
    );
    (outcome, recorder)
}

/// Streams `{"chunks":4,"gate":...}` through the barrier; `Some` outcome and recording. All
/// four chunks arriving means each reached the sink before the handler wrote the next.
fn stream_through_gate(handler: &mut dyn Handler) -> (Result<Answer, InvocationError>, Recorder) {
    let gate = tempfile::tempdir().unwrap();
    let event = serde_json::json!({"chunks": 4, "gate": gate.path()}).to_string();
    stream_gated(handler, &event, Some(gate.path()))
}

const PYTHON: &str = r#"
import os, time

def wait_for(path):
    # The test creates it once it has the previous chunk; if that chunk is held back, the
    # bootstrap's deadline ends this wait (and the test fails).
    while not os.path.exists(path):
        time.sleep(0.005)

def handle(event, context):
    if event.get("http"):
        yield {"statusCode": 201, "headers": {"content-type": "text/plain"}, "cookies": ["a=1"]}
    else:
        yield {"contentType": "text/plain"}
    for i in range(event["chunks"]):
        if i == event.get("fail_at"):
            raise ValueError("the source went away after %d chunks" % i)
        if i > 0 and "gate" in event:
            wait_for("%s/seen-%d" % (event["gate"], i - 1))
        yield "chunk %d;" % i

def whole(event, context):
    return {"buffered": True}
"#;

const PERL: &str = r#"
use Time::HiRes qw(sleep);
# The test creates the file once it has the previous chunk.
sub wait_for { my ($path) = @_; sleep(0.005) until -e $path; }
sub handle {
    my ($event, $context) = @_;
    my $write = $context->stream(content_type => 'text/plain');
    for my $i (0 .. $event->{chunks} - 1) {
        die "the source went away after $i chunks\n" if defined $event->{fail_at} && $i == $event->{fail_at};
        wait_for("$event->{gate}/seen-" . ($i - 1)) if $i > 0 && defined $event->{gate};
        $write->("chunk $i;");
    }
    return 'ignored';
}
1;
"#;

/// Reads `{"chunks":N,"gate":"DIR","fail_at":K}` with nothing but the shell: the event is
/// small.
const SHELL: &str = r#"#!/bin/sh
event=$(cat)
chunks=$(echo "$event" | sed 's/.*"chunks":\([0-9]*\).*/\1/')
gate=$(echo "$event" | sed -n 's/.*"gate":"\([^"]*\)".*/\1/p')
i=0
while [ "$i" -lt "$chunks" ]; do
    case "$event" in *"\"fail_at\":$i"*) echo "the source went away after $i chunks" >&2; exit 3;; esac
    if [ "$i" -gt 0 ] && [ -n "$gate" ]; then
        while [ ! -e "$gate/seen-$((i - 1))" ]; do sleep 0.01; done
    fi
    printf 'chunk %d;' "$i"
    i=$((i + 1))
done
"#;

#[test]
fn a_python_generator_streams_each_item_as_it_is_yielded() {
    let function = Function::new();
    function.file("handler.py", PYTHON, 0o644);
    let mut handler = function.load("handler.handle").unwrap();
    let (outcome, recorder) = stream_through_gate(&mut *handler);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(recorder.content_type.as_deref(), Some("text/plain"));
    assert_eq!(recorder.body(), "chunk 0;chunk 1;chunk 2;chunk 3;");

    // A function URL response: the prelude opens the stream under Lambda's content type.
    let (outcome, recorder) = stream(&mut *handler, r#"{"chunks":1,"http":true}"#);
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
    let (outcome, recorder) = stream(&mut *handler, r#"{"chunks":4,"fail_at":2}"#);
    let error = outcome.unwrap_err();
    assert_eq!(error.error_type, "ValueError");
    assert_eq!(error.message, "the source went away after 2 chunks");
    assert!(
        error.stack_trace.iter().any(|l| l.contains("handler.py")),
        "{error:?}"
    );
    assert_eq!(recorder.body(), "chunk 0;chunk 1;");
    // The same worker answers the next invocation, streamed or buffered.
    let (outcome, recorder) = stream(&mut *handler, r#"{"chunks":1}"#);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(recorder.body(), "chunk 0;");
    let mut buffered = function.load("handler.whole").unwrap();
    let (outcome, recorder) = stream(&mut *buffered, "{}");
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
    let (outcome, recorder) = stream_through_gate(&mut *handler);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(recorder.content_type.as_deref(), Some("text/plain"));
    assert_eq!(recorder.body(), "chunk 0;chunk 1;chunk 2;chunk 3;");
    let (outcome, recorder) = stream(&mut *handler, r#"{"chunks":4,"fail_at":1}"#);
    let error = outcome.unwrap_err();
    assert_eq!(error.message, "the source went away after 1 chunks");
    assert_eq!(recorder.body(), "chunk 0;");
}

#[test]
fn a_stream_executable_has_its_stdout_streamed_as_produced() {
    let function = Function::new();
    function.executable("produce.sh", SHELL);
    let mut handler = function.load("stream:produce.sh").unwrap();
    let (outcome, recorder) = stream_through_gate(&mut *handler);
    assert_eq!(outcome.unwrap(), Answer::Streamed);
    assert_eq!(
        recorder.content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(recorder.body(), "chunk 0;chunk 1;chunk 2;chunk 3;");
    let (outcome, recorder) = stream(&mut *handler, r#"{"chunks":4,"fail_at":2}"#);
    let error = outcome.unwrap_err();
    assert_eq!(error.error_type, "HandlerError");
    assert!(
        error.message.contains("exit status 3") || error.message.contains("exited with"),
        "{error:?}"
    );
    assert_eq!(recorder.body(), "chunk 0;chunk 1;");
    // Without `stream:`, the same file is the buffered executable it always was.
    let mut buffered = function.load("produce.sh").unwrap();
    let (outcome, _) = stream(&mut *buffered, r#"{"chunks":2}"#);
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
    let (outcome, recorder) = stream(&mut *handler, "{}");
    let error = outcome.unwrap_err();
    assert_eq!(error.error_type, "Runtime.ProtocolError");
    insta::assert_snapshot!(error.message, @"worker `worker:./serve.py` sent CHUNK for `req-stream` before STREAM (a stream starts with STREAM), and the worker was replaced");
    assert!(recorder.chunks.is_empty());
}

/// A function under the emulator with its Function URL in RESPONSE_STREAM mode; its handler
/// finds the file it waits for in `GATE`.
fn streaming_function(
    name: &str,
    function: &Function,
    handler: &str,
    gate: &Path,
) -> FunctionConfig {
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
        ("GATE".into(), gate.to_string_lossy().into_owned()),
    ];
    config
}

/// GETs a Function URL; once the body holds `first`, creates `gate` (the handler writes the
/// rest only then); returns the status and the body.
fn get_streamed(url: &str, first: &str, gate: &Path) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(SAFETY))
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    let mut reader = response.body_mut().as_reader();
    let mut body = Vec::new();
    let mut buffer = [0u8; 64];
    while !String::from_utf8_lossy(&body).contains(first) {
        let read = reader.read(&mut buffer).unwrap();
        assert!(read > 0, "the body ended before `{first}`");
        body.extend_from_slice(&buffer[..read]);
    }
    std::fs::write(gate, b"").unwrap();
    reader.read_to_end(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

#[test]
fn under_the_emulator_function_urls_get_any_language_streams_as_produced() {
    // The Function URL's event is an HTTP request, so each handler streams a fixed answer: its
    // first chunk, then (once the client has it and creates $GATE) the rest.
    let python = Function::new();
    python.file(
        "handler.py",
        r#"
import os, time
def handle(event, context):
    yield {"statusCode": 202, "headers": {"content-type": "text/plain", "x-from": "python"}}
    yield "python 0;"
    while not os.path.exists(os.environ["GATE"]):
        time.sleep(0.005)
    for i in range(1, 4):
        yield "python %d;" % i
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
    $write->("perl 0;");
    sleep(0.005) until -e $ENV{GATE};
    for my $i (1 .. 3) { $write->("perl $i;"); }
    return;
}
1;
"#,
        0o644,
    );
    function.executable(
        "produce.sh",
        "#!/bin/sh\ncat >/dev/null\nprintf 'shell 0;'\nwhile [ ! -e \"$GATE\" ]; do sleep 0.01; done\nfor i in 1 2 3; do printf 'shell %d;' $i; done\n",
    );
    let gates = tempfile::tempdir().unwrap();
    let gate = |name: &str| gates.path().join(name);
    let emulator = Emulator::start(EmulatorConfig::new(vec![
        streaming_function("python", &python, "handler.handle", &gate("python")),
        streaming_function("perl", &function, "handler.handle", &gate("perl")),
        streaming_function("shell", &function, "stream:produce.sh", &gate("shell")),
    ]))
    .unwrap();
    for (name, status, body) in [
        ("python", 202, "python 0;python 1;python 2;python 3;"),
        ("perl", 203, "perl 0;perl 1;perl 2;perl 3;"),
        ("shell", 200, "shell 0;shell 1;shell 2;shell 3;"),
    ] {
        let url = format!("{}/lambda-url/{name}/", emulator.endpoint_url());
        // The whole body arriving means the first chunk reached the client before the
        // handler went on: a buffered stream would leave the handler waiting until its timeout.
        let (got_status, got_body) = get_streamed(&url, &format!("{name} 0;"), &gate(name));
        assert_eq!(got_status, status, "{name}: {got_body}");
        assert_eq!(got_body, body, "{name}");
    }
}
