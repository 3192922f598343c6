//! `cargo lamina` on a user's own project, outside this repository, as a new user runs it:
//! `new` -> `build` (both architectures, then a no-op rebuild) -> `check` -> `invoke` ->
//! `serve` with two functions (a third name is a 404) -> an edited source picked up by
//! `--watch`; and a script function from an empty folder with the runtime layer built by
//! `cargo lamina layer runtime`, byte for byte the zip this repository builds.
//!
//! Builds go to `target/scratch-projects/` of this repository, so a second run reuses the
//! first's compiled dependencies (the scratch projects themselves are new each run).

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn lamina() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"));
    command.arg("lamina");
    command
}

/// Runs `cargo lamina ARGS` in `dir` with builds in `target`; panics with its output on failure.
fn run(dir: &Path, target: &Path, args: &[&str]) -> Output {
    let output = lamina()
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo lamina {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn shared_target(name: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = repo.join("target/scratch-projects").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir.canonicalize().unwrap()
}

/// A project folder under the system's temp folder, far from this repository.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("lamina-scratch-")
        .tempdir_in(std::env::temp_dir())
        .unwrap()
}

fn has_qemu() -> bool {
    Command::new("qemu-aarch64")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

struct Serving {
    child: Child,
    endpoint: String,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn invoke_url(endpoint: &str, name: &str) -> String {
    format!("{endpoint}/2015-03-31/functions/{name}/invocations")
}

/// POSTs `body` to function `name`: (status, body), with AWS's error type header (if any)
/// before the body.
fn post(endpoint: &str, name: &str, body: &str) -> (u16, String) {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build(),
    );
    let mut response = agent.post(&invoke_url(endpoint, name)).send(body).unwrap();
    let status = response.status().as_u16();
    let error_type = response
        .headers()
        .get("x-amzn-errortype")
        .map(|v| format!("{} ", v.to_str().unwrap_or_default()))
        .unwrap_or_default();
    (
        status,
        error_type + &response.body_mut().read_to_string().unwrap(),
    )
}

#[test]
fn a_rust_and_a_shell_function_of_an_outside_workspace() {
    let project = scratch();
    let root = project.path();
    let target = shared_target("workspace");
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nresolver = \"3\"\nmembers = [\"hello\"]\n",
    )
    .unwrap();

    run(root, &target, &["new", "hello", "--template", "rust"]);
    run(root, &target, &["new", "greeter", "--template", "shell"]);
    let manifest = std::fs::read_to_string(root.join("hello/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("crates/runtime"),
        "depends on lamina-runtime by path:\n{manifest}"
    );

    // The template's own test passes.
    let tested = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--quiet", "-p", "hello"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .unwrap();
    assert!(tested.success(), "the Rust template's test");

    // Both architectures, at cargo-lambda's paths; a second build rewrites nothing.
    let built = stdout(&run(root, &target, &["build", "hello", "--arch", "all"]));
    let x86 = target.join("lambda/hello/x86_64/bootstrap.zip");
    let arm = target.join("lambda/hello/arm64/bootstrap.zip");
    assert!(x86.is_file() && arm.is_file(), "{built}");
    assert!(
        target
            .join("lambda/hello/arm64/bootstrap.zip.manifest.json")
            .is_file()
    );
    let mtime = std::fs::metadata(&x86).unwrap().modified().unwrap();
    let again = stdout(&run(root, &target, &["build", "hello"]));
    assert!(again.contains("unchanged"), "{again}");
    assert_eq!(std::fs::metadata(&x86).unwrap().modified().unwrap(), mtime);
    run(root, &target, &["build", "hello", "--check"]);

    // The zips pass the Lambda checks: a static binary named bootstrap at the root.
    for zip in [&x86, &arm] {
        let checked = stdout(&run(root, &target, &["check", zip.to_str().unwrap()]));
        assert!(
            checked.contains("function (/var/task)") && checked.contains("ok"),
            "{checked}"
        );
    }

    let invoked = stdout(&run(
        root,
        &target,
        &["invoke", "hello", r#"{"name":"Ada"}"#],
    ));
    assert_eq!(invoked.trim(), r#"{"message":"Hello, Ada!"}"#);
    // From inside the function's folder, the function is the one there.
    let inside = stdout(&run(
        &root.join("greeter"),
        &target,
        &["invoke", r#"{"name":"Bo"}"#],
    ));
    assert_eq!(inside.trim(), r#"{"message":"Hello, Bo!"}"#);
    if has_qemu() {
        let arm64 = stdout(&run(
            root,
            &target,
            &["invoke", "hello", "--arch", "arm64", r#"{"name":"Arm"}"#],
        ));
        assert_eq!(arm64.trim(), r#"{"message":"Hello, Arm!"}"#);
    } else {
        eprintln!(
            "qemu-aarch64 missing: the arm64 invoke is not tried (apt-get install qemu-user)"
        );
    }

    // Both functions under their own names; a third is AWS's 404.
    let mut child = lamina()
        .args(["serve", "--port", "0", "--watch"])
        .current_dir(root)
        .env("CARGO_TARGET_DIR", &target)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let endpoint = loop {
        let line = lines.next().expect("serve printed its endpoint").unwrap();
        if let Some(url) = line.strip_prefix("Invoke API: ") {
            break url.trim().to_owned();
        }
    };
    // Keep reading stdout so serve never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let serving = Serving { child, endpoint };
    let (status, body) = post(&serving.endpoint, "hello", r#"{"name":"Ada"}"#);
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"message":"Hello, Ada!"}"#)
    );
    let (status, body) = post(&serving.endpoint, "greeter", r#"{"name":"Cy"}"#);
    assert_eq!(status, 200);
    assert_eq!(body.trim(), r#"{"message":"Hello, Cy!"}"#);
    let (status, body) = post(&serving.endpoint, "nope", "{}");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("ResourceNotFoundException"), "{body}");

    // An edited source is rebuilt and served (bounded wait: a release build with LTO).
    let main_rs = root.join("hello/src/main.rs");
    let source = std::fs::read_to_string(&main_rs).unwrap();
    std::fs::write(&main_rs, source.replace("Hello, {name}!", "Howdy, {name}!")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last = String::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        // The emulator restarts on the same port: a refused connection means "not yet".
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build(),
        );
        if let Ok(mut response) = agent
            .post(&invoke_url(&serving.endpoint, "hello"))
            .send(r#"{"name":"Ada"}"#)
        {
            last = response.body_mut().read_to_string().unwrap_or_default();
            if last.contains("Howdy, Ada!") {
                break;
            }
        }
    }
    assert!(
        last.contains("Howdy, Ada!"),
        "the edit was not picked up: {last}"
    );
    let (_, greeter) = post(&serving.endpoint, "greeter", r#"{"name":"Cy"}"#);
    assert!(
        greeter.contains("Hello, Cy!"),
        "the other function still serves: {greeter}"
    );
    drop(serving);
}

#[test]
fn a_script_function_from_an_empty_folder_with_the_runtime_layer() {
    let project = scratch();
    let root = project.path();
    let target = shared_target("scripts");
    run(root, &target, &["new", "greet", "--template", "shell"]);
    let function = root.join("greet");

    let layer = stdout(&run(
        &function,
        &target,
        &["layer", "runtime", "--arch", "x86_64"],
    ));
    let zip = target.join("layers/runtime-x86_64.zip");
    assert!(zip.is_file(), "{layer}");

    // The same bytes as this repository's own build of layers/runtime.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let repo_target = shared_target("repository-runtime");
    run(
        &repo,
        &repo_target,
        &["layer", "runtime", "--arch", "x86_64"],
    );
    assert_eq!(
        std::fs::read(&zip).unwrap(),
        std::fs::read(repo_target.join("layers/runtime-x86_64.zip")).unwrap(),
        "the runtime layer built outside the repository differs from the repository's"
    );

    let invoked = stdout(&run(&function, &target, &["invoke", r#"{"name":"Ada"}"#]));
    assert_eq!(invoked.trim(), r#"{"message":"Hello, Ada!"}"#);
    let built = stdout(&run(&function, &target, &["build", "--arch", "x86_64"]));
    assert!(built.contains("greet"), "{built}");
    let listing = Command::new("unzip")
        .args(["-Z1"])
        .arg(target.join("lambda/greet/x86_64/bootstrap.zip"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).trim(),
        "handler.sh",
        "the spec is not shipped, the handler is"
    );
}
