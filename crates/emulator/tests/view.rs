//! The AL2023 view: a function sees the commands of the AL2023 minimal image, its own /tmp,
//! and read-only code, as on `provided.al2023`; the host view still sees the host.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::{PRELUDE, agent, post, redact};
use lamina_emulator::layout::namespaces_available;
use lamina_emulator::{
    Emulator, EmulatorConfig, EmulatorError, FunctionConfig, LambdaMounts, View,
};

fn skip_without_namespaces() -> bool {
    if namespaces_available() {
        return false;
    }
    eprintln!(
        "SKIPPED: this machine does not allow user and mount namespaces, so the AL2023 view \
         cannot be tested here"
    );
    true
}

/// A task folder whose bootstrap answers every event with the JSON string `"$(body)"`, where
/// `body` is shell run per invocation. The headers go to /tmp: /var/task is read-only.
fn function(dir: &Path, body: &str, view: View) -> FunctionConfig {
    let task = dir.join("task");
    let opt = dir.join("opt");
    std::fs::create_dir_all(&task).expect("task");
    std::fs::create_dir_all(opt.join("bin")).expect("opt");
    let script = format!(
        "{}\nwhile true; do next; OUT=$({body}); respond \"\\\"$OUT\\\"\"; done\n",
        PRELUDE.replace(r#"HDRS="./.headers.$$""#, r#"HDRS="/tmp/.headers.$$""#)
    );
    write_executable(&task.join("bootstrap"), &script);
    let mut config = FunctionConfig::new("viewed", "/var/task/bootstrap");
    config.task_root = "/var/task".into();
    config.mounts = Some(LambdaMounts { task, opt, view });
    config
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Invokes the function once and returns the answer's body, failing on a function error.
fn run(config: FunctionConfig) -> String {
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).expect("start");
    let answer = post(&agent(), &emulator.invoke_url("viewed"), &[], b"{}");
    assert_eq!(
        answer.header("X-Amz-Function-Error"),
        None,
        "{}\n{}",
        answer.body,
        emulator.logs("viewed")
    );
    answer.body
}

#[test]
fn only_the_images_commands_are_on_path() {
    if skip_without_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "for c in python3 perl find bash curl sh cat; do \
                  if command -v $c >/dev/null; then printf '%s=yes ' $c; else printf '%s=no ' $c; fi; \
                done; \
                if sh -c 'command -v python3' >/dev/null; then printf 'sh-python3=yes '; else printf 'sh-python3=no '; fi; \
                printf 'PATH=%s' \"$PATH\"";
    let answer = run(function(dir.path(), body, View::al2023()));
    assert_eq!(
        answer,
        "\"python3=no perl=no find=no bash=yes curl=yes sh=yes cat=yes sh-python3=no \
         PATH=/usr/local/bin:/usr/bin/:/bin:/opt/bin\""
    );
}

/// A launcher outside the function (as qemu-aarch64 runs an arm64 bootstrap) that lives under
/// the host's temporary folder, which the view's own /tmp hides: it still runs (it was "not
/// found", exit 127, for any project under /tmp).
#[test]
fn a_launcher_under_the_hosts_tmp_still_runs_in_the_view() {
    if skip_without_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(dir.path().starts_with(std::env::temp_dir()));
    let launcher = dir.path().join("tools/launcher");
    std::fs::create_dir_all(launcher.parent().expect("parent")).expect("tools");
    write_executable(&launcher, "#!/bin/sh\nexec \"$@\"\n");
    let mut config = function(dir.path(), "printf launched", View::al2023());
    config.args = vec![config.executable.display().to_string()];
    config.executable = launcher;
    assert_eq!(run(config), "\"launched\"");
}

#[test]
fn the_host_view_still_sees_the_hosts_interpreters() {
    if skip_without_namespaces() {
        return;
    }
    if !Path::new("/usr/bin/python3").exists() {
        eprintln!("SKIPPED: this machine has no /usr/bin/python3 to look for");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let answer = run(function(dir.path(), "command -v python3", View::Host));
    assert_ne!(answer, "\"\"", "python3 is found in the host view");
}

#[test]
fn a_bootstrap_needing_python_fails_at_init_naming_it() {
    if skip_without_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (shebang, name) in [
        ("#!/usr/bin/python3", "python3_path"),
        ("#!/usr/bin/env perl", "perl_env"),
    ] {
        let config = function(dir.path(), "true", View::al2023());
        let bootstrap = dir.path().join("task/bootstrap");
        write_executable(&bootstrap, &format!("{shebang}\nprint(1)\n"));
        let emulator = Emulator::start(EmulatorConfig::new(vec![config])).expect("start");
        let answer = post(&agent(), &emulator.invoke_url("viewed"), &[], b"{}");
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("X-Amz-Function-Error"), Some("Unhandled"));
        insta::assert_snapshot!(format!("missing_{name}"), redact(&answer.body));
        assert!(
            emulator
                .logs("viewed")
                .contains("Runtime.InvalidEntrypoint"),
            "{}",
            emulator.logs("viewed")
        );
    }
}

#[test]
fn an_interpreter_from_a_layer_is_found() {
    if skip_without_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = function(dir.path(), "true", View::al2023());
    // A layer's `/opt/bin/tool-sh` (a shell under another name) runs the bootstrap.
    write_executable(
        &dir.path().join("opt/bin/tool-sh"),
        "#!/bin/sh\nexec /bin/sh \"$@\"\n",
    );
    let bootstrap = dir.path().join("task/bootstrap");
    let script = std::fs::read_to_string(&bootstrap).expect("read");
    write_executable(
        &bootstrap,
        &script.replacen("#!/bin/sh", "#!/usr/bin/env tool-sh", 1),
    );
    assert_eq!(run(config), "\"\"");
}

#[test]
fn tmp_is_a_fresh_tmpfs_of_the_ephemeral_storage_and_the_rest_is_read_only() {
    if skip_without_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // A host folder on the root file system, outside /tmp (hidden in the view).
    let outside = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("tempdir");
    let marker = format!("lamina-view-test-{}", std::process::id());
    let body = format!(
        "printf 'size=%s ' $(( $(stat -f -c '%b' /tmp) * $(stat -f -c '%S' /tmp) / 1048576 )); \
         printf 'files=%s ' $(ls -A /tmp | grep -vc '^.headers'); \
         echo x > /tmp/{marker} && printf 'tmp=writable '; \
         if (echo x > /var/task/written) 2>/dev/null; then printf 'task=writable '; else printf 'task=ro '; fi; \
         if (echo x > /opt/written) 2>/dev/null; then printf 'opt=writable '; else printf 'opt=ro '; fi; \
         if (echo x > {}/written) 2>/dev/null; then printf 'root=writable'; else printf 'root=ro'; fi",
        outside.path().display()
    );
    let answer = run(function(
        dir.path(),
        &body,
        View::Al2023 {
            ephemeral_storage_mb: 600,
        },
    ));
    assert_eq!(
        answer,
        "\"size=600 files=0 tmp=writable task=ro opt=ro root=ro\""
    );
    assert!(
        !Path::new("/tmp").join(&marker).exists(),
        "the function's /tmp is its own"
    );
    assert!(!dir.path().join("task/written").exists());
    assert!(!outside.path().join("written").exists());
}

#[test]
fn ephemeral_storage_outside_lambdas_range_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    for mb in [511, 10_241] {
        let config = function(
            dir.path(),
            "true",
            View::Al2023 {
                ephemeral_storage_mb: mb,
            },
        );
        let err = Emulator::start(EmulatorConfig::new(vec![config]))
            .err()
            .expect("refused");
        assert!(matches!(err, EmulatorError::InvalidFunction { .. }));
        assert_eq!(
            err.to_string(),
            format!(
                "function `viewed`: ephemeral storage {mb} MB is outside Lambda's 512 to 10240 MB"
            )
        );
    }
}

#[test]
fn concurrent_instances_each_get_their_own_view() {
    if skip_without_namespaces() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // Each invocation leaves a marker in /tmp, then waits on a loopback listener of this test
    // until both invocations are waiting there at once (so two instances run side by side),
    // then counts the markers its /tmp holds: its own only.
    let gate = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = gate.local_addr().expect("addr").port();
    let body = format!(
        "mktemp /tmp/instance-XXXXXX >/dev/null; curl -s http://127.0.0.1:{port}/ >/dev/null; \
         ls /tmp | grep -c '^instance-'"
    );
    let mut config = function(dir.path(), &body, View::al2023());
    config.concurrency = 2;
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).expect("start");
    let url = emulator.invoke_url("viewed");
    let answers: Vec<String> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| post(&agent(), &url, &[], b"{}").body))
            .collect();
        let waiting: Vec<_> = (0..2)
            .map(|_| gate.accept().expect("an invocation reaches the gate").0)
            .collect();
        for mut stream in waiting {
            use std::io::Write as _;
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .expect("open the gate");
        }
        calls
            .into_iter()
            .map(|call| call.join().expect("call"))
            .collect()
    });
    assert_eq!(answers, ["\"1\"", "\"1\""], "{}", emulator.logs("viewed"));
}
