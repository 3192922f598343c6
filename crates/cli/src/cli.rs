//! The command line, parsed once into these settings.

use std::path::PathBuf;
use std::time::Duration;

use lamina_cli::arch::{ArchChoice, parse_arch_choice};
use lamina_cli::local::Overrides;
use lamina_cli::new::Template;
use lamina_emulator::HttpEventKind;
use lamina_layer_builder::{Architecture, ArtifactKind};

/// Cargo runs `cargo-lamina lamina ...` for `cargo lamina ...`.
#[derive(clap::Parser)]
#[command(name = "cargo", bin_name = "cargo")]
pub enum Cargo {
    /// Build, check, run and serve AWS Lambda functions (provided.al2023) of any project.
    Lamina(Lamina),
}

/// Build, check, run and serve AWS Lambda functions (provided.al2023) of any project.
#[derive(clap::Args)]
#[command(version, about, long_about = None)]
pub struct Lamina {
    #[command(subcommand)]
    pub command: Command,
    /// The project: a Cargo.toml or a folder [default: the current folder].
    #[arg(long, global = true, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Only this Cargo package, a function even without a lamina spec.
    #[arg(short = 'p', long, global = true, value_name = "PACKAGE")]
    pub package: Option<String>,
    /// The package's binary to ship as `bootstrap` [default: `bootstrap`, else its only one].
    #[arg(long, global = true, value_name = "BIN")]
    pub bin: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Start a function that builds, tests and invokes at once.
    New(NewArgs),
    /// Build byte-reproducible zips: target/lambda/NAME/ARCH/bootstrap.zip.
    Build(BuildArgs),
    /// Build a layer: a folder with a layer.toml, a layer of the project, or lamina's `runtime`.
    Layer(LayerArgs),
    /// Check a function or layer zip from any tool for what would fail on Lambda.
    Check(CheckArgs),
    /// Build a function, run it under the local Lambda and invoke it once.
    Invoke(InvokeArgs),
    /// Serve every function of the project under the local Lambda's Invoke API.
    Serve(ServeArgs),
    /// Build what is stale and create or update the functions and their layers on AWS.
    Deploy(DeployArgs),
    /// Per function: built vs deployed code, configuration drift, layers behind.
    State(StateArgs),
    /// Delete old layer versions no function uses, keeping the newest N.
    PruneLayers(PruneArgs),
}

