//! The runtime layer end to end, as Lambda runs it: the layer zip built from
//! `layers/runtime/layer.toml` by `lamina-layer-builder` (with this package's `lamina-bootstrap`
//! as `/opt/bootstrap`), function zips built from their specs the same way, both unpacked by
//! `lamina-emulator`'s `layout` and seen by the function at `/var/task` and `/opt` through user
//! and mount namespaces, invoked over HTTP.
//!
//! Each convention (executable, worker, Perl/Python/shell `FILE.FUNCTION`) goes through the same
//! scenarios: success, handler error, crash and recovery, timeout and recovery, a bad
//! `_HANDLER`, and a 5 MB event of arbitrary bytes round-tripped. The layer and the zips are
//! built and unpacked once per test binary.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::Answer;
use lamina_emulator::layout::{FunctionLayout, namespaces_available};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, BuiltBinaries, Mode, Spec, Tree, build,
};
use serde_json::{Value, json};

/// An executable handler: the event on stdin, the response on stdout.
const EXECUTABLE: &str = r#"#!/bin/bash
event=$(cat)
case $event in
    *'"action":"fail"'*) echo "no order 42" >&2; exit 3 ;;
    *'"action":"crash"'*) kill -KILL $$ ;;
    *'"action":"sleep"'*) exec sleep 60 ;;
esac
name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' <<<"$event")
printf '{"message":"Hello, %s!"}' "$name"
"#;

/// An executable that answers with its event, byte for byte.
const MIRROR: &str = "#!/bin/sh\nexec cat\n";

/// A worker speaking PROTOCOL.md directly: JSON events with an action, anything else mirrored.
const WORKER: &str = r#"#!/usr/bin/env python3
import json, os, time, traceback
requests = os.fdopen(int(os.environ["LAMINA_PROTOCOL_IN"]), "rb")
replies = os.fdopen(int(os.environ["LAMINA_PROTOCOL_OUT"]), "wb")

def reply(kind, *fields):
    replies.write(b" ".join(kind.split() + [b"%d" % len(f) for f in fields]) + b"\n" + b"".join(fields))
    replies.flush()

def look_up_order(number):
    raise LookupError("no order %d" % number)

reply(b"READY 2")
while header := requests.readline():
    _, request_id, context_length, event_length = header.split()
    requests.read(int(context_length))
    event = requests.read(int(event_length))
    request = json.loads(event)
    if "data" in request:
        reply(b"RESPONSE " + request_id, event)
        continue
    action = request.get("action")
    if action == "fail":
        try:
            look_up_order(42)
        except LookupError as error:
            stack = "".join(traceback.format_tb(error.__traceback__)).rstrip("\n")
            reply(b"ERROR " + request_id, b"Order.NotFound", str(error).encode(), stack.encode())
        continue
    if action == "crash":
        os._exit(7)
    if action == "sleep":
        time.sleep(60)
    name = request.get("name", "")
    reply(b"RESPONSE " + request_id, json.dumps({"message": "Hello, %s!" % name}).encode())
"#;

const PYTHON: &str = r#"
import json, os, time

def handle(event, context):
    action = event.get("action")
    if action == "fail":
        raise LookupError("no order 42")
    if action == "crash":
        os._exit(7)
    if action == "sleep":
        time.sleep(60)
    return {"message": "Hello, %s!" % event["name"]}

def mirror(event, context):
    # The adapter's default json.dumps escapes non-ASCII, which would triple this event.
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))
"#;

const PERL: &str = r#"
use strict;
use warnings;

sub handle {
    my ($event) = @_;
    my $action = $event->{action} // '';
    die "no order 42\n" if $action eq 'fail';
    exit 7 if $action eq 'crash';
    sleep 60 if $action eq 'sleep';
    return { message => "Hello, $event->{name}!" };
}

sub mirror { my ($event) = @_; return $event }

1;
"#;

