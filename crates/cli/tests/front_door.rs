//! `cargo lamina serve` answering plain HTTP: `curl` through the front door to
//! `samples/sample-http` (a lamina-http function), as a Function URL, a REST API and an ALB
//! would call it, and to a function that fails (502).

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::process::Command;

use common::{serve, target};

/// `curl -s -i` with `args`: the status, the headers (lowercased names) and the body.
fn curl(args: &[&str]) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let output = Command::new("curl")
        .args(["-s", "-i", "--max-time", "60"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "curl {args:?} failed");
    let raw = output.stdout;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut head_lines = head.lines();
    let status = head_lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = head_lines
        .filter_map(|line| line.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn curl_reaches_a_web_function_through_its_function_url() {
    let served = serve(&["sample-http", "--http-port", "0"]);
    the_web_sample_answers(
        &format!("{}/lambda-url/sample-http", served.base),
        "sample-http",
    );

    // The function at / on a port of its own, as its Function URL.
    let own = served
        .own
        .as_deref()
        .expect("serve printed the function's own URL");
    let (status, _, body) = curl(&[&format!("{own}/hello?name=Own")]);
    assert_eq!((status, body.as_slice()), (200, &b"Hello, Own!"[..]));
}

/// Web apps in other languages through the runtime layer's `http:` convention: Perl on the
/// perl layer in the AL2023 view, Python (no layer for it exists) on the host's python3.
#[test]
fn curl_reaches_web_apps_in_other_languages_through_http() {
    for (sample, view) in [
        ("sample-web-perl", None),
        ("sample-web-python", Some("--host-view")),
    ] {
        let mut args = vec![sample];
        args.extend(view);
        let served = serve(&args);
        the_web_sample_answers(&format!("{}/lambda-url/{sample}", served.base), sample);
    }
}

/// GET with a query string, a binary body byte for byte, cookies set and read, the app's own
/// 404 and a 3 MB answer, from the web sample `sample` served at `url`.
fn the_web_sample_answers(url: &str, sample: &str) {
    let (status, _, body) = curl(&[&format!("{url}/hello?name=Ada%20L")]);
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"Hello, Ada L!"[..]),
        "{sample}"
    );

    // Every byte value, there and back, byte for byte.
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let file = target().join("front-door-body.bin");
    std::fs::write(&file, &bytes).unwrap();
    let (status, _, body) = curl(&[
        "-H",
        "content-type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{url}/echo"),
    ]);
    assert_eq!(status, 200, "{sample}");
    assert!(
        body == bytes,
        "{sample}: the binary body did not round-trip"
    );

    let (status, headers, body) = curl(&["-H", "Cookie: a=1; b=2", &format!("{url}/cookie")]);
    assert_eq!(status, 200, "{sample}");
    assert_eq!(body, b"cookie: a=1; b=2", "{sample}");
    assert_eq!(
        header(&headers, "set-cookie"),
        ["visited=yes; Path=/", "theme=dark"],
        "{sample}"
    );

    let (status, _, body) = curl(&[&format!("{url}/no/such/page")]);
    assert_eq!(
        (status, String::from_utf8_lossy(&body).into_owned()),
        (404, format!("{sample} has no such page"))
    );

    let (status, _, body) = curl(&[&format!("{url}/big")]);
    assert_eq!(status, 200, "{sample}");
    assert_eq!(body.len(), 3 * 1024 * 1024, "{sample}");
}

/// A shell script's output (`samples/sample-stream-shell`, `stream:` and RESPONSE_STREAM)
/// reaches curl line by line as it is printed, in the AL2023 view.
#[test]
fn curl_gets_a_streaming_shell_function_as_it_prints() {
    let served = serve(&["sample-stream-shell"]);
    let output = Command::new("curl")
        .args([
            "-s",
            "-N",
            "--max-time",
            "60",
            "-w",
            "\n%{http_code} %{content_type} %{time_starttransfer} %{time_total}",
        ])
        .arg(format!("{}/lambda-url/sample-stream-shell/", served.base))
        .output()
        .unwrap();
    assert!(output.status.success(), "curl failed");
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, timing) = text.rsplit_once('\n').unwrap();
    // A Function URL's event is the HTTP request, which says no number of steps: 3.
    assert_eq!(body, "step 1 of 3\nstep 2 of 3\nstep 3 of 3\ndone\n");
    let timing: Vec<&str> = timing.split(' ').collect();
    assert_eq!(timing[0], "200", "{timing:?}");
    assert_eq!(
        timing[1..timing.len() - 2].join(" "),
        "text/plain; charset=utf-8"
    );
    let first: f64 = timing[timing.len() - 2].parse().unwrap();
    let total: f64 = timing[timing.len() - 1].parse().unwrap();
    // Two 0.3 s pauses between the first line and the last.
    assert!(
        total - first >= 0.5,
        "first byte at {first} s, end at {total} s: the stream was buffered"
    );
}

#[test]
fn rest_and_alb_events_reach_the_same_function() {
    for kind in ["rest", "alb"] {
        let served = serve(&["sample-http", "--http-event", kind]);
        let (status, _, body) = curl(&[&format!(
            "{}/lambda-url/sample-http/hello?name={kind}",
            served.base
        )]);
        assert_eq!(
            (status, String::from_utf8_lossy(&body).into_owned()),
            (200, format!("Hello, {kind}!")),
            "{kind}"
        );
    }
}

#[test]
fn a_function_error_is_a_502() {
    // sample-hello takes {"name": ...}: an HTTP event is not that, so it fails.
    let served = serve(&["sample-hello"]);
    let (status, _, body) = curl(&[&format!("{}/lambda-url/sample-hello/", served.base)]);
    assert_eq!(status, 502);
    assert_eq!(body, br#"{"message":"Internal Server Error"}"#);
}
