//! The `FILE.FUNCTION` convention through the real Perl, Python and shell adapters.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Function, becomes_gone, binary_event, context, invoke, json_of, whoami};
use serde_json::json;

const PYTHON: &str = r#"
import os, time
print("loading handler.py")

def handle(event, context):
    action = event.get("action") if isinstance(event, dict) else None
    print("handling", action)
    if action == "fail":
        raise ValueError("bad name")
    if action == "crash":
        os._exit(9)
    if action == "sleep":
        time.sleep(60)
    if action == "whoami":
        return {"pid": os.getpid(), "request_id": context.aws_request_id,
                "trace": os.environ.get("_X_AMZN_TRACE_ID"),
                "time_left": context.get_remaining_time_in_millis() > 0}
    return {"message": "Hello, %s!" % event["name"]}

def mirror(event, context):
    return event
"#;

const PERL: &str = r#"
use strict;
use warnings;
print "loading handler.pl\n";

sub handle {
    my ($event, $context) = @_;
    my $action = ref $event eq 'HASH' ? $event->{action} // '' : '';
    print "handling $action\n";
    die "bad name\n" if $action eq 'fail';
    exit 9 if $action eq 'crash';
    sleep 60 if $action eq 'sleep';
    if ($action eq 'whoami') {
        return { pid => $$, request_id => $context->aws_request_id,
                 trace => $ENV{_X_AMZN_TRACE_ID},
                 time_left => ($context->get_remaining_time_in_millis > 0 ? JSON::PP::true : JSON::PP::false) };
    }
    return { message => "Hello, $event->{name}!" };
}

sub mirror { my ($event) = @_; return $event }
"#;

const SHELL: &str = r#"
echo "loading handler.sh"

handle() {
    local event action name
    event=$(cat)
    action=$(sed -n 's/.*"action":"\([a-z]*\)".*/\1/p' <<<"$event")
    echo "handling $action" >&2
    case $action in
        fail) LAMINA_ERROR_TYPE=ValueError; echo "bad name" >&2; return 1 ;;
        crash) kill -KILL $$ ;;
        sleep) sleep 60 ;;
        whoami) printf '{"pid":%d,"request_id":"%s","trace":"%s","time_left":true}' \
                    $$ "$LAMINA_REQUEST_ID" "$_X_AMZN_TRACE_ID"; return ;;
    esac
    name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' <<<"$event")
    printf '{"message":"Hello, %s!"}' "$name"
}

mirror() { cat; }
"#;

/// The file a language's handler lives in, and its source.
struct Language {
    file: &'static str,
    source: &'static str,
}

const LANGUAGES: [Language; 3] = [
    Language {
        file: "handler.py",
        source: PYTHON,
    },
    Language {
        file: "handler.pl",
        source: PERL,
    },
    Language {
        file: "handler.sh",
        source: SHELL,
    },
];

fn function(language: &Language) -> Function {
    let function = Function::new();
    function.file(language.file, language.source, 0o644);
    function
}