const SHELL: &str = r#"
handle() {
    local event name
    event=$(cat)
    case $event in
        *'"action":"fail"'*) LAMINA_ERROR_TYPE=Order.NotFound; LAMINA_ERROR_MESSAGE="no order 42"; return 1 ;;
        *'"action":"crash"'*) kill -KILL $$ ;;
        *'"action":"sleep"'*) sleep 60 ;;
    esac
    name=$(sed -n 's/.*"name":"\([^"]*\)".*/\1/p' <<<"$event")
    printf '{"message":"Hello, %s!"}' "$name"
}

mirror() { cat; }
"#;

/// The layer, the function zips, and their unpacked layouts, built once per test binary.
struct Built {
    _dir: tempfile::TempDir,
    /// The test handlers of every convention, with the runtime layer.
    conventions: FunctionLayout,
    /// `samples/<name>` packaged from its lamina.toml, with the runtime layer, and the
    /// handler its lamina.toml names.
    samples: Vec<(&'static str, FunctionLayout, String)>,
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        assert!(
            namespaces_available(),
            "these tests show the function /var/task and /opt as on Lambda, which needs user and \
             mount namespaces (`unshare --user --map-root-user --mount true` fails here)"
        );
        let dir = tempfile::tempdir().unwrap();
        let layer = build_runtime_layer(dir.path());

        let sources = dir.path().join("conventions");
        for (name, source, mode) in [
            ("greet.sh", EXECUTABLE, 0o755),
            ("mirror.sh", MIRROR, 0o755),
            ("plain.sh", MIRROR, 0o644),
            ("worker.py", WORKER, 0o755),
            ("app_python.py", PYTHON, 0o644),
            ("app_perl.pl", PERL, 0o644),
            ("app_shell.sh", SHELL, 0o644),
        ] {
            common::write_file(&sources.join(name), source, mode);
        }
        // A script folder whose spec names no files is its files, as `cargo lamina build` packs it.
        let mut tree = Tree::new();
        tree.add_folder(".", &sources).unwrap();
        let zip = build_function(&tree, "conventions", dir.path());
        let conventions = FunctionLayout::unpack(
            &zip,
            std::slice::from_ref(&layer),
            &dir.path().join("run/c"),
        )
        .unwrap();

        let samples = ["sample-shell", "sample-perl", "sample-python"]
            .into_iter()
            .map(|name| {
                let sample_dir = repository().join("samples").join(name);
                let spec =
                    Spec::load(&sample_dir.join("lamina.toml"), ArtifactKind::Function).unwrap();
                // sample-perl also names the perl layer; here the host's perl stands in for it.
                assert_eq!(
                    spec.layers.first().map(String::as_str),
                    Some("runtime"),
                    "{name}"
                );
                let tree = spec
                    .assemble(&sample_dir, &repository(), &BuiltBinaries::new())
                    .unwrap();
                let zip = build_function(&tree, name, dir.path());
                let layout = FunctionLayout::unpack(
                    &zip,
                    std::slice::from_ref(&layer),
                    &dir.path().join("run").join(name),
                )
                .unwrap();
                let handler = spec.handler.clone().expect("samples name their handler");
                (name, layout, handler)
            })
            .collect();
        Built {
            _dir: dir,
            conventions,
            samples,
        }
    })
}

/// `layers/runtime/layer.toml` built for x86_64, with this package's (host-built)
/// `lamina-bootstrap` standing in for the musl cross-build `cargo xtask layer` makes.
fn build_runtime_layer(out: &Path) -> PathBuf {
    let spec_dir = repository().join("layers/runtime");
    let spec = Spec::load(&spec_dir.join("layer.toml"), ArtifactKind::Layer).unwrap();
    let mut binaries = BuiltBinaries::new();
    for (package, bin) in spec.binaries_needed() {
        assert_eq!(
            (package.as_str(), bin.as_str()),
            ("lamina-bootstrap", "lamina-bootstrap"),
            "the runtime layer is expected to ship this package's binary only"
        );
        binaries.insert((package, bin), stripped_bootstrap(out));
    }
    let tree = spec.assemble(&spec_dir, &repository(), &binaries).unwrap();
    let artifact = Artifact {
        name: "runtime".into(),
        kind: ArtifactKind::Layer,
        architecture: Architecture::X86_64,
        compatible_runtimes: spec.compatible_runtimes,
    };
    let built = build(
        &tree,
        &artifact,
        &out.join("layers/runtime-x86_64.zip"),
        &BuildOptions::default(),
        Mode::Write,
    )
    .unwrap();
    let paths: Vec<&str> = built
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(
        paths,
        [
            "bootstrap",
            "lamina/",
            "lamina/adapters/",
            "lamina/adapters/lisp.lisp",
            "lamina/adapters/perl.pl",
            "lamina/adapters/python.py",
            "lamina/adapters/shell.sh"
        ]
    );
    assert_eq!(built.manifest.files[0].mode, "0755");
    built.zip_path
}

