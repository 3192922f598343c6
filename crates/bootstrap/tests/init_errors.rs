//! Every way `_HANDLER` can be wrong is an init error that says which and how to fix it.
#![allow(clippy::unwrap_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use common::Function;
use lamina_bootstrap::{ChildEnvironment, InitError};

/// The system allocator, noting the largest block each thread asks for: how "expansion stops
/// early" is seen without a clock (an expansion that went on would build a string of hundreds
/// of megabytes).
struct NotingLargest;

thread_local! {
    static LARGEST_BLOCK: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // `try_with`: the allocator may run while this thread's locals are being torn down.
    let _ = LARGEST_BLOCK.try_with(|largest| largest.set(largest.get().max(size)));
}

// SAFETY: every call is passed on to `System` unchanged; noting a size allocates nothing.
unsafe impl GlobalAlloc for NotingLargest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: NotingLargest = NotingLargest;

/// The largest block this thread asked for while running `f`, and what `f` returned.
fn largest_block_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    LARGEST_BLOCK.with(|largest| largest.set(0));
    let result = f();
    (LARGEST_BLOCK.with(Cell::get), result)
}

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
        ("stream without file", Some("stream:")),
        ("missing stream executable", Some("stream:run.sh")),
        ("stream not executable", Some("stream:plain.sh")),
        (
            "stream outside the task root",
            Some("stream:../../../usr/bin/id"),
        ),
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

/// `env.d` values no handler could start with: each case is one file, the rest of the layer
/// being fine. Twenty doubling lines would be 1 GiB; expansion stops at the first line past
/// the limit, and a single line expanding a big value thousands of times (1 GB) stops early
/// too: no block larger than 8 MiB is asked for (the files are under 200 KB).
#[test]
fn env_values_over_the_kernel_limit_or_holding_nul() {
    let seed = "x".repeat(1024);
    let doubling = format!("A={seed}\n{}", "A=${A}${A}\n".repeat(20));
    let many = format!(
        "BIG={}\nB={}\n",
        "y".repeat(100_000),
        "${BIG}".repeat(10_000)
    );
    let literal = format!(
        "# a long literal\nC={}\n",
        "z".repeat(lamina_context::facts::MAX_ENV_STRING_BYTES)
    );
    let fits = format!(
        "D={}\n",
        "d".repeat(lamina_context::facts::MAX_ENV_STRING_BYTES - 3)
    );
    let cases = [
        ("doubling", doubling.as_str()),
        ("one line expanding a value 10000 times", many.as_str()),
        ("a literal over the limit", literal.as_str()),
        ("NUL", "OK=1\nexport NUL=before\0after\n"),
    ];
    let f = function();
    let env_d = f.opt.path().join("lamina/env.d");
    let mut report = Vec::new();
    for (case, text) in cases {
        common::write_file(&env_d.join("layer.env"), text, 0o644);
        let (largest, built) =
            largest_block_during(|| ChildEnvironment::build(Vec::new(), f.opt.path()));
        let error = built.unwrap_err();
        assert!(
            largest < 8 << 20,
            "{case}: expansion did not stop early (a block of {largest} bytes)"
        );
        report.push(format!("{case}\n  {}", describe(&f, &error)));
    }
    insta::assert_snapshot!(report.join("\n\n"));
    // Exactly at the limit (`D=`, the value and the NUL) is fine.
    common::write_file(&env_d.join("layer.env"), &fits, 0o644);
    let environment = ChildEnvironment::build(Vec::new(), f.opt.path()).unwrap();
    assert_eq!(
        environment.get("D").unwrap().len(),
        lamina_context::facts::MAX_ENV_STRING_BYTES - 3
    );
}

/// An `env.d` file far past what any layer needs (200 MB, which killed a 128 MB function's init
/// with `Runtime.OutOfMemory`) is read only up to the bound and fails init naming the file and
/// the bound. The file is sparse: a reader that is not bounded reads 200 MB of NULs.
#[test]
fn an_env_file_over_the_bound_is_named_not_read_whole() {
    let f = function();
    let path = f.opt.path().join("lamina/env.d/huge.env");
    common::write_file(&path, "A=1\n", 0o644);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(200 * 1024 * 1024)
        .unwrap();
    let error = ChildEnvironment::build(Vec::new(), f.opt.path()).unwrap_err();
    insta::assert_snapshot!(describe(&f, &error));
    // Exactly at the bound is read (a long comment fills it).
    let at_bound = format!(
        "A=1\n#{}\n",
        "c".repeat(lamina_bootstrap::MAX_ENV_FILE_BYTES - 6)
    );
    assert_eq!(at_bound.len(), lamina_bootstrap::MAX_ENV_FILE_BYTES);
    common::write_file(&path, &at_bound, 0o644);
    let environment = ChildEnvironment::build(Vec::new(), f.opt.path()).unwrap();
    assert_eq!(environment.get("A").unwrap(), "1");
}