#[test]
fn each_adapter_greets_and_logs_what_the_handler_prints() {
    for language in &LANGUAGES {
        let function = function(language);
        let mut handler = function.load("handler.handle").unwrap();
        let response = invoke(&mut *handler, br#"{"name":"Ada"}"#).unwrap();
        assert_eq!(
            json_of(&response),
            json!({"message": "Hello, Ada!"}),
            "{}",
            language.file
        );
        let logs = function.logs();
        let loading = format!("loading {}\n", language.file);
        assert!(logs.contains(&loading), "{}: {logs}", language.file);
        assert!(logs.contains("handling"), "{}: {logs}", language.file);
    }
}

#[test]
fn each_adapter_starts_its_interpreter_once_and_passes_the_context() {
    for language in &LANGUAGES {
        let function = function(language);
        let mut handler = function.load("handler.handle").unwrap();
        let first = whoami(&mut *handler, "req-first");
        let second = whoami(&mut *handler, "req-second");
        assert_eq!(first["pid"], second["pid"], "{}", language.file);
        assert_eq!(second["request_id"], "req-second", "{}", language.file);
        assert_eq!(
            second["trace"], "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
            "{}",
            language.file
        );
        assert_eq!(second["time_left"], true, "{}", language.file);
    }
}

#[test]
fn each_adapter_reports_a_handler_error_and_keeps_serving() {
    let expected = [
        ("handler.py", "ValueError", "bad name"),
        ("handler.pl", "Error", "bad name"),
        (
            "handler.sh",
            "ValueError",
            "handle returned status 1; last lines of stderr:\nhandling fail\nbad name",
        ),
    ];
    for (language, (file, error_type, message)) in LANGUAGES.iter().zip(expected) {
        assert_eq!(language.file, file);
        let function = function(language);
        let mut handler = function.load("handler.handle").unwrap();
        let before = whoami(&mut *handler, "req-1");
        let error = invoke(&mut *handler, br#"{"action":"fail"}"#).unwrap_err();
        assert_eq!(error.error_type, error_type, "{file}");
        assert_eq!(error.message, message, "{file}");
        if file != "handler.sh" {
            assert!(
                error.stack_trace.iter().any(|line| line.contains(file)),
                "{file}: stack {:?}",
                error.stack_trace
            );
        }
        assert_eq!(
            whoami(&mut *handler, "req-2")["pid"],
            before["pid"],
            "{file}"
        );
    }
}

#[test]
fn each_adapter_recovers_from_a_crash() {
    for language in &LANGUAGES {
        let function = function(language);
        let mut handler = function.load("handler.handle").unwrap();
        let before = whoami(&mut *handler, "req-1");
        let error = invoke(&mut *handler, br#"{"action":"crash"}"#).unwrap_err();
        assert_eq!(error.error_type, "Runtime.ExitError", "{}", language.file);
        let status = if language.file == "handler.sh" {
            "signal: killed"
        } else {
            "exit status 9"
        };
        assert!(
            error.message.contains(status),
            "{}: {}",
            language.file,
            error.message
        );
        let after = whoami(&mut *handler, "req-2");
        assert_ne!(before["pid"], after["pid"], "{}", language.file);
    }
}

#[test]
fn each_adapter_recovers_from_a_timeout() {
    for language in &LANGUAGES {
        let function = function(language);
        let mut handler = function.load("handler.handle").unwrap();
        let before = whoami(&mut *handler, "req-1");
        let error = handler
            .invoke(
                br#"{"action":"sleep"}"#,
                &context("req-slow", Duration::from_millis(1500)),
            )
            .unwrap_err();
        assert_eq!(
            error.error_type, "Runtime.HandlerTimeout",
            "{}",
            language.file
        );
        let old_pid = u32::try_from(before["pid"].as_u64().unwrap()).unwrap();
        assert!(becomes_gone(old_pid), "{}: worker survived", language.file);
        let after = whoami(&mut *handler, "req-2");
        assert_ne!(before["pid"], after["pid"], "{}", language.file);
    }
}

#[test]
fn each_adapter_round_trips_five_megabytes_of_every_byte_value() {
    let event = binary_event();
    for language in &LANGUAGES {
        let function = function(language);
        let mut handler = function.load("handler.mirror").unwrap();
        let response = invoke(&mut *handler, &event).unwrap();
        assert!(
            response == event,
            "{}: the event came back changed",
            language.file
        );
    }
}

#[test]
fn python_decodes_json_events_and_encodes_results() {
    let function = Function::new();
    function.file(
        "types.py",
        "def kind(event, context):\n    return type(event).__name__\n\ndef none(event, context):\n    return None\n\ndef text(event, context):\n    return 'plain'\n",
        0o644,
    );
    let mut kind = function.load("types.kind").unwrap();
    assert_eq!(invoke(&mut *kind, br#"{"a":1}"#).unwrap(), b"dict");
    assert_eq!(invoke(&mut *kind, b"[1]").unwrap(), b"list");
    assert_eq!(invoke(&mut *kind, b"\"s\"").unwrap(), b"str");
    assert_eq!(invoke(&mut *kind, b"not json").unwrap(), b"bytes");
    assert_eq!(invoke(&mut *kind, b"").unwrap(), b"bytes");
    let mut none = function.load("types.none").unwrap();
    assert_eq!(invoke(&mut *none, b"{}").unwrap(), b"null");
    let mut text = function.load("types.text").unwrap();
    assert_eq!(invoke(&mut *text, b"{}").unwrap(), b"plain");
}

#[test]
fn load_failures_are_init_errors_with_the_adapters_type() {
    let cases = [
        (
            "handler.py",
            "def handle(event, context)\n    return 1\n",
            "Runtime.UserCodeSyntaxError",
        ),
        (
            "handler.py",
            "import no_such_module_here\n",
            "Runtime.ImportModuleError",
        ),
        (
            "handler.py",
            "def other(e, c):\n    return 1\n",
            "Runtime.HandlerNotFound",
        ),
        (
            "handler.pl",
            "sub handle { my ($e = @_; }\n",
            "Runtime.UserCodeSyntaxError",
        ),
        ("handler.pl", "sub other { 1 }\n", "Runtime.HandlerNotFound"),
        ("handler.sh", "other() { :; }\n", "Runtime.HandlerNotFound"),
        ("handler.sh", "handle() {\n", "Runtime.ImportModuleError"),
    ];
    let mut messages = Vec::new();
    for (file, source, error_type) in cases {
        let function = Function::new();
        function.file(file, source, 0o644);
        let error = function.load("handler.handle").unwrap_err();
        assert_eq!(error.error_type(), error_type, "{file}: {error}");
        messages.push(format!(
            "{file}: {}: {}",
            error.error_type(),
            function.redact(&error.to_string())
        ));
    }
    insta::assert_snapshot!(messages.join("\n"));
}

#[test]
fn a_newer_interpreter_in_opt_bin_takes_over() {
    let function = Function::new();
    function.file("handler.py", PYTHON, 0o644);
    let real = std::process::Command::new("sh")
        .args(["-c", "command -v python3"])
        .output()
        .unwrap();
    let real = String::from_utf8(real.stdout).unwrap();
    common::write_file(
        &function.opt.path().join("bin/python3"),
        &format!(
            "#!/bin/sh\necho 'python3 from the layer' >&2\nexec {} \"$@\"\n",
            real.trim()
        ),
        0o755,
    );
    let mut handler = function.load("handler.handle").unwrap();
    let response = invoke(&mut *handler, br#"{"name":"Opt"}"#).unwrap();
    assert_eq!(json_of(&response), json!({"message": "Hello, Opt!"}));
    assert!(
        function.logs().contains("python3 from the layer"),
        "{}",
        function.logs()
    );
}

#[test]
fn a_handler_file_in_a_subfolder_imports_its_siblings() {
    let function = Function::new();
    function.file(
        "src/helpers.py",
        "def shout(text):\n    return text.upper()\n",
        0o644,
    );
    function.file(
        "src/app.py",
        "import helpers\n\ndef handle(event, context):\n    return helpers.shout(event['word'])\n",
        0o644,
    );
    let mut handler = function.load("src/app.handle").unwrap();
    assert_eq!(invoke(&mut *handler, br#"{"word":"hi"}"#).unwrap(), b"HI");
}

#[test]
fn python_finds_the_packages_a_layer_brings_under_opt_python() {
    let function = Function::new();
    common::write_file(
        &function.opt.path().join("python/layered.py"),
        "WHERE = 'opt/python'\n",
        0o644,
    );
    function.file(
        "handler.py",
        "import layered\n\ndef handle(event, context):\n    return {'from': layered.WHERE}\n",
        0o644,
    );
    let mut handler = function.load("handler.handle").unwrap();
    assert_eq!(
        json_of(&invoke(&mut *handler, b"{}").unwrap()),
        json!({"from": "opt/python"})
    );
}

/// An adapter paired with a bootstrap of another protocol version refuses to start, saying
/// which versions meet, in the one message every version shares (`INIT_ERROR`).
#[test]
fn each_adapter_refuses_another_protocol_version() {
    for (language, interpreter, adapter) in [
        (&LANGUAGES[0], "python3", "python.py"),
        (&LANGUAGES[1], "perl", "perl.pl"),
        (&LANGUAGES[2], "bash", "shell.sh"),
    ] {
        let function = function(language);
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(r#""$0" "$1" "$2" handle 3</dev/null 4>&1 >/dev/null"#)
            .arg(interpreter)
            .arg(common::adapters_dir().join(adapter))
            .arg(function.task_root.path().join(language.file))
            .env("LAMINA_PROTOCOL", "1")
            .output()
            .unwrap();
        let reply = String::from_utf8_lossy(&output.stdout);
        assert!(
            reply.starts_with("INIT_ERROR ")
                && reply.contains("Runtime.ProtocolVersionMismatch")
                && reply.contains("version 2 of the worker protocol, the bootstrap '1'"),
            "{adapter}: {reply}"
        );
        assert!(!output.status.success(), "{adapter}");
    }
}
