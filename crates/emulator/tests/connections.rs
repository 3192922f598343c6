//! The Invoke API's listener stays usable when clients misbehave: connections that never
//! finish their headers are cut off, and past a cap new connections are closed at once.

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
            .write_all(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n")
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
        .write_all(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\n")
        .expect("send a partial header");
    let started = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3)),
        "the half-sent connection is still open after {:?}",
        started.elapsed()
    );
}

#[test]
fn connections_past_the_cap_are_closed_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = EmulatorConfig::new(vec![FunctionConfig::new(
        "echo",
        script(dir.path(), "bootstrap", ECHO),
    )]);
    config.connections.max_connections = 8;
    let emulator = Emulator::start(config).expect("start emulator");
    let held: Vec<TcpStream> = (0..8)
        .map(|_| TcpStream::connect(emulator.addr()).expect("connect"))
        .collect();
    let mut extra = TcpStream::connect(emulator.addr()).expect("connect");
    assert!(
        closed_within(&mut extra, Duration::from_secs(2)),
        "a ninth connection is kept open past a cap of 8"
    );
    // The held connections were accepted and are served.
    let mut first = held.into_iter().next().expect("one held");
    first
        .write_all(b"POST /2015-03-31/functions/echo/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        .expect("send a request");
    let mut answer = String::new();
    first
        .set_read_timeout(Some(common::SAFETY))
        .expect("read timeout");
    std::io::Read::read_to_string(&mut first, &mut answer).expect("read the answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
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