/// This package's `lamina-bootstrap` without its debug info: the debug build is mostly
/// that, and deflating and hashing it at level 9 unoptimized would cost each run ~20 s for
/// nothing. Without binutils' `strip` the binary is used as it is, only slower.
fn stripped_bootstrap(out: &Path) -> PathBuf {
    let original = PathBuf::from(env!("CARGO_BIN_EXE_lamina-bootstrap"));
    let stripped = out.join("lamina-bootstrap");
    match std::process::Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&original)
        .status()
    {
        Ok(status) if status.success() => stripped,
        outcome => {
            eprintln!("note: `strip` unavailable ({outcome:?}); zipping the debug build as it is");
            original
        }
    }
}

fn build_function(tree: &Tree, name: &str, out: &Path) -> PathBuf {
    let artifact = Artifact {
        name: name.into(),
        kind: ArtifactKind::Function,
        architecture: Architecture::X86_64,
        compatible_runtimes: vec![lamina_layer_builder::DEFAULT_RUNTIME.into()],
    };
    let zip = out.join("lambda").join(name).join("bootstrap.zip");
    build(tree, &artifact, &zip, &BuildOptions::default(), Mode::Write)
        .unwrap()
        .zip_path
}

/// A function of `layout` run as on Lambda: `/opt/bootstrap` with the code at `/var/task`.
fn function(
    layout: &FunctionLayout,
    name: &str,
    handler: &str,
    timeout: Duration,
) -> FunctionConfig {
    let mut function = layout.function_config(name, true).unwrap();
    assert_eq!(function.executable, Path::new("/opt/bootstrap"));
    function.handler = handler.into();
    function.timeout = timeout;
    let (name, value) = common::ROOMY_MARGIN;
    function.env.push((name.into(), value.into()));
    function
}

/// An invocation that the Invoke API must answer with 200 (function errors included).
fn invoke(emulator: &Emulator, name: &str, payload: &[u8]) -> Answer {
    let answer = common::invoke_http(emulator, name, payload);
    assert_eq!(answer.status, 200);
    answer
}

/// A 5 MB event of arbitrary text. Lambda's Invoke API takes JSON only (as does the
/// emulator), so "arbitrary bytes" here means every byte that can appear in a JSON document:
/// every ASCII character (controls escaped by the encoder) and raw UTF-8 sequences of one
/// to four bytes spread over all of Unicode.
fn five_megabytes_of_json() -> Vec<u8> {
    let mut text: String = (0..128u8).map(char::from).collect();
    let mut code = 0u32;
    while text.len() < 5 * 1024 * 1024 {
        if let Some(c) = char::from_u32(code) {
            text.push(c);
        }
        // A stride prime to the code space: every region of Unicode, not only its start.
        code = (code + 7919) % 0x11_0000;
    }
    serde_json::to_vec(&json!({ "data": text })).unwrap()
}

