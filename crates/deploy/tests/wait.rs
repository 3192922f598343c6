//! The bounded wait between updates, against a small Lambda API server on loopback that
//! answers GetFunctionConfiguration with states moto never reports (moto's functions are
//! always Active/Successful at once).
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lamina_deploy::{
    ApplyOptions, Arch, DeployError, FunctionAction, FunctionPlan, FunctionPlanInput, Plan,
    TagChanges, apply,
};

/// Serves PublishVersion with version 1 and GetFunctionConfiguration with `states` in turn
/// (the last one repeated); returns the URL and the request lines it received.
fn server(states: Vec<&'static str>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        let mut next = 0;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut out = stream;
            loop {
                let mut request = String::new();
                if reader.read_line(&mut request).unwrap_or(0) == 0 {
                    break;
                }
                let mut length = 0;
                loop {
                    let mut header = String::new();
                    reader.read_line(&mut header).unwrap();
                    if header.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push(request.trim().to_string());
                let answer = if request.starts_with("POST") && request.contains("/versions") {
                    r#"{"Version":"1"}"#.to_string()
                } else {
                    let state = states[next.min(states.len() - 1)];
                    next += 1;
                    state.to_string()
                };
                write!(
                    out,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                    answer.len()
                )
                .unwrap();
            }
        }
    });
    (url, seen)
}

/// A plan that only publishes a version of `hello`: the smallest path through a wait.
fn publish_only() -> Plan {
    Plan {
        layers: Vec::new(),
        functions: vec![FunctionPlan {
            input: FunctionPlanInput {
                name: "hello".into(),
                zip_path: "unused.zip".into(),
                code_sha256: Some("unused=".into()),
                handler: "h".into(),
                runtime: "provided.al2023".into(),
                architectures: vec![Arch::X86_64],
                memory_mb: 128,
                timeout_s: 3,
                ephemeral_storage_mb: 512,
                environment: Default::default(),
                layers: Vec::new(),
                role: None,
                vpc: None,
                description: String::new(),
                tags: Default::default(),
                per_tenant: false,
            },
            layers: Vec::new(),
            action: FunctionAction::Update {
                arn: "arn:aws:lambda:us-east-1:123456789012:function:hello".into(),
                code: None,
                deployed_code_sha256: "unused=".into(),
                config: Vec::new(),
                tags: TagChanges::default(),
            },
        }],
    }
}

fn options() -> ApplyOptions {
    ApplyOptions {
        publish: true,
        wait_timeout: Duration::from_millis(500),
        poll_interval: Duration::from_millis(20),
        ..ApplyOptions::default()
    }
}

#[tokio::test]
async fn an_update_that_never_settles_ends_in_a_timeout_naming_the_state() {
    let (url, seen) = server(vec![
        r#"{"State":"Active","LastUpdateStatus":"InProgress"}"#,
    ]);
    let client = common::client(&url, Default::default()).await;
    let err = apply(&client, &publish_only(), &options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, DeployError::WaitTimeout { state, status, .. } if state == "Active" && status == "InProgress"),
        "{err}"
    );
    let polls = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.starts_with("GET"))
        .count();
    assert!(polls >= 2, "polled {polls} times");
}

#[tokio::test]
async fn a_failed_update_ends_the_wait_with_its_reason() {
    let (url, _) = server(vec![
        r#"{"State":"Active","LastUpdateStatus":"InProgress"}"#,
        r#"{"State":"Active","LastUpdateStatus":"Failed","LastUpdateStatusReasonCode":"SubnetOutOfIPAddresses","LastUpdateStatusReason":"no free IP address"}"#,
    ]);
    let client = common::client(&url, Default::default()).await;
    let err = apply(&client, &publish_only(), &options())
        .await
        .unwrap_err();
    assert!(matches!(err, DeployError::FunctionFailed { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("SubnetOutOfIPAddresses: no free IP address"),
        "{err}"
    );
}

#[tokio::test]
async fn a_pending_function_is_waited_for_until_active() {
    let (url, _) = server(vec![
        r#"{"State":"Pending"}"#,
        r#"{"State":"Pending","LastUpdateStatus":"InProgress"}"#,
        r#"{"State":"Active","LastUpdateStatus":"Successful"}"#,
    ]);
    let client = common::client(&url, Default::default()).await;
    let report = apply(&client, &publish_only(), &options()).await.unwrap();
    assert_eq!(report.functions[0].steps, ["published version 1"]);
}

#[tokio::test]
async fn a_failed_function_is_updated_not_waited_on_since_the_update_may_fix_it() {
    let (url, seen) = server(vec![
        r#"{"State":"Failed","LastUpdateStatus":"Failed","LastUpdateStatusReasonCode":"EniLimitExceeded"}"#,
        r#"{"State":"Active","LastUpdateStatus":"InProgress"}"#,
        r#"{"State":"Active","LastUpdateStatus":"Successful"}"#,
    ]);
    let client = common::client(&url, Default::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut plan = publish_only();
    let f = &mut plan.functions[0];
    f.input.zip_path = dir.path().join("hello.zip");
    std::fs::write(&f.input.zip_path, b"new code").unwrap();
    if let FunctionAction::Update { code, .. } = &mut f.action {
        *code = Some("CodeSha256 differs".into());
    }
    let options = ApplyOptions {
        publish: false,
        ..options()
    };
    let report = apply(&client, &plan, &options).await.unwrap();
    assert_eq!(report.functions[0].steps, ["code updated"]);
    let requests = seen.lock().unwrap().clone();
    assert!(
        requests[1].starts_with("PUT") && requests[1].contains("/code"),
        "{requests:?}"
    );
}
