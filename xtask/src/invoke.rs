//! `cargo xtask invoke`: build a sample (or take any executable or function zip), run it
//! under the local Lambda emulator with its layers, invoke it once; the response goes to
//! stdout, the function's log to stderr.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use lamina_emulator::layout::{FunctionLayout, namespaces_available};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};
use lamina_layer_builder::{Architecture, ArtifactKind, Mode, Spec};

use crate::compile;
use crate::layer::build_layers;
use crate::package::{options_from_env, package_sample};

/// How the function to run is found and configured; shared by `invoke` and `serve`.
#[derive(clap::Args)]
pub struct FunctionArgs {
    /// Timeout of one invocation in seconds, 1 to 900 [default: 3; 900 for serve --runtime-api-only]
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// Memory size in MB (Lambda: 128 to 10240).
    #[arg(long, value_name = "MB", default_value_t = 128)]
    pub memory: u32,
    /// Extra environment variable for the function; repeatable.
    #[arg(long = "env", value_name = "K=V", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Build the sample with the release profile.
    #[arg(long)]
    pub release: bool,
    /// Run this executable as the function instead of building a sample (any language).
    #[arg(long, value_name = "PATH")]
    pub bootstrap: Option<PathBuf>,
    /// `_HANDLER` for the function [default: a script sample's `handler` in package.toml,
    /// else bootstrap].
    #[arg(long)]
    pub handler: Option<String>,
    /// Run this function zip, unpacked as the task root (`/var/task`), instead of a sample.
    #[arg(long, value_name = "PATH")]
    pub zip: Option<PathBuf>,
    /// Layers unpacked into `/opt`, applied in order (later ones win); repeatable or
    /// comma-separated. A zip path, or a NAME (no `/`, not `.zip`): `layers/NAME` built for
    /// this machine's architecture [default: a script sample's `layers` in package.toml].
    #[arg(long = "layer", value_name = "NAME|PATH", value_delimiter = ',')]
    pub layers: Vec<String>,
}

#[derive(clap::Args)]
pub struct Args {
    /// Sample to build and run: a workspace package whose binary is `bootstrap`, or a
    /// script sample (`samples/NAME` without Cargo.toml), packaged and run with its layers.
    /// With --bootstrap or --zip, leave it out: the first argument is then the payload.
    sample: Option<String>,
    /// Event payload, JSON [default: {}].
    payload: Option<String>,
    /// Read the payload from this file.
    #[arg(long, value_name = "F", conflicts_with = "payload")]
    payload_file: Option<PathBuf>,
    #[command(flatten)]
    function: FunctionArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        sample,
        payload,
        payload_file,
        function,
    } = args;
    // With --bootstrap or --zip there is no sample: a lone positional argument that is JSON is the payload.
    let no_sample = function.bootstrap.is_some() || function.zip.is_some();
    let (sample, payload) = match (no_sample, sample, payload) {
        (true, Some(first), None)
            if serde_json::from_str::<serde::de::IgnoredAny>(&first).is_ok() =>
        {
            (None, Some(first))
        }
        (_, sample, payload) => (sample, payload),
    };
    let payload = match (payload, payload_file) {
        (Some(text), _) => text.into_bytes(),
        (None, Some(path)) => std::fs::read(&path)
            .with_context(|| format!("reading the payload file {}", path.display()))?,
        (None, None) => b"{}".to_vec(),
    };
    let config = function_config(sample.as_deref(), &function, false)?;
    let name = config.name.clone();
    let emulator = Emulator::start(EmulatorConfig::new(vec![config]))
        .context("starting the local Lambda emulator")?;
    let invoked = emulator.invoke(&name, &payload);
    eprint!("{}", emulator.logs(&name));
    emulator.shutdown();
    let invoked = invoked.with_context(|| format!("invoking `{name}`"))?;
    println!("{}", String::from_utf8_lossy(&invoked.payload));
    if let Some(kind) = invoked.function_error {
        bail!("the function failed ({kind}); its error is on stdout");
    }
    Ok(())
}