/// How one convention is expected to behave.
struct Convention {
    /// `_HANDLER` of the greeting handler.
    handler: &'static str,
    /// `_HANDLER` of a handler that answers with its event.
    mirror: &'static str,
    /// Whether the mirror decodes the event and encodes it again (Perl, Python), so only the
    /// JSON value comes back unchanged, not its bytes.
    mirror_decodes_json: bool,
    /// The `errorType` and `errorMessage` start of `{"action":"fail"}`.
    failure: (&'static str, &'static str),
    /// A frame the failure's `stackTrace` names (none: no stack trace).
    stack_frame: Option<&'static str>,
    /// The `errorType` of a crash mid-invocation.
    crash: &'static str,
    /// A `_HANDLER` of this convention that cannot work, its init `errorType` and message start.
    bad: (&'static str, &'static str, &'static str),
}

/// Every scenario, in order, on one emulator: the greeting, a handler error, a crash, a
/// timeout (each followed by a greeting: the runtime recovered without Lambda restarting
/// it), a 5 MB event of every byte value, and a bad `_HANDLER`.
fn run_convention(name: &str, convention: &Convention) {
    let layout = &built().conventions;
    // Lambda's default 3 s: the bootstrap must answer a timeout before Lambda's own limit.
    let main = function(layout, name, convention.handler, Duration::from_secs(3));
    let mirror = function(layout, "mirror", convention.mirror, common::SAFETY);
    let bad = function(layout, "bad", convention.bad.0, common::SAFETY);
    let emulator = Emulator::start(EmulatorConfig::new(vec![main, mirror, bad])).unwrap();
    let greet = || invoke(&emulator, name, br#"{"name":"Ada"}"#).ok();
    let hello = json!({"message": "Hello, Ada!"});

    assert_eq!(greet(), hello, "{name}: success");

    let failed = invoke(&emulator, name, br#"{"action":"fail"}"#).error();
    let (error_type, message_start) = convention.failure;
    assert_eq!(failed["errorType"], error_type, "{name}: {failed}");
    let message = failed["errorMessage"].as_str().unwrap();
    assert!(message.starts_with(message_start), "{name}: {failed}");
    let stack = failed["stackTrace"].as_array().unwrap();
    match convention.stack_frame {
        Some(frame) => assert!(
            stack
                .iter()
                .any(|line| line.as_str().unwrap().contains(frame)),
            "{name}: stackTrace does not name {frame}: {failed}"
        ),
        None => assert!(stack.is_empty(), "{name}: {failed}"),
    }
    assert_eq!(greet(), hello, "{name}: after a handler error");

    let crashed = invoke(&emulator, name, br#"{"action":"crash"}"#).error();
    assert_eq!(crashed["errorType"], convention.crash, "{name}: {crashed}");
    assert_eq!(greet(), hello, "{name}: after a crash");

    let timed_out = invoke(&emulator, name, br#"{"action":"sleep"}"#).error();
    assert_eq!(
        timed_out["errorType"], "Runtime.HandlerTimeout",
        "{name}: the bootstrap must answer before Lambda's own timeout: {timed_out}"
    );
    assert_eq!(greet(), hello, "{name}: after a timeout");
    let logs = emulator.logs(name);
    assert!(!logs.contains("Task timed out"), "{name}: {logs}");
    assert_eq!(
        logs.matches("Init Duration").count(),
        1,
        "{name}: the runtime was restarted instead of recovering by itself: {logs}"
    );

    let event = five_megabytes_of_json();
    let mirrored = invoke(&emulator, "mirror", &event);
    assert_eq!(
        mirrored.function_error,
        None,
        "{name}: 5 MB event: {}",
        String::from_utf8_lossy(&mirrored.body[..mirrored.body.len().min(2000)])
    );
    if convention.mirror_decodes_json {
        assert!(
            mirrored.json() == serde_json::from_slice::<Value>(&event).unwrap(),
            "{name}: the 5 MB event came back as another value"
        );
    } else {
        assert!(
            mirrored.body == event,
            "{name}: the 5 MB event came back changed ({} bytes)",
            mirrored.body.len()
        );
    }

    let (_, bad_type, bad_message) = convention.bad;
    let refused = invoke(&emulator, "bad", br#"{"name":"Ada"}"#).error();
    assert_eq!(refused["errorType"], bad_type, "{name}: {refused}");
    let message = refused["errorMessage"].as_str().unwrap();
    assert!(message.starts_with(bad_message), "{name}: {refused}");
    emulator.shutdown();
}

#[test]
fn executable_convention_end_to_end() {
    run_convention(
        "executable",
        &Convention {
            handler: "greet.sh",
            mirror: "mirror.sh",
            mirror_decodes_json: false,
            failure: ("HandlerError", "`greet.sh` exited with exit status 3"),
            stack_frame: None,
            crash: "HandlerError",
            bad: (
                "plain.sh",
                "Runtime.HandlerNotExecutable",
                "_HANDLER=`plain.sh`: /var/task/plain.sh is not executable",
            ),
        },
    );
}

#[test]
fn worker_convention_end_to_end() {
    run_convention(
        "worker",
        &Convention {
            handler: "worker:./worker.py",
            mirror: "worker:./worker.py",
            mirror_decodes_json: false,
            failure: ("Order.NotFound", "no order 42"),
            stack_frame: Some("/var/task/worker.py"),
            crash: "Runtime.ExitError",
            bad: ("worker:./nowhere", "Runtime.HandlerNotFound", "_HANDLER="),
        },
    );
}

#[test]
fn python_convention_end_to_end() {
    run_convention(
        "python",
        &Convention {
            handler: "app_python.handle",
            mirror: "app_python.mirror",
            mirror_decodes_json: true,
            failure: ("LookupError", "no order 42"),
            stack_frame: Some("/var/task/app_python.py"),
            crash: "Runtime.ExitError",
            bad: ("app_python.nosuch", "Runtime.HandlerNotFound", ""),
        },
    );
}

#[test]
fn perl_convention_end_to_end() {
    run_convention(
        "perl",
        &Convention {
            handler: "app_perl.handle",
            mirror: "app_perl.mirror",
            mirror_decodes_json: true,
            failure: ("Error", "no order 42"),
            stack_frame: Some("/var/task/app_perl.pl"),
            crash: "Runtime.ExitError",
            bad: ("app_perl.nosuch", "Runtime.HandlerNotFound", ""),
        },
    );
}

#[test]
fn shell_convention_end_to_end() {
    run_convention(
        "shell",
        &Convention {
            handler: "app_shell.handle",
            mirror: "app_shell.mirror",
            mirror_decodes_json: false,
            failure: ("Order.NotFound", "no order 42"),
            stack_frame: None,
            crash: "Runtime.ExitError",
            bad: ("app_shell.nosuch", "Runtime.HandlerNotFound", ""),
        },
    );
}

/// The samples, packaged from their lamina.toml with the handler it names, greet and report
/// an invalid event; the Perl and Python exceptions carry their stack trace into Lambda's
/// `stackTrace`, naming the handler file.
#[test]
fn samples_greet_and_report_errors_with_stack_traces() {
    let functions = built()
        .samples
        .iter()
        .map(|(name, layout, handler)| function(layout, name, handler, common::SAFETY))
        .collect();
    let emulator = Emulator::start(EmulatorConfig::new(functions)).unwrap();
    let mut bodies = String::new();
    for (name, error_type, frame) in [
        ("sample-shell", "HandlerError", None),
        ("sample-perl", "InvalidEvent", Some("/var/task/handler.pl")),
        (
            "sample-python",
            "InvalidEvent",
            Some("/var/task/handler.py"),
        ),
    ] {
        let greeting = invoke(&emulator, name, br#"{"name":"Ada"}"#).ok();
        assert_eq!(greeting, json!({"message": "Hello, Ada!"}), "{name}");
        let answer = invoke(&emulator, name, b"{}");
        let error = answer.error();
        assert_eq!(error["errorType"], error_type, "{name}: {error}");
        let redacted = serde_json::to_string_pretty(&error)
            .unwrap()
            .replace(&answer.request_id, "<request-id>");
        bodies.push_str(&format!("{name}:\n{redacted}\n"));
        let stack: Vec<&str> = error["stackTrace"]
            .as_array()
            .unwrap()
            .iter()
            .map(|line| line.as_str().unwrap())
            .collect();
        match frame {
            Some(frame) => assert!(
                stack.iter().any(|line| line.contains(frame)),
                "{name}: stackTrace does not name {frame}: {error}"
            ),
            None => assert!(stack.is_empty(), "{name}: {error}"),
        }
    }
    emulator.shutdown();
    insta::assert_snapshot!(bodies);
}
