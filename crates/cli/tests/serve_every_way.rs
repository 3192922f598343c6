//! `cargo lamina serve` as a real process (#19): every flag reaches the function whichever way
//! it is named (a function of the project, `--zip`, `--bootstrap`), and SIGHUP (a closed
//! terminal), SIGTERM and SIGINT each end the function's processes, its cgroup and the run's
//! folder before serve exits.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

/// One worker per slot, as AWS's runtimes do with AWS_LAMBDA_MAX_CONCURRENCY; each invocation
/// asks the test's meeting point whether another invocation runs at the same time, and
/// answers with what it saw and the slots it was given.
const MEET: &str = r#"#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
worker() {
  while true; do
    ID=$(curl -sS -D - -o /dev/null "$API/invocation/next" \
      | tr -d '\r' | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
    MET=$(curl -sS --max-time 10 "http://$MEET/" || echo alone)
    curl -sS -o /dev/null -X POST \
      --data-binary "{\"slots\":\"${AWS_LAMBDA_MAX_CONCURRENCY:-unset}\",\"met\":\"$MET\"}" \
      "$API/invocation/$ID/response"
  done
}
i=0
while [ "$i" -lt "${AWS_LAMBDA_MAX_CONCURRENCY:-1}" ]; do
  worker &
  i=$((i + 1))
done
wait
"#;

/// Starts a worker process of its own and answers with its pids: the processes a stop must end.
const PIDS: &str = r#"#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
sleep 1000 &
WORKER=$!
while true; do
  ID=$(curl -sS -D - -o /dev/null "$API/invocation/next" \
    | tr -d '\r' | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  curl -sS -o /dev/null -X POST --data-binary "{\"pids\":[$$,$WORKER]}" \
    "$API/invocation/$ID/response"
done
"#;

/// A script function's folder `dir/fn` named `name`, whose `bootstrap` is `script`.
fn script_function(dir: &Path, name: &str, script: &str) -> PathBuf {
    let function = dir.join("fn");
    std::fs::create_dir_all(&function).unwrap();
    std::fs::write(function.join("lamina.toml"), format!("name = \"{name}\"\n")).unwrap();
    let bootstrap = function.join("bootstrap");
    std::fs::write(&bootstrap, script).unwrap();
    std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
    function
}

fn lamina(dir: &Path, target: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"));
    command
        .arg("lamina")
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target);
    command
}

/// A running serve, its Invoke API, and its pipes, held unread until a test closes them.
struct Serving {
    child: Child,
    endpoint: String,
    stdout: Option<BufReader<std::process::ChildStdout>>,
    stderr: Option<ChildStderr>,
}

impl Serving {
    fn start(dir: &Path, target: &Path, args: &[&str]) -> Serving {
        let mut child = lamina(dir, target)
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut endpoint = None;
        loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let mut said = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut said)
                    .unwrap();
                panic!("serve {args:?} exited: {said}");
            }
            if let Some(url) = line.strip_prefix("Invoke API: ") {
                endpoint = Some(url.trim().to_owned());
            }
            if line.starts_with("Function logs follow") {
                break;
            }
        }
        let stderr = child.stderr.take();
        Serving {
            child,
            endpoint: endpoint.unwrap(),
            stdout: Some(stdout),
            stderr,
        }
    }

    fn invoke(&self, name: &str) -> serde_json::Value {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(60)))
                .build(),
        );
        let url = format!("{}/2015-03-31/functions/{name}/invocations", self.endpoint);
        let body = agent
            .post(url)
            .send("{}")
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) takes plain integers; the pid is our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Waits for serve to exit (bounded: a serve that does not stop fails the test).
    fn exit_status(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What serve wrote on stderr (after it exited).
    fn said(&mut self) -> String {
        let mut said = String::new();
        if let Some(mut stderr) = self.stderr.take() {
            let _ = stderr.read_to_string(&mut said);
        }
        said
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.signal(libc::SIGTERM);
            let _ = self.child.wait();
        }
    }
}

/// Answers `together` to each of two requests once both have arrived: two invocations meet
/// only when they run at the same time.
fn meeting_point() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut waiting = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            waiting.push(stream);
            if waiting.len() == 2 {
                for mut stream in waiting.drain(..) {
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntogether",
                    );
                }
            }
        }
    });
    addr
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x86_64",
    }
}