/// Where and as whom to reach AWS [default: the standard chain: environment, profiles,
/// SSO, instance roles].
#[derive(clap::Args, Clone, Default)]
pub struct AwsArgs {
    /// The AWS region [default: AWS_REGION, the profile's].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Another AWS API endpoint, e.g. a local one [default: AWS_ENDPOINT_URL].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The AWS profile [default: AWS_PROFILE].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(clap::Args)]
pub struct DeployArgs {
    /// Functions to deploy [default: every function of the project].
    pub names: Vec<String>,
    /// Print the plan (create / update / skip, with the reason) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The architecture to deploy [default: the spec's first].
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Architecture>,
    /// Publish a version of each function after updating it.
    #[arg(long)]
    pub publish: bool,
    /// Point this alias at the published version (with --publish).
    #[arg(long, value_name = "ALIAS")]
    pub alias: Option<String>,
    /// Create a basic execution role for a function whose spec names no `role`.
    #[arg(long)]
    pub create_role: bool,
    /// Upload the zips through this S3 bucket (needed over 50 MB).
    #[arg(long, value_name = "BUCKET")]
    pub s3_bucket: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(clap::Args)]
pub struct StateArgs {
    /// Functions to compare [default: every function of the project].
    pub names: Vec<String>,
    /// The architecture whose build is compared [default: the spec's first].
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Architecture>,
    /// JSON, for scripts.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Only this layer [default: every layer of the account and region].
    pub name: Option<String>,
    /// How many of the newest versions to keep.
    #[arg(long, value_name = "N")]
    pub keep: usize,
    /// Print what would be deleted and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(clap::Args)]
pub struct NewArgs {
    /// The function's name (and folder).
    pub name: String,
    /// What it is written in.
    #[arg(long, value_enum, default_value = "rust")]
    pub template: Template,
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Functions to build [default: every function of the project].
    pub names: Vec<String>,
    /// Which architecture(s): x86_64, arm64 or all [default: all the spec lists].
    #[arg(long, default_value = "all", value_parser = parse_arch_choice)]
    pub arch: ArchChoice,
    /// Rebuild and fail if any byte differs from the zips on disk.
    #[arg(long)]
    pub check: bool,
}

#[derive(clap::Args)]
pub struct LayerArgs {
    /// A folder with a layer.toml, a layer of the project (layers/NAME), or `runtime`.
    pub layer: String,
    /// Which architecture(s): x86_64, arm64 or all.
    #[arg(long, default_value = "all", value_parser = parse_arch_choice)]
    pub arch: ArchChoice,
    /// Rebuild and fail if any byte differs from the zips on disk.
    #[arg(long)]
    pub check: bool,
}

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The zip: a function (unpacked into /var/task) or a layer (into /opt).
    pub zip: PathBuf,
    /// Its architecture [default: the manifest's beside it, else its first ELF file's].
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Architecture>,
    /// What it is [default: the manifest's; else a function when it has a root `bootstrap`].
    #[arg(long, value_parser = parse_kind)]
    pub kind: Option<ArtifactKind>,
    /// A layer zip the function runs with, in order; repeatable.
    #[arg(long = "layer", value_name = "ZIP")]
    pub layers: Vec<PathBuf>,
}

#[derive(clap::Args)]
pub struct InvokeArgs {
    /// The function [default: the project's only one]. A lone JSON argument is the payload.
    pub name: Option<String>,
    /// The event, JSON [default: {}].
    pub payload: Option<String>,
    /// Read the event from this file.
    #[arg(long, value_name = "F", conflicts_with = "payload")]
    pub data_file: Option<PathBuf>,
    /// Invoke the function deployed on AWS instead, its log tail on stderr.
    #[arg(long)]
    pub remote: bool,
    /// Read the response as a stream (InvokeWithResponseStream), each chunk printed as it
    /// arrives [default: when the spec says invoke-mode = "RESPONSE_STREAM"].
    #[arg(long)]
    pub stream: bool,
    /// The tenant invoking (X-Amz-Tenant-Id, locally and with --remote): required by a
    /// function with tenant-isolation-mode = "PER_TENANT", refused by any other.
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub function: FunctionArgs,
}

/// How a function runs locally; shared by `invoke` and `serve`.
#[derive(clap::Args, Clone)]
pub struct FunctionArgs {
    /// Timeout of one invocation in seconds, 1 to 900 [default: the spec's].
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Memory in MB, 128 to 10240 [default: the spec's].
    #[arg(long, value_name = "MB")]
    pub memory: Option<u32>,
    /// Extra environment variable; repeatable.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// `_HANDLER` [default: the spec's].
    #[arg(long)]
    pub handler: Option<String>,
    /// Layers instead of the spec's: zips, layer folders, or `runtime`; repeatable or
    /// comma-separated.
    #[arg(long = "layer", value_name = "LAYER", value_delimiter = ',')]
    pub layers: Vec<String>,
    /// Run the build for this architecture (arm64 on x86_64 runs under qemu-aarch64).
    #[arg(long, value_parser = parse_arch)]
    pub arch: Option<Architecture>,
    /// Run this function zip from any tool instead of a function of the project.
    #[arg(long, value_name = "ZIP", conflicts_with = "bootstrap")]
    pub zip: Option<PathBuf>,
    /// Run this executable as the function (any language), as it is.
    #[arg(long, value_name = "PATH")]
    pub bootstrap: Option<PathBuf>,
    /// Show the function this machine's whole file system (python3, perl, ...), not what
    /// provided.al2023 has: what works then may fail on Lambda.
    #[arg(long)]
    pub host_view: bool,
    /// Size of the function's /tmp in MB, 512 to 10240 [default: the spec's, else 512].
    #[arg(long, value_name = "MB")]
    pub ephemeral_storage: Option<u32>,
    /// Also log the emulator's own set-up of each instance (cgroup, namespaces, mounts),
    /// which Init Duration does not count, as Lambda does not.
    #[arg(short, long)]
    pub verbose: bool,
}

impl FunctionArgs {
    /// The settings that override a spec's.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            timeout_s: self.timeout,
            memory_mb: self.memory,
            env: self.env.clone(),
            handler: self.handler.clone(),
            layers: (!self.layers.is_empty()).then(|| self.layers.clone()),
            arch: self.arch,
            host_view: self.host_view,
            ephemeral_storage_mb: self.ephemeral_storage,
        }
    }
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Functions to serve [default: every function of the project].
    pub names: Vec<String>,
    /// Port of the Invoke API on 127.0.0.1 (0: any free port).
    #[arg(long, value_name = "P", default_value_t = 9000)]
    pub port: u16,
    /// Most instances (processes) of each function at once.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub concurrency: usize,
    /// Invocations one instance serves at once, as Lambda Managed Instances do
    /// (AWS_LAMBDA_MAX_CONCURRENCY) [default: the spec's `max-concurrency`, else 1].
    #[arg(long, value_name = "N", value_parser = parse_max_concurrency)]
    pub max_concurrency: Option<u32>,
    /// Rebuild and restart a function when its sources change.
    #[arg(long, conflicts_with = "runtime_api_only")]
    pub watch: bool,
    /// Start no process: serve the Runtime API for a runtime you start yourself (e.g. under
    /// a debugger) with the printed AWS_LAMBDA_RUNTIME_API.
    #[arg(long)]
    pub runtime_api_only: bool,
    /// Port of the first function's Runtime API with --runtime-api-only (0: any free port).
    #[arg(
        long,
        value_name = "P",
        default_value_t = 0,
        requires = "runtime_api_only"
    )]
    pub runtime_api_port: u16,
    /// Retries of a failed Event (asynchronous) invocation, 0 to 2, as Lambda's maximum retry
    /// attempts.
    #[arg(long, value_name = "N", default_value_t = lamina_context::facts::ASYNC_DEFAULT_RETRIES,
        value_parser = clap::value_parser!(u32).range(0..=i64::from(lamina_context::facts::ASYNC_MAX_RETRIES)))]
    pub async_retries: u32,
    /// Seconds before the first retry of a failed Event invocation; the second waits twice as
    /// long [default: 60 and 120, Lambda's].
    #[arg(long, value_name = "S", value_parser = parse_delay)]
    pub async_retry_delay: Option<Duration>,
    /// Write each Event invocation that failed every attempt to this folder, one JSON file in
    /// the shape of Lambda's on-failure destination record [default: dropped, as without a
    /// destination].
    #[arg(long, value_name = "DIR")]
    pub on_failure: Option<PathBuf>,
    /// Also serve the (first) function at / on this port, as its Function URL would answer
    /// (every function is always at http://127.0.0.1:PORT/lambda-url/NAME/ too).
    #[arg(long, value_name = "P")]
    pub http_port: Option<u16>,
    /// The event a plain HTTP request becomes: `url` (Function URL / HTTP API, payload 2.0),
    /// `rest` (API Gateway REST API, payload 1.0) or `alb` (Application Load Balancer).
    #[arg(long, value_name = "KIND", default_value = "url", value_parser = parse_http_event)]
    pub http_event: HttpEventKind,
    /// Also answer requests whose Host is HOST (any port); by default only localhost,
    /// 127.0.0.1 and [::1], so that a web page cannot reach local functions through DNS
    /// rebinding. Repeatable; `*` allows any.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// Also let web pages of ORIGIN (e.g. http://localhost:3000) call the Invoke API; by
    /// default only the emulator's own front door. Repeatable; `*` allows any.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    #[command(flatten)]
    pub function: FunctionArgs,
}