/// The emulator's configuration for the function `args` describe: a Rust sample built for
/// the host, a script sample packaged and run from its zip with its layers, a function zip
/// (--zip), or the executable given with --bootstrap. Shared by `invoke` and `serve`. In
/// runtime-API-only mode nothing is built or needed.
pub fn function_config(
    sample: Option<&str>,
    args: &FunctionArgs,
    runtime_api_only: bool,
) -> anyhow::Result<FunctionConfig> {
    if let Some(zip) = &args.zip {
        if sample.is_some() || args.bootstrap.is_some() {
            bail!("give one of a sample, --bootstrap or --zip");
        }
        let name = function_name_from(zip);
        let layers = resolve_layers(&args.layers)?;
        let layout = FunctionLayout::unpack(zip, &layers, &layout_dir(&name))
            .with_context(|| format!("unpacking {}", zip.display()))?;
        return finish_config(layout_config(&layout, &name)?, args, runtime_api_only);
    }
    if let Some(sample) = sample
        && !runtime_api_only
        && let Some(sample_dir) = script_sample_dir(sample)
    {
        if args.bootstrap.is_some() {
            bail!("give either a sample or --bootstrap, not both");
        }
        let (config, default_handler) = script_sample_config(sample, &sample_dir, &args.layers)?;
        let mut config = finish_config(config, args, runtime_api_only)?;
        if args.handler.is_none()
            && let Some(handler) = default_handler
        {
            config.handler = handler;
        }
        return Ok(config);
    }
    let (name, executable) = match (sample, &args.bootstrap) {
        (Some(_), Some(_)) => bail!("give either a sample or --bootstrap, not both"),
        (None, Some(path)) => {
            let path = std::path::absolute(path)
                .with_context(|| format!("resolving {}", path.display()))?;
            if !path.is_file() {
                bail!("--bootstrap {}: no such file", path.display());
            }
            ("function".to_string(), path)
        }
        (Some(sample), None) if runtime_api_only => {
            (sample.to_string(), PathBuf::from("bootstrap"))
        }
        (Some(sample), None) => {
            let profile = if args.release { "release" } else { "dev" };
            (
                sample.to_string(),
                compile::build_host(sample, "bootstrap", profile)?,
            )
        }
        (None, None) if runtime_api_only => ("function".to_string(), PathBuf::from("bootstrap")),
        (None, None) => bail!("name a sample to run (e.g. sample-hello) or give --bootstrap PATH"),
    };
    let config = if args.layers.is_empty() || runtime_api_only {
        FunctionConfig::new(name, executable)
    } else {
        let layers = resolve_layers(&args.layers)?;
        let layout = FunctionLayout::from_executable(&executable, &layers, &layout_dir(&name))
            .context("laying out the function with its layers")?;
        layout_config(&layout, &name)?
    };
    finish_config(config, args, runtime_api_only)
}

/// `samples/<sample>` when it is a script sample: a folder without `Cargo.toml`. Rust
/// samples are built as packages instead.
fn script_sample_dir(sample: &str) -> Option<PathBuf> {
    if sample.contains('/') {
        return None;
    }
    let dir = compile::workspace_root().join("samples").join(sample);
    (dir.is_dir() && !dir.join("Cargo.toml").exists()).then_some(dir)
}

/// A script sample as Lambda runs it: packaged for this machine (the `package` code) and
/// unpacked as the task root, with `layers` (or, when none are given, the ones its
/// package.toml names) unpacked into `/opt`. Returns the configuration and the sample's
/// default handler (package.toml's `handler`).
fn script_sample_config(
    sample: &str,
    sample_dir: &Path,
    layers: &[String],
) -> anyhow::Result<(FunctionConfig, Option<String>)> {
    let spec_path = sample_dir.join("package.toml");
    let spec = if spec_path.is_file() {
        Spec::load(&spec_path, ArtifactKind::Function)?
    } else {
        Spec::default()
    };
    // Layers first: packaging checks the function's size together with them.
    let layer_zips = if layers.is_empty() {
        resolve_layers(&spec.layers)?
    } else {
        resolve_layers(layers)?
    };
    let arch = host_architecture()?;
    let root = compile::workspace_root();
    let built = package_sample(
        sample_dir,
        &root,
        &compile::target_dir(),
        &[arch],
        &options_from_env()?,
        Mode::Write,
        &mut compile::build_lambda,
    )?;
    let zip = &built
        .first()
        .with_context(|| format!("sample `{sample}` is not built for {arch}"))?
        .zip_path;
    let layout = FunctionLayout::unpack(zip, &layer_zips, &layout_dir(sample))
        .with_context(|| format!("unpacking {}", zip.display()))?;
    Ok((layout_config(&layout, sample)?, spec.handler))
}

/// The zips for `--layer` values: a path (has a `/` or ends in `.zip`) as it is; a NAME is
/// `layers/NAME`, built for this machine's architecture by the `layer` code (nothing is
/// rewritten when it is up to date).
pub fn resolve_layers(values: &[String]) -> anyhow::Result<Vec<PathBuf>> {
    let mut zips = Vec::new();
    for value in values {
        if value.is_empty() {
            bail!("--layer ``: give a layer name (e.g. runtime) or a zip path");
        }
        if value.contains('/') || value.ends_with(".zip") {
            let path = PathBuf::from(value);
            if !path.is_file() {
                bail!("--layer {value}: no such zip");
            }
            zips.push(path);
            continue;
        }
        let root = compile::workspace_root();
        let built = build_layers(
            &root.join("layers"),
            &root,
            &compile::target_dir(),
            Some(value),
            &[host_architecture()?],
            &options_from_env()?,
            Mode::Write,
            &mut compile::build_lambda,
        )
        .with_context(|| format!("building the layer `{value}`"))?;
        let layer = built
            .into_iter()
            .next()
            .with_context(|| format!("layer `{value}` is not built for this machine"))?;
        zips.push(layer.zip_path);
    }
    Ok(zips)
}