/// `count` variables `V_00001=some_value_00001` (33 bytes each for execve), in files of
/// 10,000 lines (250 KB each, under the per-file bound).
fn many_variables(f: &Function, count: usize) {
    let env_d = f.opt.path().join("lamina/env.d");
    let _ = std::fs::remove_dir_all(&env_d);
    for (file, first) in (1..=count).step_by(10_000).enumerate() {
        let text: String = (first..(first + 10_000).min(count + 1))
            .map(|i| format!("V_{i:05}=some_value_{i:05}\n"))
            .collect();
        common::write_file(&env_d.join(format!("{file:02}-many.env")), &text, 0o644);
    }
}

/// 40,000 small variables passed init and then failed every invocation with
/// `Runtime.StartError: Argument list too long`, naming nothing. Now init fails at the line
/// that passes the bound, naming the file; an environment under the bound really starts
/// a program (with room left for arguments).
#[test]
fn env_files_whose_variables_together_pass_the_exec_bound() {
    let f = function();
    many_variables(&f, 40_000);
    let error = ChildEnvironment::build(Vec::new(), f.opt.path()).unwrap_err();
    // The line, the name and the count depend on the length of the temporary folder's path, set as
    // LAMINA_OPT_DIR: checked here, replaced in the snapshot.
    let InitError::EnvironmentTooLarge {
        line,
        name,
        variables,
        ..
    } = &error
    else {
        panic!("expected EnvironmentTooLarge, got {error:?}");
    };
    assert!((1..=10_000).contains(line), "line {line}");
    let total = lamina_bootstrap::MAX_CHILD_ENVIRONMENT_BYTES / 33;
    assert!(variables.abs_diff(total) < 5, "{variables} variables");
    let message = describe(&f, &error)
        .replace(&format!("line {line}:"), "line <N>:")
        .replace(&format!("`{name}`"), "`V_<N>`")
        .replace(&format!("{variables} variables"), "<V> variables");
    insta::assert_snapshot!(message);

    many_variables(&f, 30_000);
    let environment = ChildEnvironment::build(Vec::new(), f.opt.path()).unwrap();
    let output = std::process::Command::new("/bin/sh")
        .args(["-c", "echo $V_30000", "sh", &"x".repeat(100_000)])
        .env_clear()
        .envs(environment.iter())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(output.stdout, b"some_value_30000\n");
}

/// `_HANDLER` picks the function's own code or a layer's tool, never the image's programs:
/// an absolute path, `..`, or a symlink out of the task root is an init error naming it.
#[test]
fn handler_paths_escaping_the_task_root() {
    let f = function();
    let root = f.task_root.path();
    let outside = common::write_file(
        &f.opt.path().join("elsewhere/app.py"),
        "def handle(e, c):\n    return e\n",
        0o755,
    );
    std::os::unix::fs::symlink("/usr/bin/id", root.join("tool")).unwrap();
    std::os::unix::fs::symlink("/usr/bin", root.join("bin")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("app.py")).unwrap();
    let up = format!("{}usr/bin/id", "../".repeat(12));
    let cases = [
        ("absolute", "/usr/bin/id".to_owned()),
        ("relative with ..", up.clone()),
        ("symlink", "tool".to_owned()),
        ("worker, absolute", "worker:/usr/bin/id -u".to_owned()),
        (
            "worker, through a symlinked folder",
            "worker:bin/id".to_owned(),
        ),
        ("worker, relative with ..", format!("worker:{up}")),
        ("function file, symlink", "app.handle".to_owned()),
    ];
    let report: Vec<String> = cases
        .iter()
        .map(|(case, handler)| format!("{case}\n  {}", load_error(&f, Some(handler))))
        .collect();
    insta::assert_snapshot!(report.join("\n\n"));
}

/// Inside stays fine: a symlink within the task root, `..` that comes back, a layer's tool.
#[test]
fn handler_paths_inside_the_task_root_or_opt_bin() {
    let f = function();
    let root = f.task_root.path();
    f.executable("real.sh", "#!/bin/sh\necho hi\n");
    std::os::unix::fs::symlink(root.join("real.sh"), root.join("alias.sh")).unwrap();
    let tool = common::write_file(&f.opt.path().join("bin/tool"), "#!/bin/sh\n", 0o755);
    let back = format!("../{}/real.sh", root.file_name().unwrap().to_string_lossy());
    let environment = f.environment();
    for handler in [
        "alias.sh",
        back.as_str(),
        &tool.to_string_lossy(),
        "worker:tool --serve",
    ] {
        let spec = lamina_bootstrap::HandlerSpec::resolve(
            Some(handler),
            &f.settings(),
            &environment,
            &f.log,
        );
        assert!(spec.is_ok(), "{handler}: {}", spec.unwrap_err());
    }
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