fn parse_http_event(value: &str) -> Result<HttpEventKind, String> {
    match value {
        "url" => Ok(HttpEventKind::FunctionUrl),
        "rest" => Ok(HttpEventKind::Rest),
        "alb" => Ok(HttpEventKind::Alb),
        other => Err(format!("`{other}` is not url, rest or alb")),
    }
}

/// `--max-concurrency`: checked as the spec's `max-concurrency` is, with the same words.
fn parse_max_concurrency(text: &str) -> Result<u32, String> {
    let slots: u64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    lamina_cli::spec::check_max_concurrency(slots)
}

fn parse_arch(value: &str) -> Result<Architecture, String> {
    value.parse()
}

fn parse_kind(value: &str) -> Result<ArtifactKind, String> {
    match value {
        "layer" => Ok(ArtifactKind::Layer),
        "function" => Ok(ArtifactKind::Function),
        other => Err(format!(
            "unknown kind `{other}`: expected layer or function"
        )),
    }
}

/// A wait in seconds, 0 to an hour (fractions allowed: `0.5`).
fn parse_delay(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(seconds) if (0.0..=3600.0).contains(&seconds) => Ok(Duration::from_secs_f64(seconds)),
        _ => Err(format!(
            "`{text}` is not a number of seconds from 0 to 3600"
        )),
    }
}

/// `KEY=VALUE`, checked as Lambda checks a function's environment (the spec's words).
fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => {
            lamina_cli::spec::check_environment_variable(key, value)
                .map_err(|reason| format!("`{key}`: {reason}"))?;
            Ok((key.to_string(), value.to_string()))
        }
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}