/// The Lambda architecture of this machine, whose binaries run here without emulation.
fn host_architecture() -> anyhow::Result<Architecture> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(Architecture::X86_64),
        "aarch64" => Ok(Architecture::Arm64),
        other => bail!("this machine ({other}) is neither x86_64 nor arm64, Lambda's two"),
    }
}

/// The settings every function takes from the command line.
fn finish_config(
    mut config: FunctionConfig,
    args: &FunctionArgs,
    runtime_api_only: bool,
) -> anyhow::Result<FunctionConfig> {
    let default_timeout = if runtime_api_only { 900.0 } else { 3.0 };
    let timeout = args.timeout.unwrap_or(default_timeout);
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 900.0) {
        bail!("--timeout {timeout}: Lambda allows 1 to 900 seconds");
    }
    config.timeout = Duration::from_secs_f64(timeout);
    config.memory_mb = args.memory;
    config.env = args.env.clone();
    if let Some(handler) = &args.handler {
        config.handler = handler.clone();
    }
    Ok(config)
}

/// Runs the layout at Lambda's paths when the machine allows it, and says so when not.
fn layout_config(layout: &FunctionLayout, name: &str) -> anyhow::Result<FunctionConfig> {
    let namespaces = namespaces_available();
    if !namespaces {
        eprintln!(
            "warning: this machine does not allow user and mount namespaces \
             (`unshare --user --map-root-user --mount true` fails), so the function cannot see \
             its code at /var/task and its layers at /opt. It runs from {} with {}/bin on PATH \
             and {}/lib on LD_LIBRARY_PATH; absolute paths such as #!/opt/bin/perl will not work.",
            layout.task.display(),
            layout.opt.display(),
            layout.opt.display()
        );
    }
    Ok(layout.function_config(name, namespaces)?)
}

/// Where a function's unpacked tree lives: `target/lamina-emulator/{name}`.
fn layout_dir(name: &str) -> PathBuf {
    compile::target_dir().join("lamina-emulator").join(name)
}

