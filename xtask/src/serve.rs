//! `cargo xtask serve`: keep the local Lambda emulator up so any Invoke API client (curl,
//! the AWS CLI or an SDK with `--endpoint-url`) can call the function.

use anyhow::Context as _;
use lamina_emulator::{Emulator, EmulatorConfig};

use crate::invoke::{FunctionArgs, function_config};

#[derive(clap::Args)]
pub struct Args {
    /// Sample to build and serve: a workspace package whose binary is `bootstrap`, or a
    /// script sample (`samples/NAME` without Cargo.toml), packaged and run with its layers.
    sample: Option<String>,
    /// Port of the Invoke API on 127.0.0.1 (0: any free port).
    #[arg(long, value_name = "P", default_value_t = 9000)]
    port: u16,
    /// Most instances (processes) of the function at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    concurrency: usize,
    /// Start no process: serve the Runtime API for a runtime you start yourself (e.g. under
    /// a debugger) with the printed AWS_LAMBDA_RUNTIME_API.
    #[arg(long)]
    runtime_api_only: bool,
    /// Port of the Runtime API with --runtime-api-only (0: any free port).
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0,
        requires = "runtime_api_only"
    )]
    runtime_api_port: u16,
    #[command(flatten)]
    function: FunctionArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let (emulator, name) = start(&args)?;
    let url = emulator.invoke_url(&name);
    println!("Invoke API: {url}");
    println!("  curl -s -d '{{}}' {url}");
    println!(
        "  aws lambda invoke --endpoint-url {} --function-name {name} \\\n      --cli-binary-format raw-in-base64-out --payload '{{}}' /dev/stdout",
        emulator.endpoint_url()
    );
    if let Some(runtime_api) = emulator.runtime_api(&name) {
        println!("No process is started: run your runtime with");
        println!("  AWS_LAMBDA_RUNTIME_API={runtime_api}");
        println!("(one instance; /next waits until an invocation arrives)");
    }
    println!("Function logs follow on stderr. Ctrl-C stops.");

    emulator
        .wait_for_shutdown_signal()
        .context("waiting for Ctrl-C")?;
    eprintln!("stopping: killing the function's processes");
    emulator.shutdown();
    Ok(())
}

/// Starts the emulator as `args` ask; returns it and the function's name.
fn start(args: &Args) -> anyhow::Result<(Emulator, String)> {
    let mut function = function_config(
        args.sample.as_deref(),
        &args.function,
        args.runtime_api_only,
    )?;
    function.concurrency = args.concurrency;
    let name = function.name.clone();
    println!(
        "lamina emulator: function `{name}`: timeout {:.2} s, memory {} MB, concurrency {}",
        function.timeout.as_secs_f64(),
        function.memory_mb,
        function.concurrency
    );
    let mut config = EmulatorConfig::new(vec![function]);
    config.port = args.port;
    config.runtime_api_only = args.runtime_api_only;
    config.runtime_api_port = args.runtime_api_port;
    config.log_to_stderr = true;
    let emulator = Emulator::start(config).with_context(|| {
        format!(
            "starting the emulator on port {} (try --port 0 for any free port)",
            args.port
        )
    })?;
    Ok((emulator, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    /// `serve sample-shell --handler handler.handle --port 0`: a script sample, packaged and
    /// run with the runtime layer its package.toml names, answers over real HTTP.
    #[test]
    fn serves_a_script_sample_with_its_layers() {
        let cli = Cli::try_parse_from([
            "serve",
            "sample-shell",
            "--handler",
            "handler.handle",
            "--port",
            "0",
        ])
        .expect("arguments");
        let (emulator, name) = start(&cli.args).expect("start");
        assert_eq!(name, "sample-shell");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        let body = agent
            .post(emulator.invoke_url("sample-shell"))
            .send(r#"{"name":"Ada"}"#)
            .expect("invoke")
            .body_mut()
            .read_to_string()
            .expect("body");
        assert_eq!(
            body,
            r#"{"message":"Hello, Ada!"}"#,
            "{}",
            emulator.logs(&name)
        );
        emulator.shutdown();
    }

    /// `serve --bootstrap script.sh --port 0` serves any executable over real HTTP.
    #[test]
    fn serves_a_shell_script_over_the_invoke_api() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = dir.path().join("bootstrap.sh");
        std::fs::write(
            &script,
            r#"#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  EVENT=$(curl -sS -D ./.h "$API/invocation/next")
  ID=$(sed -n 's/^lambda-runtime-aws-request-id: *//Ip' ./.h | tr -d '\r')
  curl -sS -o /dev/null -X POST --data-binary "{\"echo\":$EVENT}" "$API/invocation/$ID/response"
done
"#,
        )
        .expect("write script");
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        let cli = Cli::try_parse_from([
            "serve",
            "--bootstrap",
            script.to_str().expect("utf-8 path"),
            "--port",
            "0",
            "--concurrency",
            "2",
        ])
        .expect("arguments");
        let (emulator, name) = start(&cli.args).expect("start");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(30)))
            .build()
            .into();
        // Any name reaches the one function, as clients of AWS's emulator expect.
        let body = agent
            .post(emulator.invoke_url("function"))
            .send(r#"{"a":1}"#)
            .expect("invoke")
            .body_mut()
            .read_to_string()
            .expect("body");
        assert_eq!(body, r#"{"echo":{"a":1}}"#);
        assert_eq!(name, "function");
        emulator.shutdown();
    }
}
