//! Every way `_HANDLER` can be wrong is an init error that says which and how to fix it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::Function;
use lamina_bootstrap::{ChildEnvironment, InitError};

/// A function whose handlers see a fixed `PATH`, so messages are the same on every machine.
fn function() -> Function {
    let mut function = Function::new();
    function.path = "/usr/bin:/bin".into();
    function
}

fn describe(function: &Function, error: &InitError) -> String {
    format!(
        "{}: {}",
        error.error_type(),
        function.redact(&error.to_string())
    )
}

fn load_error(function: &Function, handler: Option<&str>) -> String {
    let error = lamina_bootstrap::load_handler(
        handler,
        &function.settings(),
        Arc::new(function.environment()),
        &function.log,
    )
    .unwrap_err();
    describe(function, &error)
}

#[test]
fn bad_handler_values() {
    let f = function();
    std::fs::create_dir(f.task_root.path().join("lib")).unwrap();
    f.file("plain.sh", "#!/bin/sh\necho hi\n", 0o644);
    f.executable("ruby.rb", "#!/usr/bin/ruby-not-installed\nputs 1\n");
    f.executable("lisp.sh", "#!/usr/bin/env sbcl-not-installed --script\n");
    let cases = [
        ("unset", None),
        ("blank", Some("  ")),
        ("worker without program", Some("worker:")),
        ("spaces", Some("handler.sh --verbose")),
        ("missing executable", Some("run")),
        ("missing function file", Some("handler.handle")),
        ("bad function name", Some("handler.not-a-name")),
        (
            "missing worker program",
            Some("worker:serve-nothing --port 3"),
        ),
        ("directory", Some("lib")),
        ("not executable", Some("plain.sh")),
        ("shebang interpreter missing", Some("ruby.rb")),
        ("env interpreter missing", Some("worker:./lisp.sh")),
    ];
    let report: Vec<String> = cases
        .iter()
        .map(|(case, handler)| format!("{case}\n  {}", load_error(&f, *handler)))
        .collect();
    insta::assert_snapshot!(report.join("\n\n"));
}

#[test]
fn missing_interpreter_for_an_adapter() {
    let mut f = function();
    f.path = f.task_root.path().join("empty-bin").into_os_string();
    f.file("handler.py", "def handle(e, c):\n    return e\n", 0o644);
    insta::assert_snapshot!(load_error(&f, Some("handler.handle")));
}

#[test]
fn missing_perl_points_at_the_perl_layer() {
    let mut f = function();
    f.path = f.task_root.path().join("empty-bin").into_os_string();
    f.file("handler.pl", "sub handle { 1 }\n", 0o644);
    insta::assert_snapshot!(load_error(&f, Some("handler.handle")));
}

#[test]
fn missing_adapter() {
    let f = function();
    f.file("handler.pl", "sub handle { 1 }\n", 0o644);
    let mut settings = f.settings();
    settings.adapters_dir = f.opt.path().join("lamina/adapters");
    let error = lamina_bootstrap::load_handler(
        Some("handler.handle"),
        &settings,
        Arc::new(f.environment()),
        &f.log,
    )
    .unwrap_err();
    insta::assert_snapshot!(describe(&f, &error));
}

#[test]
fn bad_env_file() {
    let f = function();
    common::write_file(
        &f.opt.path().join("lamina/env.d/perl.env"),
        "PERL5LIB=${LAMINA_OPT_DIR}/perl5/lib\n1BAD=x\n",
        0o644,
    );
    let error = ChildEnvironment::build(Vec::new(), f.opt.path()).unwrap_err();
    insta::assert_snapshot!(describe(&f, &error));
}

#[test]
fn precedence_of_function_files_is_pl_py_sh() {
    let f = function();
    f.file("handler.sh", "handle() { printf sh; }\n", 0o644);
    f.file("handler.py", "def handle(e, c):\n    return 'py'\n", 0o644);
    let mut handler = f.load("handler.handle").unwrap();
    assert_eq!(common::invoke(&mut *handler, b"").unwrap(), b"py");
    assert!(f.logs().contains("using"), "{}", f.logs());
    f.file("handler.pl", "sub handle { 'pl' }\n", 0o644);
    let mut handler = f.load("handler.handle").unwrap();
    assert_eq!(common::invoke(&mut *handler, b"").unwrap(), b"pl");
}
