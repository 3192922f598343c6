//! Chaos: `cargo lamina serve` as a user starts it, driven for a bounded time through every
//! door at once (the Invoke API, `InvokeWithResponseStream`, the front door) while the function
//! misbehaves at random (worker killed mid-invocation, a mid-stream error with a 20,000-byte
//! traceback, slow streams) and callers misbehave too (disconnecting mid-response, a flood of
//! idle connections that reconnects as fast as it is closed). Then serve is ended by a random
//! one of SIGHUP, SIGTERM and SIGINT.
//!
//! What must hold: every caller that waited got exactly one answer, and it is its own; no
//! handler ran twice for one invocation; the flood never stopped the others being served; and
//! after serve ends nothing of it is left: no process, no cgroup, no run folder.
//!
//! The run lasts `LAMINA_CHAOS_SECS` seconds (default 20); `LAMINA_CHAOS_SEED` replays a run.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The function: one Python handler serving every door. The event says which fault to play;
/// the handler logs one `CHAOS-RUN` line per run, before doing anything else.
const HANDLER: &str = r#"
import json, os, time

def handle(event, context):
    if isinstance(event, dict) and "body" in event and "requestContext" in event:
        event = json.loads(event["body"] or "{}")   # a Function URL request
    n, fault = event["id"], event["fault"]
    print("CHAOS-RUN %d %d" % (n, os.getpid()), flush=True)
    if fault == "kill":
        os.kill(os.getpid(), 9)
    return stream(n, fault)

def stream(n, fault):
    yield {"statusCode": 200, "headers": {"x-chaos": str(n)}}
    yield "answer %d part 1;" % n
    if fault == "slow":
        time.sleep(0.2)
    if fault == "big_error":
        raise RuntimeError("traceback line\n" * 1334)   # about 20,000 bytes
    yield "answer %d done" % n
"#;

const SPEC: &str = r#"
description = "chaos: every door, random faults"
layers = ["runtime"]
handler = "handler.handle"
invoke-mode = "RESPONSE_STREAM"
max-concurrency = 4
timeout = 10

[[copy]]
from = "handler.py"
to = "handler.py"
"#;

/// A small deterministic generator (xorshift), so a failing run can be replayed by its seed.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// How a caller reaches the function.
#[derive(Clone, Copy, Debug)]
enum Door {
    Invoke,
    Stream,
    FunctionUrl,
}

/// What one caller saw.
#[derive(Debug)]
enum Seen {
    /// The function's own answer, naming this caller's id.
    Answer,
    /// A function error, reported as such.
    FunctionError,
    /// The caller hung up on purpose.
    HungUp,
}

