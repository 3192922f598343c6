//! Helpers shared by the emulator's integration tests: HTTP calls, shell-script functions,
//! and redaction of the variable parts of snapshots.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Safety bound for any one wait in a test.
pub const SAFETY: Duration = Duration::from_secs(30);

/// Shell functions a test function uses to talk to the Runtime API with curl.
pub const PRELUDE: &str = r#"#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
HDRS="./.headers.$$"
CR=$(printf '\r')
# Parses the request id with shell builtins only: fewer processes per invocation.
next() {
  EVENT=$(curl -sS -D "$HDRS" "$API/invocation/next")
  REQUEST_ID=
  while IFS=': ' read -r name value; do
    case "$name" in
      [Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d) REQUEST_ID=${value%"$CR"} ;;
    esac
  done < "$HDRS"
}
respond() {
  curl -sS -o /dev/null -X POST --data-binary "$1" "$API/invocation/$REQUEST_ID/response"
}
fail() {
  curl -sS -o /dev/null -X POST -H "Lambda-Runtime-Function-Error-Type: $1" \
    --data-binary "{\"errorMessage\":\"$2\",\"errorType\":\"$1\"}" "$API/invocation/$REQUEST_ID/error"
}
init_fail() {
  curl -sS -o /dev/null -X POST -H "Lambda-Runtime-Function-Error-Type: $1" \
    --data-binary "{\"errorMessage\":\"$2\",\"errorType\":\"$1\"}" "$API/init/error"
}
"#;

/// Writes an executable `#!/bin/sh` script: the prelude, then `body`.
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{PRELUDE}\n{body}\n")).expect("write script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// A function that answers each event with itself.
pub const ECHO: &str = r#"while true; do next; respond "$EVENT"; done"#;

/// An HTTP answer, read whole.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// A header's value (names compared ignoring case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An agent that returns 4xx/5xx answers instead of failing, bounded by [`SAFETY`].
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(SAFETY))
        .build()
        .into()
}

fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut response = response.expect("HTTP exchange");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .expect("read body");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// POSTs `body` with `headers`.
pub fn post(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut request = agent.post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    answer(request.send(body))
}

/// GETs `url`.
pub fn get(agent: &ureq::Agent, url: &str) -> Answer {
    answer(agent.get(url).call())
}

/// Polls `condition` until it holds, failing the test after [`SAFETY`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < SAFETY, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces what changes from run to run (request ids, durations, memory, times, hex ids)
/// with placeholders so the text can be snapshotted.
pub fn redact(text: &str) -> String {
    let mut out = redact_uuids(text);
    for key in [
        "Billed Duration: ",
        "Init Duration: ",
        "Duration: ",
        "Max Memory Used: ",
    ] {
        out = redact_number_after(&out, key);
    }
    redact_timestamps(&out)
}

fn redact_uuids(text: &str) -> String {
    let bytes = text.as_bytes();
    let shape = |window: &[u8]| {
        window.len() == 36
            && window.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            })
    };
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() && shape(&bytes[i..i + 36]) {
            out.push_str("[request-id]");
            i += 36;
        } else {
            let ch = text[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn redact_number_after(text: &str, key: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(key) {
        out.push_str(&rest[..at + key.len()]);
        rest = &rest[at + key.len()..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if end > 0 {
            out.push_str("[n]");
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn redact_timestamps(text: &str) -> String {
    // 2026-11-22T10:00:00.123Z
    let pattern = "dddd-dd-ddTdd:dd:dd.dddZ";
    let bytes = text.as_bytes();
    let matches = |window: &[u8]| {
        window.iter().zip(pattern.bytes()).all(|(b, p)| match p {
            b'd' => b.is_ascii_digit(),
            other => *b == other,
        })
    };
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if i + pattern.len() <= bytes.len() && matches(&bytes[i..i + pattern.len()]) {
            out.push_str("[time]");
            i += pattern.len();
        } else {
            let ch = text[i..].chars().next().expect("char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The lines of `log` that the platform writes (START, END, REPORT, INIT_REPORT, errors).
pub fn platform_lines(log: &str) -> String {
    log.lines()
        .filter(|l| {
            [
                "START ",
                "END ",
                "REPORT ",
                "INIT_REPORT ",
                "RequestId: ",
                "Runtime.",
            ]
            .iter()
            .any(|p| l.starts_with(p))
                || l.contains("Task timed out")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Is `text` a lower-case UUID?
pub fn is_uuid(text: &str) -> bool {
    redact_uuids(text) == "[request-id]"
}