/// A function name (letters, digits, `-`, `_`) from a zip's file name.
fn function_name_from(zip: &std::path::Path) -> String {
    let stem = zip
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "function".to_string()
    } else {
        name
    }
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> FunctionArgs {
        FunctionArgs {
            timeout: None,
            memory: 128,
            env: Vec::new(),
            release: false,
            bootstrap: None,
            handler: None,
            zip: None,
            layers: Vec::new(),
        }
    }

    /// What `cargo xtask invoke sample-hello '{"name":"Ada"}'` does, minus the printing.
    #[test]
    fn sample_hello_says_hello() {
        let config =
            function_config(Some("sample-hello"), &defaults(), false).expect("build sample-hello");
        let emulator = Emulator::start(EmulatorConfig::new(vec![config])).expect("start");
        let invoked = emulator
            .invoke("sample-hello", br#"{"name":"Ada"}"#)
            .expect("invoke");
        assert_eq!(
            String::from_utf8_lossy(&invoked.payload),
            r#"{"message":"Hello, Ada!"}"#
        );
        assert_eq!(invoked.function_error, None);
        assert!(emulator.logs("sample-hello").contains("REPORT RequestId: "));
    }

    /// What `cargo xtask invoke sample-python '{"name":"Ada"}'` does: the sample packaged,
    /// the runtime layer (named in its package.toml) built for the host, both unpacked, and
    /// the handler package.toml names; an invalid event's error carries the Python traceback.
    #[test]
    fn script_sample_runs_from_its_zip_with_its_layers() {
        let config = function_config(Some("sample-python"), &defaults(), false)
            .expect("package sample-python");
        assert_eq!(config.handler, "handler.handle");
        let emulator = Emulator::start(EmulatorConfig::new(vec![config])).expect("start");
        let invoked = emulator
            .invoke("sample-python", br#"{"name":"Ada"}"#)
            .expect("invoke");
        let logs = emulator.logs("sample-python");
        let body: serde_json::Value = serde_json::from_slice(&invoked.payload).expect("JSON");
        assert_eq!(
            body,
            serde_json::json!({"message": "Hello, Ada!"}),
            "{logs}"
        );
        let failed = emulator.invoke("sample-python", b"{}").expect("invoke");
        assert_eq!(failed.function_error.as_deref(), Some("Unhandled"));
        let error: serde_json::Value = serde_json::from_slice(&failed.payload).expect("JSON");
        assert_eq!(error["errorType"], "InvalidEvent", "{error}");
        assert!(
            error["stackTrace"]
                .as_array()
                .expect("stackTrace")
                .iter()
                .any(|frame| frame
                    .as_str()
                    .is_some_and(|f| f.contains("/var/task/handler.py"))),
            "{error}"
        );
        emulator.shutdown();
    }

    /// The arm64 runtime layer's `/opt/bootstrap` (the static aarch64 binary from
    /// `runtime-arm64.zip`) serves sample-shell's executable and sample-python's function
    /// under `qemu-aarch64`, with both zips unpacked at `/opt` and `/var/task` as on Lambda.
    #[test]
    fn arm64_runtime_layer_runs_samples_under_qemu() {
        let qemu = Path::new("/usr/bin/qemu-aarch64");
        assert!(
            qemu.is_file(),
            "qemu-aarch64 is needed to run the arm64 build: apt-get install -y qemu-user"
        );
        assert!(namespaces_available(), "needs user and mount namespaces");
        let root = compile::workspace_root();
        let out = tempfile::tempdir().expect("tempdir");
        let arm64 = [Architecture::Arm64];
        let options = lamina_layer_builder::BuildOptions::default();
        let layer = build_layers(
            &root.join("layers"),
            &root,
            out.path(),
            Some("runtime"),
            &arm64,
            &options,
            Mode::Write,
            &mut compile::build_lambda,
        )
        .expect("build the arm64 runtime layer");
        let layer_zip = layer[0].zip_path.clone();
        let mut functions = Vec::new();
        for (sample, handler) in [
            ("sample-shell", "greet.sh"),
            ("sample-python", "handler.handle"),
        ] {
            let built = package_sample(
                &root.join("samples").join(sample),
                &root,
                out.path(),
                &arm64,
                &options,
                Mode::Write,
                &mut compile::build_lambda,
            )
            .expect("package");
            let layout = FunctionLayout::unpack(
                &built[0].zip_path,
                std::slice::from_ref(&layer_zip),
                &out.path().join("run").join(sample),
            )
            .expect("unpack");
            // The cross-built binary, not the host's: aarch64 and static (no loader, no libc
            // of the build machine), as Lambda's arm64 provided.al2023 runs it.
            let bootstrap = std::fs::read(layout.opt.join("bootstrap")).expect("bootstrap");
            let elf = lamina_elf::ElfInfo::parse(&bootstrap).expect("an ELF file");
            assert_eq!(
                elf.machine,
                lamina_elf::Arch::Aarch64.elf_machine(),
                "{sample}"
            );
            assert_eq!(elf.interpreter, None, "{sample}: not static");
            assert!(elf.needed.is_empty(), "{sample}: needs {:?}", elf.needed);
            let mut function = layout.function_config(sample, true).expect("config");
            function.args = vec![function.executable.display().to_string()];
            function.executable = qemu.to_path_buf();
            function.handler = handler.into();
            function.timeout = Duration::from_secs(30); // safety bound, not a speed test
            functions.push(function);
        }
        let emulator = Emulator::start(EmulatorConfig::new(functions)).expect("start");
        for sample in ["sample-shell", "sample-python"] {
            let invoked = emulator
                .invoke(sample, br#"{"name":"Ada"}"#)
                .expect("invoke");
            let body: serde_json::Value = serde_json::from_slice(&invoked.payload).expect("JSON");
            assert_eq!(
                body,
                serde_json::json!({"message": "Hello, Ada!"}),
                "{sample}; logs:\n{}",
                emulator.logs(sample)
            );
        }
        emulator.shutdown();
    }

    #[test]
    fn layer_values_are_names_or_zip_paths() {
        let error = resolve_layers(&["no-such-layer".into()]).expect_err("unknown name");
        assert!(
            format!("{error:#}").contains("no layer `no-such-layer`"),
            "{error:#}"
        );
        let error = resolve_layers(&["missing/runtime.zip".into()]).expect_err("missing zip");
        assert_eq!(
            error.to_string(),
            "--layer missing/runtime.zip: no such zip"
        );
    }

    #[test]
    fn settings_outside_lambdas_limits_are_refused() {
        let mut args = defaults();
        args.timeout = Some(901.0);
        let err = function_config(None, &args, true)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("--timeout 901: Lambda allows 1 to 900 seconds")
        );
        assert!(parse_env("NOEQUALS").is_err());
        assert_eq!(parse_env("K=a=b"), Ok(("K".to_string(), "a=b".to_string())));
        assert_eq!(
            function_name_from(std::path::Path::new("/x/my fn.v2.zip")),
            "my-fn-v2"
        );
    }
}
