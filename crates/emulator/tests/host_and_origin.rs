//! A web page the user visits cannot reach local functions: the Invoke API and the front door
//! answer only loopback `Host`s (or allowed ones), so DNS rebinding gets a 403, and the
//! Invoke API answers browser `Origin`s only from the emulator's own front door (or allowed
//! ones). AWS's CLIs and SDKs (`Host: 127.0.0.1:PORT` or `localhost:PORT`, no `Origin`) are
//! answered as before.

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};

use common::{ECHO, script};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

fn start(configure: impl FnOnce(&mut EmulatorConfig)) -> (Emulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let function = FunctionConfig::new("echo", script(dir.path(), "bootstrap", ECHO));
    let mut config = EmulatorConfig::new(vec![function]);
    configure(&mut config);
    (Emulator::start(config).expect("start"), dir)
}

/// POSTs `{}` to `path` on `addr` with these `Host` and `Origin` headers, as a browser would
/// send them: the status and the body.
fn post(addr: SocketAddr, path: &str, host: &str, origin: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(common::SAFETY))
        .expect("read timeout");
    let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    stream.write_all(request.as_bytes()).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, body.to_string())
}

const INVOKE: &str = "/2015-03-31/functions/echo/invocations";

#[test]
fn a_foreign_host_is_refused_as_dns_rebinding_would_send_it() {
    let (emulator, _dir) = start(|_| {});
    let addr = emulator.addr();
    let port = addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("[::1]:{port}"),
        "127.0.0.1".to_string(),
        "localhost".to_string(),
    ] {
        let (status, body) = post(addr, INVOKE, &host, None);
        assert_eq!((status, body.as_str()), (200, "{}"), "Host {host}");
    }
    let (status, body) = post(addr, INVOKE, "attacker.example:8000", None);
    assert_eq!(status, 403, "{body}");
    insta::assert_snapshot!("foreign_host", body);
    // The front door on the same port too.
    let (status, _) = post(addr, "/lambda-url/echo/", "attacker.example", None);
    assert_eq!(status, 403);
    // Every Host counts: one naming another host after an allowed one is refused too (it
    // was answered).
    for host in [
        "localhost.attacker.example",
        "127.0.0.1.nip.io:80",
        "localhost\r\nHost: attacker.example",
    ] {
        assert_eq!(post(addr, INVOKE, host, None).0, 403, "Host {host}");
    }
}

#[test]
fn a_web_page_of_another_origin_cannot_invoke() {
    let (emulator, _dir) = start(|config| config.http_port = Some(0));
    let addr = emulator.addr();
    let host = format!("127.0.0.1:{}", addr.port());
    let (status, body) = post(addr, INVOKE, &host, Some("https://attacker.example"));
    assert_eq!(status, 403, "{body}");
    insta::assert_snapshot!("foreign_origin", body);
    for origin in ["null", "http://localhost:3000"] {
        assert_eq!(post(addr, INVOKE, &host, Some(origin)).0, 403, "{origin}");
    }
    // The InvokeWithResponseStream path is the Invoke API too.
    let stream = "/2021-11-15/functions/echo/response-streaming-invocations";
    assert_eq!(
        post(addr, stream, &host, Some("https://attacker.example")).0,
        403
    );
    // Pages the front door serves (at /lambda-url/ or on its own port) are the emulator's own.
    let own = emulator.http_addr().expect("http_addr");
    for origin in [
        format!("http://127.0.0.1:{}", addr.port()),
        format!("http://localhost:{}", own.port()),
    ] {
        let (status, body) = post(addr, INVOKE, &host, Some(&origin));
        assert_eq!((status, body.as_str()), (200, "{}"), "{origin}");
    }
    // The front door is a Function URL: any page may call it, as on AWS.
    let (status, _) = post(
        addr,
        "/lambda-url/echo/",
        &host,
        Some("https://attacker.example"),
    );
    assert_eq!(status, 200);
    let (status, _) = post(
        own,
        "/",
        &format!("localhost:{}", own.port()),
        Some("https://attacker.example"),
    );
    assert_eq!(status, 200);
    // Its own port checks the host too.
    assert_eq!(post(own, "/", "attacker.example", None).0, 403);
}

#[test]
fn allowed_hosts_and_origins_are_answered() {
    let (emulator, _dir) = start(|config| {
        config.allowed_hosts = vec!["dev.internal".to_string()];
        config.allowed_origins = vec!["http://localhost:3000/".to_string()];
    });
    let addr = emulator.addr();
    assert_eq!(post(addr, INVOKE, "dev.internal:9000", None).0, 200);
    assert_eq!(post(addr, INVOKE, "other.internal:9000", None).0, 403);
    let host = format!("localhost:{}", addr.port());
    assert_eq!(
        post(addr, INVOKE, &host, Some("http://localhost:3000")).0,
        200
    );
    assert_eq!(
        post(addr, INVOKE, &host, Some("http://localhost:3001")).0,
        403
    );

    let (emulator, _dir) = start(|config| {
        config.allowed_hosts = vec!["*".to_string()];
        config.allowed_origins = vec!["*".to_string()];
    });
    assert_eq!(
        post(
            emulator.addr(),
            INVOKE,
            "anything.example",
            Some("https://anywhere.example")
        )
        .0,
        200
    );
}