/// `--concurrency` (instances) and `--max-concurrency` (slots per instance) reach the function
/// named any of the three ways: two invocations meet only if the flag was applied (before the
/// fix, `--bootstrap` and `--zip` dropped both, and the two ran one after the other).
#[test]
fn concurrency_flags_apply_to_every_way_of_naming_a_function() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    let function = script_function(dir.path(), "meet", MEET);
    let built = lamina(&function, &target)
        .args(["build", "--arch", host_arch()])
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let zip = target
        .join("lambda/meet")
        .join(host_arch())
        .join("bootstrap.zip");
    let zip = zip.to_str().unwrap();
    let ways: [(&str, &[&str]); 3] = [
        ("meet", &[]),
        ("bootstrap", &["--zip", zip]),
        ("bootstrap", &["--bootstrap", "bootstrap"]),
    ];
    for (name, way) in ways {
        for (flag, slots) in [("--max-concurrency", "2"), ("--concurrency", "1")] {
            let meet = format!("MEET={}", meeting_point());
            let mut args = way.to_vec();
            args.extend([flag, "2", "--timeout", "30", "--env", &meet]);
            let serving = Serving::start(&function, &target, &args);
            let answers: Vec<serde_json::Value> = std::thread::scope(|scope| {
                let calls: Vec<_> = (0..2)
                    .map(|_| scope.spawn(|| serving.invoke(name)))
                    .collect();
                calls.into_iter().map(|c| c.join().unwrap()).collect()
            });
            let slots = if slots == "1" { "unset" } else { slots };
            for answer in answers {
                assert_eq!(
                    answer,
                    serde_json::json!({"slots": slots, "met": "together"}),
                    "serve {args:?}"
                );
            }
        }
    }
}

/// The cgroup folders of `pid` that belong to the emulator of serve `serve_pid`.
fn emulator_cgroups(pid: u32, serve_pid: u32) -> Vec<PathBuf> {
    let marker = format!("lamina-emulator-{serve_pid}");
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mut folders = Vec::new();
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next(), fields.next(), fields.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        if !path.contains(&marker) {
            continue;
        }
        let path = path.trim_start_matches('/');
        let roots: Vec<PathBuf> = if controllers.is_empty() {
            vec!["/sys/fs/cgroup".into(), "/sys/fs/cgroup/unified".into()]
        } else {
            controllers
                .split(',')
                .map(|c| Path::new("/sys/fs/cgroup").join(c.trim_start_matches("name=")))
                .collect()
        };
        folders.extend(
            roots
                .into_iter()
                .map(|root| root.join(path))
                .filter(|folder| folder.is_dir()),
        );
    }
    folders
}

fn alive(pid: u64) -> bool {
    // A zombie is dead: only its parent's wait is missing.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn run_folders(target: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(target.join("lamina-emulator"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("run-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// SIGHUP (with serve's stdout and stderr closed first, as a closed terminal leaves them),
/// SIGTERM and SIGINT: serve exits successfully, and no process of the instance, no cgroup of
/// its emulator and no run folder remain (before the fix SIGHUP killed serve outright, leaving
/// `/opt/bootstrap` and its worker frozen in their cgroup and the run folder on disk).
#[test]
fn hangup_terminate_and_interrupt_end_everything() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("target");
    let function = script_function(dir.path(), "pids", PIDS);
    for (signal, name) in [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGINT, "SIGINT"),
    ] {
        let mut serving = Serving::start(&function, &target, &[]);
        let answer = serving.invoke("pids");
        let pids: Vec<u64> = answer["pids"]
            .as_array()
            .unwrap_or_else(|| panic!("{answer}"))
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect();
        assert_eq!(pids.len(), 2, "{answer}");
        assert!(pids.iter().all(|&pid| alive(pid)), "{name}: {pids:?} run");
        let cgroups = emulator_cgroups(u32::try_from(pids[0]).unwrap(), serving.child.id());
        assert_eq!(run_folders(&target).len(), 1, "{name}: one run folder");
        if signal == libc::SIGHUP {
            // A closed terminal: writing to it fails from now on.
            drop(serving.stdout.take());
            drop(serving.stderr.take());
        }
        serving.signal(signal);
        let status = serving.exit_status();
        let said = serving.said();
        assert!(
            status.success(),
            "{name}: serve exited with {status}: {said}"
        );
        // The instance's processes were killed by serve; init reaps the orphans.
        let deadline = Instant::now() + Duration::from_secs(10);
        while pids.iter().any(|&pid| alive(pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in &pids {
            assert!(
                !alive(*pid),
                "{name}: process {pid} of the instance remains"
            );
        }
        for cgroup in &cgroups {
            assert!(
                !cgroup.exists(),
                "{name}: cgroup {} remains",
                cgroup.display()
            );
        }
        assert_eq!(
            run_folders(&target),
            Vec::<PathBuf>::new(),
            "{name}: {said}"
        );
    }
}
