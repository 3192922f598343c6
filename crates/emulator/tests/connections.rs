//! The Invoke API's listener stays usable when clients misbehave: connections that never
//! finish their headers are cut off, and at the cap a new connection closes the one idle
//! longest (never one being answered), so idle or reconnecting clients cannot keep callers out.

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ECHO, agent, post, script};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

#[test]
fn half_sent_requests_do_not_block_a_normal_invoke() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "echo",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    config.connections.header_read_timeout = Duration::from_secs(1);
    let emulator = Emulator::start(config).expect("start emulator");
    let agent = agent();
    // Warm: the first invoke starts the process.
    assert_eq!(
        post(&agent, &emulator.invoke_url("echo"), &[], b"{}").status,
        200
    );

    let mut held = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(emulator.addr()).expect("connect");
        stream
            .write_all(
                b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            )
            .expect("send a partial header");
        held.push(stream);
    }
    let started = Instant::now();
    let answer = post(&agent, &emulator.invoke_url("echo"), &[], br#"{"n":1}"#);
    let took = started.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, r#"{"n":1}"#);
    assert!(
        took < Duration::from_secs(5),
        "a normal invoke took {took:?} behind 300 half-sent requests"
    );
    // And the half-sent ones do not hold their descriptors and memory for ever.
    for (n, stream) in held.iter_mut().enumerate() {
        assert!(
            closed_within(stream, Duration::from_secs(5)),
            "half-sent connection {n} still open"
        );
    }
}

#[test]
fn a_connection_that_never_finishes_its_headers_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "echo",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    config.connections.header_read_timeout = Duration::from_millis(300);
    let emulator = Emulator::start(config).expect("start emulator");
    let mut stream = TcpStream::connect(emulator.addr()).expect("connect");
    stream
        .write_all(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("send a partial header");
    let started = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3)),
        "the half-sent connection is still open after {:?}",
        started.elapsed()
    );
}

