//! The `FILE.FUNCTION` convention through the real Lisp adapter (`adapters/lisp.lisp`) and
//! Debian 12's SBCL, the one `layers/sbcl` ships (unpacked by `layers/sbcl/debian12.sh`,
//! which `cargo xtask ci` runs before the tests).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{Function, SAFETY, binary_event, context, invoke, json_of, whoami};
use lamina_bootstrap::{Answer, ResponseSink};
use serde_json::json;

/// Where `layers/sbcl/debian12.sh` unpacks this machine's SBCL (the sbcl layer's sysroot).
const SBCL_SYSROOT: &str = "/srv/lamina/debian12-sbcl-x86_64";

const HANDLER: &str = r#"
(format t "loading handler.lisp~%")

(define-condition invalid-event (error)
  ((reason :initarg :reason :reader reason))
  (:report (lambda (condition stream) (write-string (reason condition) stream))))

(defun greet (name)
  (unless (and (stringp name) (plusp (length name)))
    (error 'invalid-event :reason "the event needs a \"name\""))
  (format nil "Hello, ~a!" name))

(defun handle (event context)
  (let ((action (and (hash-table-p event) (gethash "action" event))))
    (format t "handling ~a~%" action)
    (cond ((equal action "whoami")
           (list (cons "pid" (sb-unix:unix-getpid))
                 (cons "request_id" (lamina:context-aws-request-id context))
                 (cons "trace" (sb-ext:posix-getenv "_X_AMZN_TRACE_ID"))
                 (cons "time_left" (if (plusp (lamina:remaining-time-ms context)) t :false))))
          ((equal action "types")
           (let ((value (gethash "value" event)))
             (list (cons "type" (typecase value
                                  (string "string") (integer "integer")
                                  (double-float "double-float") (hash-table "hash-table")
                                  (simple-vector "simple-vector")
                                  (t (format nil "~(~s~)" value))))
                   (cons "value" value))))
          ((equal action "undefined") (funcall (intern "NO-SUCH-FUNCTION") 1))
          ((equal action "crash") (sb-ext:exit :code 9 :abort t))
          ((equal action "stream")
           (let ((write (lamina:stream context :content-type "text/plain")))
             (dotimes (i 3) (funcall write (format nil "chunk ~d;" i)))
             (when (gethash "fail" event) (error "failed after the first chunks"))))
          (t (list (cons "message" (greet (gethash "name" event))))))))

(defun mirror (event context)
  (declare (ignore context))
  event)
"#;

/// A function with `handler.lisp` and this machine's SBCL as `<opt>/bin/sbcl`, as the sbcl
/// layer puts it (the runtime finds its core at `../lib/sbcl/sbcl.core` beside the binary).
fn function() -> Function {
    let sbcl = Path::new(SBCL_SYSROOT).join("usr/bin/sbcl");
    assert!(
        sbcl.is_file()
            && Path::new(SBCL_SYSROOT)
                .join("usr/lib/sbcl/sbcl.core")
                .is_file(),
        "the Lisp adapter runs on the sbcl layer's SBCL, unpacked in {SBCL_SYSROOT}: run \
         `sh layers/sbcl/debian12.sh {SBCL_SYSROOT} x86_64` (cargo xtask ci does)"
    );
    let function = Function::new();
    function.file("handler.lisp", HANDLER, 0o644);
    std::fs::create_dir_all(function.opt.path().join("bin")).unwrap();
    std::os::unix::fs::symlink(&sbcl, function.opt.path().join("bin/sbcl")).unwrap();
    function
}

#[test]
fn the_lisp_adapter_greets_once_loaded_and_passes_the_context() {
    let function = function();
    let mut handler = function.load("handler.handle").unwrap();
    let response = invoke(&mut *handler, br#"{"name":"Ada"}"#).unwrap();
    assert_eq!(json_of(&response), json!({"message": "Hello, Ada!"}));
    let first = whoami(&mut *handler, "req-first");
    let second = whoami(&mut *handler, "req-second");
    assert_eq!(first["pid"], second["pid"], "one SBCL serves every event");
    assert_eq!(second["request_id"], "req-second");
    assert_eq!(
        second["trace"],
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
    );
    assert_eq!(second["time_left"], true);
    let logs = function.logs();
    assert!(logs.contains("loading handler.lisp"), "{logs}");
    assert!(logs.contains("handling whoami"), "{logs}");
}

#[test]
fn a_lisp_error_has_its_condition_type_and_backtrace_and_the_worker_serves_on() {
    let function = function();
    let mut handler = function.load("handler.handle").unwrap();
    let before = whoami(&mut *handler, "req-1");

    let error = invoke(&mut *handler, b"{}").unwrap_err();
    assert_eq!(error.error_type, "INVALID-EVENT");
    assert_eq!(error.message, "the event needs a \"name\"");
    // The backtrace from where it was signalled: the user's frames, not the adapter's.
    assert!(
        error.stack_trace.iter().any(|f| f.contains("(GREET NIL)")),
        "{:?}",
        error.stack_trace
    );
    assert!(
        error.stack_trace.iter().any(|f| f.contains("(HANDLE ")),
        "{:?}",
        error.stack_trace
    );
    assert!(
        !error.stack_trace.iter().any(|f| f.contains("LAMINA::")),
        "{:?}",
        error.stack_trace
    );

    let error = invoke(&mut *handler, br#"{"action":"undefined"}"#).unwrap_err();
    assert_eq!(error.error_type, "UNDEFINED-FUNCTION");
    assert!(
        error.message.contains("NO-SUCH-FUNCTION"),
        "{}",
        error.message
    );

    assert_eq!(whoami(&mut *handler, "req-2")["pid"], before["pid"]);
    let response = invoke(&mut *handler, br#"{"name":"Grace"}"#).unwrap();
    assert_eq!(json_of(&response), json!({"message": "Hello, Grace!"}));
}

#[test]
fn the_lisp_adapter_recovers_from_a_crash() {
    let function = function();
    let mut handler = function.load("handler.handle").unwrap();
    let before = whoami(&mut *handler, "req-1");
    let error = invoke(&mut *handler, br#"{"action":"crash"}"#).unwrap_err();
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert!(error.message.contains("exit status 9"), "{}", error.message);
    assert_ne!(whoami(&mut *handler, "req-2")["pid"], before["pid"]);
}

#[test]
fn json_comes_in_as_lisp_data_and_goes_back_as_json() {
    let function = function();
    let mut handler = function.load("handler.handle").unwrap();
    let cases = [
        (json!("héllo \u{1F600} \"q\" \\ \n"), "string"),
        (json!(12345678901234567890u64), "integer"),
        (json!(-2.5e-3), "double-float"),
        (json!(true), "t"),
        (json!(false), ":false"),
        (json!(null), ":null"),
        (json!([1, [2, {"a": []}]]), "simple-vector"),
        (json!({"k": {"nested": [1.5, "x", null]}}), "hash-table"),
    ];
    for (value, lisp_type) in cases {
        let event = serde_json::to_vec(&json!({"action": "types", "value": value})).unwrap();
        let answer = json_of(&invoke(&mut *handler, &event).unwrap());
        assert_eq!(answer["value"], value, "{value} came back changed");
        assert_eq!(answer["type"], lisp_type, "{value}: {answer}");
    }
    // Surrogate pairs in escapes are one character.
    let answer = invoke(
        &mut *handler,
        br#"{"action":"types","value":"\ud83d\ude00"}"#,
    )
    .unwrap();
    assert_eq!(json_of(&answer)["value"], "\u{1F600}");
}

#[test]
fn bytes_that_are_not_json_reach_the_handler_unchanged() {
    let function = function();
    let mut handler = function.load("handler.mirror").unwrap();
    let event = binary_event();
    let response = invoke(&mut *handler, &event).unwrap();
    assert!(response == event, "the event came back changed");
    assert_eq!(invoke(&mut *handler, b"not json").unwrap(), b"not json");
}

/// Keeps what a stream sends.
#[derive(Default)]
struct Recorder {
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
        Ok(())
    }
}

#[test]
fn lamina_stream_sends_each_write_as_a_chunk_and_an_error_ends_the_stream() {
    let function = function();
    let mut handler = function.load("handler.handle").unwrap();
    let mut recorder = Recorder::default();
    let answer = handler
        .respond(
            br#"{"action":"stream"}"#,
            &context("req-stream", SAFETY),
            &mut recorder,
        )
        .unwrap();
    assert!(matches!(answer, Answer::Streamed));
    assert_eq!(recorder.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        recorder.chunks,
        [
            b"chunk 0;".to_vec(),
            b"chunk 1;".to_vec(),
            b"chunk 2;".to_vec()
        ]
    );

    let mut recorder = Recorder::default();
    let error = handler
        .respond(
            br#"{"action":"stream","fail":true}"#,
            &context("req-stream-fail", SAFETY),
            &mut recorder,
        )
        .unwrap_err();
    assert_eq!(error.error_type, "SIMPLE-ERROR");
    assert_eq!(error.message, "failed after the first chunks");
    assert_eq!(recorder.chunks.len(), 3);
    // The same worker answers the next event.
    let response = invoke(&mut *handler, br#"{"name":"Ada"}"#).unwrap();
    assert_eq!(json_of(&response), json!({"message": "Hello, Ada!"}));
}

#[test]
fn lisp_load_failures_are_init_errors_with_the_adapters_type() {
    let cases = [
        (
            "(defun handle (event context)\n",
            "Runtime.UserCodeSyntaxError",
        ),
        ("(defun other (e c) e)\n", "Runtime.HandlerNotFound"),
        ("(error \"no config\")\n", "SIMPLE-ERROR"),
    ];
    for (source, error_type) in cases {
        let function = function();
        function.file("handler.lisp", source, 0o644);
        let error = function.load("handler.handle").unwrap_err();
        assert_eq!(error.error_type(), error_type, "{source}: {error}");
    }
}

#[test]
fn without_sbcl_on_path_the_init_error_names_it() {
    let function = Function::new();
    function.file("handler.lisp", HANDLER, 0o644);
    let mut function = function;
    function.path = "/nonexistent".into();
    let error = function.load("handler.handle").unwrap_err();
    assert_eq!(error.error_type(), "Runtime.InterpreterNotFound");
    assert!(error.to_string().contains("sbcl"), "{error}");
}
