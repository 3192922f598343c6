//! lamina-emulator's Invoke API called by AWS's own clients, as users call it: the AWS CLI
//! with the README's command (`--payload fileb://`), and boto3's `invoke`. Each answer must
//! be what the client makes of AWS's: status, executed version, function error, log tail,
//! and AWS's typed exceptions for a missing function and an oversized payload. The clients
//! come from the moto venv `cargo xtask ci` installs (`LAMINA_SKIP_MOTO=1` skips, loudly).

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine as _;
use lamina_e2e::{aws_cli, boto3_lines};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use serde_json::Value;

const FUNCTION: &str = env!("CARGO_BIN_EXE_e2e-function");

fn emulator() -> Emulator {
    let mut config = FunctionConfig::new("hello", Path::new(FUNCTION));
    config.timeout = Duration::from_secs(20);
    let mut emulator = EmulatorConfig::new(vec![config]);
    // As `cargo lamina serve` runs it: an unknown name is AWS's 404, not the lone function.
    emulator.strict_names = true;
    Emulator::start(emulator).unwrap()
}

/// Runs `aws` with `args` against `endpoint`, with throwaway credentials and no user config.
fn aws(aws: &Path, endpoint: &str, scratch: &Path, args: &[&str]) -> Output {
    Command::new(aws)
        .args(["--endpoint-url", endpoint, "--region", "us-east-1"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_CONFIG_FILE", scratch.join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            scratch.join("no-credentials"),
        )
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .current_dir(scratch)
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "aws failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_aws_cli_invokes_as_the_readme_shows() {
    let Some(aws_cli) = aws_cli() else { return };
    let emulator = emulator();
    let endpoint = emulator.endpoint_url();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let invoke = |event: &str, extra: &[&str]| {
        std::fs::write(dir.join("event.json"), event).unwrap();
        let mut args = vec![
            "lambda",
            "invoke",
            "--function-name",
            "hello",
            "--payload",
            "fileb://event.json",
        ];
        args.extend_from_slice(extra);
        args.push("out.json");
        let answer = json_of(&aws(&aws_cli, &endpoint, dir, &args));
        let out = std::fs::read(dir.join("out.json")).unwrap_or_default();
        (answer, out)
    };

    let (answer, out) = invoke(r#"{"name":"Ada"}"#, &["--log-type", "Tail"]);
    assert_eq!(answer["StatusCode"], 200, "{answer}");
    assert_eq!(answer["ExecutedVersion"], "$LATEST", "{answer}");
    assert!(answer.get("FunctionError").is_none(), "{answer}");
    let result: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(result["message"], "Hello, Ada!");
    let log = base64::engine::general_purpose::STANDARD
        .decode(answer["LogResult"].as_str().unwrap())
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    assert!(log.contains("START RequestId: "), "{log}");
    assert!(log.contains("REPORT RequestId: "), "{log}");

    let (answer, out) = invoke(r#"{"do":"error"}"#, &[]);
    assert_eq!(answer["StatusCode"], 200, "{answer}");
    assert_eq!(answer["FunctionError"], "Unhandled", "{answer}");
    let error: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(error["errorType"], "Order.NotFound", "{error}");
    assert_eq!(error["errorMessage"], "no order 42", "{error}");

    let (answer, _) = invoke("{}", &["--invocation-type", "Event"]);
    assert_eq!(answer["StatusCode"], 202, "{answer}");
    let (answer, _) = invoke("{}", &["--invocation-type", "DryRun"]);
    assert_eq!(answer["StatusCode"], 204, "{answer}");

    let missing = aws(
        &aws_cli,
        &endpoint,
        dir,
        &["lambda", "invoke", "--function-name", "nope", "out.json"],
    );
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("An error occurred (ResourceNotFoundException) when calling the Invoke operation: Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope"),
        "{stderr}"
    );
}

/// boto3's `invoke`, each case printed as one JSON line: what the client returned, or the
/// exception it raised (its class and AWS error code).
const BOTO3_INVOKE: &str = r#"
import base64, json, sys, boto3
from botocore.config import Config
client = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
    aws_access_key_id="x", aws_secret_access_key="x",
    config=Config(retries={"max_attempts": 1}, read_timeout=60))
cases = [
    dict(FunctionName="hello", Payload=b'{"name":"Bo"}', LogType="Tail"),
    dict(FunctionName="hello", Payload=b'{"do":"panic"}'),
    dict(FunctionName="hello", Payload=b'{"name":"after"}'),
    dict(FunctionName="nope", Payload=b"{}"),
    dict(FunctionName="hello", Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"'),
    dict(FunctionName="hello", Payload=b"not json"),
]
for case in cases:
    try:
        answer = client.invoke(**case)
        payload = answer["Payload"].read().decode()
        log = base64.b64decode(answer["LogResult"]).decode() if "LogResult" in answer else None
        print(json.dumps({"status": answer["StatusCode"], "version": answer.get("ExecutedVersion"),
            "error": answer.get("FunctionError"), "payload": json.loads(payload), "log": log}))
    except client.exceptions.ClientError as e:
        print(json.dumps({"raised": type(e).__name__, "code": e.response["Error"]["Code"],
            "message": e.response["Error"]["Message"],
            "http": e.response["ResponseMetadata"]["HTTPStatusCode"]}))
"#;

#[test]
fn boto3_invokes_and_gets_aws_typed_answers_and_exceptions() {
    let emulator = emulator();
    let Some(answers) = boto3_lines(BOTO3_INVOKE, &[&emulator.endpoint_url()]) else {
        return;
    };
    let [hello, panicked, after, missing, too_large, not_json] = &answers[..] else {
        panic!("six answers expected: {answers:?}");
    };

    assert_eq!(hello["status"], 200, "{hello}");
    assert_eq!(hello["version"], "$LATEST", "{hello}");
    assert_eq!(hello["error"], Value::Null, "{hello}");
    assert_eq!(hello["payload"]["message"], "Hello, Bo!", "{hello}");
    assert!(
        hello["log"].as_str().unwrap().contains("END RequestId: "),
        "{hello}"
    );

    assert_eq!(panicked["status"], 200, "{panicked}");
    assert_eq!(panicked["error"], "Unhandled", "{panicked}");
    assert_eq!(
        panicked["payload"]["errorType"], "Runtime.HandlerPanic",
        "{panicked}"
    );
    assert_eq!(after["payload"]["message"], "Hello, after!", "{after}");

    assert_eq!(missing["raised"], "ResourceNotFoundException", "{missing}");
    assert_eq!(missing["http"], 404, "{missing}");

    assert_eq!(
        too_large["code"], "RequestEntityTooLargeException",
        "{too_large}"
    );
    assert_eq!(too_large["http"], 413, "{too_large}");
    assert_eq!(
        too_large["message"],
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        "{too_large}"
    );

    assert_eq!(
        not_json["raised"], "InvalidRequestContentException",
        "{not_json}"
    );
    assert_eq!(not_json["http"], 400, "{not_json}");
}