#[test]
fn at_the_cap_a_new_connection_closes_the_one_idle_longest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "echo",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    config.connections.max_connections = 3;
    // Only the cap closes connections here, not the header timeout.
    config.connections.header_read_timeout = Duration::from_secs(600);
    let emulator = Emulator::start(config).expect("start emulator");
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(emulator.addr()).expect("connect"))
        .collect();
    // A fourth is served, and the first (idle longest) is closed to make room for it.
    let mut fourth = TcpStream::connect(emulator.addr()).expect("connect");
    assert_eq!(invoke_on(&mut fourth, br#"{"n":4}"#), r#"{"n":4}"#);
    assert!(
        closed_within(&mut held[0], common::SAFETY),
        "the connection idle longest is still open"
    );
    // The others are still open and served.
    assert_eq!(invoke_on(&mut held[2], br#"{"n":3}"#), r#"{"n":3}"#);
    assert_eq!(invoke_on(&mut held[1], br#"{"n":2}"#), r#"{"n":2}"#);
}

#[test]
fn a_connection_being_answered_is_never_closed_to_make_room() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Answers once ./go exists, saying it has started with ./started.
    let waits = r#"while true; do next; touch ./started; while [ ! -f ./go ]; do sleep 0.05; done; respond "$EVENT"; done"#;
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "waits",
        script(dir.path(), "bootstrap", waits),
    )]);
    config.functions[0].timeout = Duration::from_secs(60);
    config.connections.max_connections = 2;
    // Only the cap closes connections here, not the header timeout.
    config.connections.header_read_timeout = Duration::from_secs(600);
    let emulator = Emulator::start(config).expect("start emulator");
    let mut busy = TcpStream::connect(emulator.addr()).expect("connect");
    send_invoke(&mut busy, br#"{"busy":1}"#);
    common::wait_until("the function to start", || {
        dir.path().join("started").exists()
    });
    // Newcomers take the other place in turn, each closing the idle one before it.
    let mut idle = TcpStream::connect(emulator.addr()).expect("connect");
    let mut newer = TcpStream::connect(emulator.addr()).expect("connect");
    assert!(
        closed_within(&mut idle, common::SAFETY),
        "the idle connection is still open"
    );
    let mut newest = TcpStream::connect(emulator.addr()).expect("connect");
    assert!(
        closed_within(&mut newer, common::SAFETY),
        "the newer idle connection is still open"
    );
    // The busy one was kept and gets its answer.
    std::fs::write(dir.path().join("go"), "").expect("write go");
    assert_eq!(read_answer(&mut busy), r#"{"busy":1}"#);
    assert_eq!(invoke_on(&mut newest, br#"{"n":1}"#), r#"{"n":1}"#);
}

#[test]
fn when_every_connection_is_being_answered_a_newcomer_is_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let waits = r#"while true; do next; touch ./started; while [ ! -f ./go ]; do sleep 0.05; done; respond "$EVENT"; done"#;
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "waits",
        script(dir.path(), "bootstrap", waits),
    )]);
    config.functions[0].timeout = Duration::from_secs(60);
    config.connections.max_connections = 1;
    // Only the cap closes connections here, not the header timeout.
    config.connections.header_read_timeout = Duration::from_secs(600);
    let emulator = Emulator::start(config).expect("start emulator");
    let mut busy = TcpStream::connect(emulator.addr()).expect("connect");
    send_invoke(&mut busy, br#"{"busy":1}"#);
    common::wait_until("the function to start", || {
        dir.path().join("started").exists()
    });
    let mut extra = TcpStream::connect(emulator.addr()).expect("connect");
    assert!(
        closed_within(&mut extra, common::SAFETY),
        "a second connection is kept open past a cap of 1 held by an answer in progress"
    );
    std::fs::write(dir.path().join("go"), "").expect("write go");
    assert_eq!(read_answer(&mut busy), r#"{"busy":1}"#);
}

/// The attack of #19: 1,000 connections held idle (the default cap) and clients reconnecting
/// as fast as they are closed, and more, run in background threads while a separate caller
/// invokes. Before, not one of its invokes was served; every one must be.
#[test]
fn a_flood_of_idle_and_reconnecting_connections_does_not_stop_normal_invokes() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    raise_open_files_limit();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = EmulatorConfig::new(vec![FunctionConfig::new(
        "echo",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    let max = config.connections.max_connections;
    assert_eq!(max, 1000, "the default cap the attack was measured against");
    let emulator = Emulator::start(config).expect("start emulator");
    let addr = emulator.addr();
    let agent = agent();
    assert_eq!(
        post(&agent, &emulator.invoke_url("echo"), &[], b"{}").status,
        200
    );

    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicUsize::new(0));
    // 1,000 connections opened and held, never sending a byte.
    let held: Vec<TcpStream> = (0..max)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    opened.fetch_add(max, Ordering::Relaxed);
    let mut flood = Vec::new();
    // Clients reconnecting as soon as they are closed.
    for _ in 0..8 {
        let (stop, opened) = (Arc::clone(&stop), Arc::clone(&opened));
        flood.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut stream) = TcpStream::connect(addr) else {
                    continue;
                };
                opened.fetch_add(1, Ordering::Relaxed);
                closed_within(&mut stream, Duration::from_millis(200));
            }
        }));
    }
    // And one opening connections as fast as it can, keeping its newest 1,000.
    {
        let (stop, opened) = (Arc::clone(&stop), Arc::clone(&opened));
        flood.push(std::thread::spawn(move || {
            let mut kept = std::collections::VecDeque::new();
            while !stop.load(Ordering::Relaxed) {
                if let Ok(stream) = TcpStream::connect(addr) {
                    opened.fetch_add(1, Ordering::Relaxed);
                    kept.push_back(stream);
                }
                if kept.len() > max {
                    kept.pop_front();
                }
            }
        }));
    }

    let mut failures = Vec::new();
    let invokes = 30;
    for n in 0..invokes {
        // Each invoke waits for the flood to open a quarter of a cap's worth of connections
        // more: it is under way, every place is taken.
        let before = opened.load(Ordering::Relaxed);
        common::wait_until("the flood to open more connections", || {
            opened.load(Ordering::Relaxed) > before + max / 4
        });
        let body = format!(r#"{{"n":{n}}}"#);
        // A new connection each time, as a caller that runs `aws lambda invoke` makes.
        let answer = common::agent()
            .post(&emulator.invoke_url("echo"))
            .send(body.as_bytes())
            .map_err(|err| err.to_string())
            .and_then(|mut response| {
                let status = response.status().as_u16();
                let text = response
                    .body_mut()
                    .read_to_string()
                    .map_err(|err| err.to_string())?;
                Ok((status, text))
            });
        match answer {
            Ok((200, text)) if text == body => {}
            other => failures.push(format!("invoke {n}: {other:?}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for thread in flood {
        thread.join().expect("flood thread");
    }
    drop(held);
    eprintln!(
        "{} of {invokes} invokes served while the flood opened {} connections",
        invokes - failures.len(),
        opened.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "{} of {invokes} invokes failed under the flood: {failures:#?}",
        failures.len()
    );
}

/// The default 1,024 open files would stop the flood (both ends live in this process) before
/// the emulator's cap does: use the hard limit.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Sends an invoke of `payload` on `stream`, keeping the connection open.
fn send_invoke(stream: &mut TcpStream, payload: &[u8]) {
    let head = format!(
        "POST /2015-03-31/functions/f/invocations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        payload.len()
    );
    stream.write_all(head.as_bytes()).expect("send a head");
    stream.write_all(payload).expect("send a payload");
}

/// Reads one 200 answer off `stream` and returns its body.
fn read_answer(stream: &mut TcpStream) -> String {
    use std::io::Read as _;
    stream
        .set_read_timeout(Some(common::SAFETY))
        .expect("read timeout");
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("a content-length");
            if raw.len() >= end + 4 + length {
                return String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).into_owned();
            }
        }
        let n = stream.read(&mut buffer).expect("read an answer");
        assert!(
            n > 0,
            "closed before the answer: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buffer[..n]);
    }
}

/// Invokes with `payload` on `stream` and returns the answer's body.
fn invoke_on(stream: &mut TcpStream, payload: &[u8]) -> String {
    send_invoke(stream, payload);
    read_answer(stream)
}

/// Whether the peer closes `stream` (end of file or reset) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    use std::io::Read as _;
    stream.set_read_timeout(Some(limit)).expect("read timeout");
    let mut buffer = [0u8; 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            // Whatever the server says before closing (e.g. a 408) is fine.
            Ok(_) => continue,
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}