/// Every call made: its door, its fault and what its caller saw, by id.
type Calls = BTreeMap<u64, (Door, &'static str, Seen)>;

struct Serving {
    child: Child,
    invoke_api: String,
    logs: Arc<Mutex<String>>,
}

fn serve(project: &Path, target: &Path) -> Serving {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .args([
            "lamina",
            "serve",
            "--port",
            "0",
            "--host-view",
            "--concurrency",
            "2",
        ])
        .current_dir(project)
        .env("CARGO_TARGET_DIR", target)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = Arc::new(Mutex::new(String::new()));
    let collected = Arc::clone(&logs);
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            let mut text = collected.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let invoke_api = loop {
        let Some(Ok(line)) = lines.next() else {
            panic!("serve exited: {}", logs.lock().unwrap());
        };
        if let Some(url) = line.strip_prefix("Invoke API: ") {
            break url.trim().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Serving {
        child,
        invoke_api,
        logs,
    }
}

/// One HTTP/1.1 request on a fresh connection; the whole response as bytes, or `None` when
/// the caller hangs up after `hang_up_after` bytes of it.
fn exchange(
    address: &str,
    path: &str,
    body: &str,
    hang_up_after: Option<usize>,
) -> Option<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    if let Some(limit) = hang_up_after {
        let mut some = vec![0; limit.max(1)];
        let _ = stream.read(&mut some);
        return None; // Dropped: the connection closes under the answer.
    }
    let mut response = Vec::new();
    // A stream cut by a mid-stream error may end the connection without a last chunk: what
    // arrived is the answer.
    let _ = stream.read_to_end(&mut response);
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {:?}", String::from_utf8_lossy(&response)));
    let head = String::from_utf8_lossy(&response[..head_end]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Some((status, response))
}

fn call(address: &str, door: Door, n: u64, fault: &str, hang_up: bool) -> Seen {
    let event = format!(r#"{{"id":{n},"fault":"{fault}"}}"#);
    let path = match door {
        Door::Invoke => "/2015-03-31/functions/chaos/invocations".to_owned(),
        Door::Stream => "/2021-11-15/functions/chaos/response-streaming-invocations".to_owned(),
        Door::FunctionUrl => format!("/lambda-url/chaos/call/{n}"),
    };
    let Some((status, response)) = exchange(address, &path, &event, hang_up.then_some(20)) else {
        return Seen::HungUp;
    };
    let text = String::from_utf8_lossy(&response);
    let own = format!("answer {n} done");
    match door {
        Door::FunctionUrl if status == 502 => Seen::FunctionError,
        // A stream that failed after its first bytes keeps its status: its body is cut.
        Door::FunctionUrl if status == 200 && !text.contains(&own) => {
            assert!(
                text.contains(&format!("answer {n} part 1;")) && fault != "none",
                "caller {n} ({door:?}, {fault}) got someone else's answer or a cut one:\n{text}"
            );
            Seen::FunctionError
        }
        _ if status == 200 && text.contains(&own) => {
            assert!(
                !text.to_ascii_lowercase().contains("x-amz-function-error")
                    && !text.contains("ErrorCode"),
                "caller {n} ({door:?}, {fault}): its answer and an error:\n{text}"
            );
            Seen::Answer
        }
        _ if status == 200
            && (text.to_ascii_lowercase().contains("x-amz-function-error")
                || text.contains("InvokeComplete") && text.contains("ErrorCode")) =>
        {
            Seen::FunctionError
        }
        _ => panic!("caller {n} ({door:?}, {fault}) got status {status}:\n{text}"),
    }
}

/// Holds about `want` idle connections open to `address`, reconnecting each one the server
/// closes, until `stop`; counts the connections it made.
fn flood(address: String, want: usize, stop: Arc<AtomicBool>, made: Arc<AtomicU64>) {
    let mut open: Vec<TcpStream> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        open.retain(|stream| {
            let mut byte = [0u8; 1];
            // A closed connection reads 0 bytes (or fails); an idle open one would block.
            match stream.peek(&mut byte) {
                Ok(0) => false,
                Ok(_) => true,
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            }
        });
        while open.len() < want && !stop.load(Ordering::Relaxed) {
            match TcpStream::connect(&address) {
                Ok(stream) => {
                    let _ = stream.set_nonblocking(true);
                    open.push(stream);
                    made.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `CHAOS-RUN` lines of the log: runs per caller id, and every pid that ran a handler.
fn runs(logs: &str) -> (BTreeMap<u64, usize>, BTreeSet<u32>) {
    let mut per_id = BTreeMap::new();
    let mut pids = BTreeSet::new();
    for line in logs.lines() {
        let Some(rest) = line.split("CHAOS-RUN ").nth(1) else {
            continue;
        };
        let mut words = rest.split_whitespace();
        let (Some(n), Some(pid)) = (words.next(), words.next()) else {
            continue;
        };
        *per_id.entry(n.parse().unwrap()).or_insert(0) += 1;
        pids.insert(pid.parse().unwrap());
    }
    (per_id, pids)
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The cgroups an emulator with this pid made, in any hierarchy (v1 or v2).
fn cgroups_of(pid: u32) -> Vec<PathBuf> {
    let name = format!("lamina-emulator-{pid}");
    let root = Path::new("/sys/fs/cgroup");
    let mut found: Vec<PathBuf> = [root.join(&name)].into_iter().collect();
    if let Ok(entries) = std::fs::read_dir(root) {
        found.extend(entries.flatten().map(|e| e.path().join(&name)));
    }
    found.retain(|path| path.is_dir());
    found
}

fn run_folders(target: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(target.join("lamina-emulator"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Idle connections the flood holds: more than the Invoke API's cap of 1,000.
const FLOOD: usize = 1_100;

/// Lets this test hold the flood's connections beside its callers' (the soft limit is often
/// 1,024 descriptors).
fn raise_descriptor_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max.min(8192);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[test]
fn every_caller_is_answered_once_by_one_run_and_serve_leaves_nothing_behind() {
    let seconds: u64 = std::env::var("LAMINA_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("LAMINA_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("chaos: {seconds} s, LAMINA_CHAOS_SEED={seed}");
    raise_descriptor_limit();

    let project = tempfile::tempdir().unwrap();
    let function = project.path().join("chaos");
    std::fs::create_dir(&function).unwrap();
    std::fs::write(function.join("lamina.toml"), SPEC).unwrap();
    std::fs::write(function.join("handler.py"), HANDLER).unwrap();
    let target = common::target();
    let before = run_folders(&target);

    let serving = serve(project.path(), &target);
    let address = serving
        .invoke_api
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    // Warm up: the first call builds nothing more and starts an instance.
    assert!(matches!(
        call(&address, Door::Invoke, 0, "none", false),
        Seen::Answer
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let reconnects = Arc::new(AtomicU64::new(0));
    let flooder = {
        let (address, stop, made) = (address.clone(), stop.clone(), reconnects.clone());
        std::thread::spawn(move || flood(address, FLOOD, stop, made))
    };

    let next_id = Arc::new(AtomicU64::new(1));
    let seen: Arc<Mutex<Calls>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let callers: Vec<_> = (0..6u64)
        .map(|caller| {
            let (address, next_id, seen) = (address.clone(), next_id.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut dice = Dice(seed.wrapping_mul(caller + 1) | 1);
                while Instant::now() < deadline {
                    let n = next_id.fetch_add(1, Ordering::Relaxed);
                    let door =
                        [Door::Invoke, Door::Stream, Door::FunctionUrl][dice.below(3) as usize];
                    let fault = match dice.below(20) {
                        0 => "kill",
                        1 | 2 => "big_error",
                        3 | 4 => "slow",
                        _ => "none",
                    };
                    let hang_up = dice.below(10) == 0;
                    let outcome = call(&address, door, n, fault, hang_up);
                    seen.lock().unwrap().insert(n, (door, fault, outcome));
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();

    let logs = serving.logs.lock().unwrap().clone();
    let (per_id, pids) = runs(&logs);
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let mut answers = 0;
    for (n, (door, fault, outcome)) in &seen {
        let ran = per_id.get(n).copied().unwrap_or(0);
        assert!(
            ran <= 1,
            "caller {n} ({door:?}, {fault}): its handler ran {ran} times"
        );
        match outcome {
            Seen::Answer => {
                answers += 1;
                assert_eq!(ran, 1, "caller {n} ({door:?}) answered without a run");
                assert!(
                    matches!(*fault, "none" | "slow"),
                    "caller {n} ({door:?}, {fault}) answered as a success"
                );
            }
            Seen::FunctionError => assert_ne!(*fault, "none", "caller {n} ({door:?}) failed"),
            Seen::HungUp => {}
        }
    }
    for n in per_id.keys() {
        assert!(
            *n == 0 || seen.contains_key(n),
            "a run for id {n}, which no caller sent"
        );
    }
    eprintln!(
        "chaos: {} calls, {answers} answers, {} flood connections made",
        seen.len(),
        reconnects.load(Ordering::Relaxed)
    );
    assert!(answers > 20, "too few answers under the flood: {answers}");

    // End serve by a random signal; it must take everything with it.
    let signals = [libc::SIGHUP, libc::SIGTERM, libc::SIGINT];
    let signal = signals[Dice(seed).below(3) as usize];
    let pid = serving.child.id();
    let mut child = serving.child;
    // SAFETY: kill(2) on our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
    let ended_by = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > ended_by {
            let _ = child.kill();
            panic!("serve did not end within 30 s of signal {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    eprintln!("chaos: serve ended by signal {signal}: {status}");
    let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    assert!(
        left.is_empty(),
        "processes left after signal {signal}: {left:?}"
    );
    assert_eq!(cgroups_of(pid), Vec::<PathBuf>::new(), "cgroups left");
    let new_folders: Vec<_> = run_folders(&target).difference(&before).cloned().collect();
    assert!(new_folders.is_empty(), "run folders left: {new_folders:?}");
}
