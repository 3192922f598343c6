//! Web functions: lamina-http's hello against lambda_http's hello (its README example), the
//! same Function URL event into both, both under lamina's emulator.

use std::path::PathBuf;

use anyhow::Context as _;
use xshell::cmd;

use super::measure::{self, Function};
use super::pair;
use super::report::{Row, Section, Stats};
use crate::paths::{root_shell, target_dir};

/// A Function URL request (payload format 2.0) for `GET /hello?name=Ada`, as Lambda sends it.
const FUNCTION_URL_EVENT: &[u8] = br#"{"version":"2.0","routeKey":"$default","rawPath":"/hello","rawQueryString":"name=Ada","headers":{"accept":"text/html","host":"abcdefghij.lambda-url.us-east-1.on.aws","user-agent":"curl/8.5.0","x-forwarded-for":"127.0.0.1","x-forwarded-port":"443","x-forwarded-proto":"https"},"queryStringParameters":{"name":"Ada"},"requestContext":{"accountId":"anonymous","apiId":"abcdefghij","domainName":"abcdefghij.lambda-url.us-east-1.on.aws","domainPrefix":"abcdefghij","http":{"method":"GET","path":"/hello","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"curl/8.5.0"},"requestId":"6c3d6a0e-5b4a-4a39-9c1e-8f6f2f3b1c11","routeKey":"$default","stage":"$default","time":"03/Dec/2026:10:00:00 +0000","timeEpoch":1796292000000},"isBase64Encoded":false}"#;

/// Both hellos, built as users build them (release).
fn build() -> anyhow::Result<(PathBuf, PathBuf)> {
    let sh = root_shell()?;
    let target = target_dir();
    cmd!(
        sh,
        "cargo build --quiet --release --package lamina-http --example hello"
    )
    .run()
    .context("building lamina-http's hello example")?;
    let peer_target = target.join("bench/peer-http");
    cmd!(sh, "cargo build --quiet --release --manifest-path bench/peer-http/Cargo.toml --target-dir {peer_target}")
        .run()
        .context("building bench/peer-http (lambda_http)")?;
    Ok((
        target.join("release/examples/hello"),
        peer_target.join("release/bootstrap"),
    ))
}

pub fn section(runs: usize, invocations: usize) -> anyhow::Result<Section> {
    eprintln!("==> Web functions: lamina-http vs lambda_http");
    let (lamina, peer) = build()?;
    let rows = pair::function_rows(runs, invocations, &lamina, &peer, FUNCTION_URL_EVENT)?;
    Ok(Section {
        title: "Web functions (Rust)".into(),
        lamina: "lamina-http (`crates/http/examples/hello.rs`, 15 lines)".into(),
        peer: "crates.io `lambda_http` 1.x, its README's hello (`bench/peer-http`, 23 lines)".into(),
        rows,
        notes: vec![
            "The same Function URL event (`GET /hello?name=Ada`, payload 2.0) into both; both answer a text/html greeting; release profile, host build, under lamina's emulator.".into(),
        ],
    })
}

/// A Function URL request `POST /echo` with a small text body, for the `http:` convention.
const ECHO_EVENT: &[u8] = br#"{"version":"2.0","routeKey":"$default","rawPath":"/echo","rawQueryString":"","headers":{"content-type":"text/plain","host":"abcdefghij.lambda-url.us-east-1.on.aws"},"requestContext":{"http":{"method":"POST","path":"/echo","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"bench"},"requestId":"r","stage":"$default"},"body":"Hello, Ada!","isBase64Encoded":false}"#;

/// The latency the `http:` convention adds: `samples/sample-web-python` through lamina's
/// bootstrap under the emulator, against the same app called directly with the same client.
pub fn convention_section(runs: usize, invocations: usize) -> anyhow::Result<Section> {
    eprintln!("==> Web apps through http: vs the same app called directly");
    let bootstrap = crate::paths::build_host("lamina-bootstrap", "lamina-bootstrap", "release")?;
    let app_dir = crate::paths::workspace_root().join("samples/sample-web-python");
    let mut latency = (Stats::default(), Stats::default());
    let mut rate = (Stats::default(), Stats::default());
    for run in 1..=runs {
        let port = free_port()?;
        let function = Function {
            executable: bootstrap.clone(),
            handler: Some(format!("http:{port}:python3 app.py")),
            task_root: Some(app_dir.clone()),
            env: Vec::new(),
            max_concurrency: 1,
        };
        let through = measure::warm_run(&function, ECHO_EVENT, 1, invocations)?;
        let direct = direct_run(&app_dir, invocations)?;
        eprintln!(
            "    run {run}: through http: {:.0} µs, direct {:.0} µs",
            through.median_latency_us, direct.1
        );
        latency.0.push(through.median_latency_us);
        latency.1.push(direct.1);
        rate.0.push(through.per_second);
        rate.1.push(direct.0);
    }
    Ok(Section {
        title: "Web apps in any language (`http:`)".into(),
        lamina: "`samples/sample-web-python` (Python's `http.server`) through lamina's bootstrap, `_HANDLER=http:PORT:python3 app.py`, under lamina's emulator".into(),
        peer: "the same app, the same `POST /echo`, called directly with the same client".into(),
        rows: vec![
            Row::lower("latency of one request, median", "µs", latency),
            Row::higher("requests per second (concurrency 1)", "req/s", rate),
        ],
        notes: vec![
            "The ratio is what the whole Lambda path adds (Invoke API, Runtime API, event to request and back); the app's own time is in both.".into(),
        ],
    })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Requests per second and median latency (µs) of `POST /echo` straight to the app.
fn direct_run(app_dir: &std::path::Path, invocations: usize) -> anyhow::Result<(f64, f64)> {
    let port = free_port()?;
    let mut app = std::process::Command::new("python3")
        .arg("app.py")
        .current_dir(app_dir)
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting python3 app.py")?;
    let url = format!("http://127.0.0.1:{port}/echo");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(
            started.elapsed().as_secs() < 10,
            "the app did not listen in 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let measured = measure::load(&url, b"Hello, Ada!", 1, 20)
        .and_then(|_| measure::load(&url, b"Hello, Ada!", 1, invocations));
    let _ = app.kill();
    let _ = app.wait();
    let (elapsed, mut latencies) = measured?;
    latencies.sort_unstable();
    let median = latencies[latencies.len() / 2].as_secs_f64() * 1e6;
    Ok((invocations as f64 / elapsed.as_secs_f64(), median))
}
