//! Web functions: lamina-http's hello against lambda_http's hello (its README example), the
//! same Function URL event into both, both under lamina's emulator.

use std::path::PathBuf;

use anyhow::Context as _;
use xshell::cmd;

use super::pair;
use super::report::Section;
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
