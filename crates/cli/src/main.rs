//! `cargo lamina`: build, check, run and serve Lambda functions of any project. Thin glue:
//! flags are parsed once into settings, then handed to the `lamina_cli` library.

mod cli;
mod remote;
mod serve;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use lamina_cli::compile::{Compiler, host_architecture};
use lamina_cli::layer::{LayerBuilder, LayerRef};
use lamina_cli::local::{self, Overrides, RunFolder};
use lamina_cli::package::{options_from_env, package_function, table};
use lamina_cli::project::{Project, Selection};
use lamina_emulator::{Emulator, EmulatorConfig};
use lamina_layer_builder::{Built, Mode};

use crate::cli::{Cargo, Command, InvokeArgs};

fn main() -> std::process::ExitCode {
    // `cargo lamina x` runs `cargo-lamina lamina x`; run directly, there is no `lamina`.
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != "lamina") {
        args.insert(1.min(args.len()), "lamina".into());
    }
    let Cargo::Lamina(cli) = Cargo::parse_from(args);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Lamina) -> anyhow::Result<()> {
    let selection = Selection {
        manifest_path: cli.manifest_path.clone(),
        package: cli.package.clone(),
        bin: cli.bin.clone(),
    };
    match cli.command {
        Command::New(args) => {
            let parent = match &cli.manifest_path {
                Some(path) if path.is_dir() => path.clone(),
                _ => std::env::current_dir()?,
            };
            let dir = lamina_cli::new::create(&parent, &args.name, args.template)?;
            println!("created {}", dir.display());
            println!(
                "  cd {} && cargo lamina invoke '{{\"name\":\"Ada\"}}'",
                args.name
            );
            Ok(())
        }
        Command::Build(args) => {
            let project = Project::discover(&selection)?;
            let compiler = compiler_for(&project);
            let options = options_from_env()?;
            let mode = if args.check { Mode::Check } else { Mode::Write };
            let mut all = Vec::new();
            for function in project.selected(&args.names)? {
                let packaged =
                    package_function(&project, function, &compiler, &args.arch.0, &options, mode)?;
                for zip in &packaged {
                    print!("{}", zip.report());
                }
                all.extend(packaged.into_iter().map(|p| p.built));
            }
            print_table(&all);
            Ok(())
        }
        Command::Layer(args) => {
            let project = Project::discover(&selection)?;
            let compiler = compiler_for(&project);
            let options = options_from_env()?;
            let base = std::env::current_dir()?;
            let layer = match LayerRef::parse(&args.layer, &base, &project)? {
                LayerRef::Remote(name) => bail!(
                    "no layer `{name}`: not a folder with a layer.toml, not layers/{name} of {}, \
                     and not lamina's `runtime`{}",
                    project.root.display(),
                    lamina_cli::project::did_you_mean(&name, &["runtime"])
                ),
                LayerRef::Zip(zip) => bail!(
                    "{} is already a zip; `cargo lamina check` checks it",
                    zip.display()
                ),
                layer => layer,
            };
            let builder = LayerBuilder {
                project: &project,
                compiler: &compiler,
                options: &options,
                mode: if args.check { Mode::Check } else { Mode::Write },
            };
            let packaged = builder.build(&layer, &args.arch.0)?.unwrap_or_default();
            for zip in &packaged {
                print!("{}", zip.report());
            }
            let built: Vec<Built> = packaged.into_iter().map(|p| p.built).collect();
            print_table(&built);
            Ok(())
        }
        Command::Check(args) => {
            let report = lamina_cli::check::check(&args.zip, args.arch, args.kind, &args.layers)?;
            print!("{}", report.text);
            if !report.ok {
                bail!("{}: would fail on Lambda (see above)", args.zip.display());
            }
            Ok(())
        }
        Command::Invoke(args) => invoke(&selection, args),
        Command::Serve(args) => serve::run(&selection, args),
        Command::Deploy(args) => remote::deploy(&selection, args),
        Command::State(args) => remote::state(&selection, args),
        Command::PruneLayers(args) => remote::prune(args),
    }
}

/// Cargo's progress on a terminal: a first build takes minutes on a small machine.
pub fn compiler_for(project: &Project) -> Compiler {
    Compiler {
        root: project.root.clone(),
        target_dir: project.target_dir.clone(),
        show_progress: true,
    }
}

fn print_table(built: &[Built]) {
    let refs: Vec<&Built> = built.iter().collect();
    print!("{}", table(&refs));
}

fn invoke(selection: &Selection, args: InvokeArgs) -> anyhow::Result<()> {
    let InvokeArgs {
        name,
        payload,
        data_file,
        remote,
        stream,
        aws,
        function,
    } = args;
    // A lone argument that is JSON is the payload of the only function.
    let (name, payload) = match (name, payload) {
        (Some(first), None) if serde_json::from_str::<serde::de::IgnoredAny>(&first).is_ok() => {
            (None, Some(first))
        }
        other => other,
    };
    let payload = match (payload, data_file) {
        (Some(text), _) => text.into_bytes(),
        (None, Some(path)) => std::fs::read(&path)
            .with_context(|| format!("reading the payload file {}", path.display()))?,
        (None, None) => b"{}".to_vec(),
    };
    if let Some(flag) = local_flag(&function).filter(|_| remote) {
        bail!(
            "{flag} sets up the local run; --remote invokes the function deployed on AWS as \
             it is configured there (change it with the spec and `cargo lamina deploy`)"
        );
    }
    if !remote && (aws.region.is_some() || aws.endpoint_url.is_some() || aws.profile.is_some()) {
        bail!("--region, --endpoint-url and --profile say how to reach AWS: add --remote");
    }
    if remote {
        // The project's spec, where it has this function, says whether it streams.
        let (name, streams) = match name {
            Some(name) => {
                let streams = Project::discover(selection)
                    .ok()
                    .is_some_and(|p| p.function(&name).is_ok_and(|f| f.spec.streams()));
                (name, streams)
            }
            None => {
                let project = Project::discover(selection)?;
                let function = project.only_function()?;
                (function.name.clone(), function.spec.streams())
            }
        };
        return remote::invoke(&aws, &name, payload, stream || streams);
    }
    let overrides = function.overrides();
    warn_host_view(&overrides);
    let (config, run) = if let Some(zip) = &function.zip {
        if name.is_some() {
            bail!("give either a function name or --zip, not both");
        }
        let (config, run) = zip_function(zip, &function.layers, &overrides)?;
        (config, run)
    } else if let Some(bootstrap) = &function.bootstrap {
        if name.is_some() {
            bail!("give either a function name or --bootstrap, not both");
        }
        (bootstrap_function(bootstrap, &overrides)?, None)
    } else {
        let project = Project::discover(selection)?;
        let function_def = match &name {
            Some(name) => project.function(name)?,
            None => project.only_function()?,
        };
        let run = RunFolder::new(&project.target_dir)?;
        let config = local::project_function(
            &project,
            function_def,
            &compiler_for(&project),
            &options_from_env()?,
            &overrides,
            &run,
        )?;
        (config, Some(run))
    };
    let name = config.name.clone();
    let streamed = stream || config.response_streaming;
    let emulator = Emulator::start(EmulatorConfig::new(vec![config]))
        .context("starting the local Lambda emulator")?;
    let invoked = if streamed {
        emulator.invoke_stream(&name, &payload, &mut print_chunk)
    } else {
        emulator.invoke(&name, &payload)
    };
    eprint!("{}", emulator.logs(&name));
    emulator.shutdown();
    drop(run);
    let invoked = invoked.with_context(|| format!("invoking `{name}`"))?;
    if streamed {
        // The answer is already out, as it came; the error, if any, goes on a line of its own.
        println!();
    }
    if !streamed || invoked.function_error.is_some() {
        println!("{}", String::from_utf8_lossy(&invoked.payload));
    }
    if let Some(kind) = invoked.function_error {
        bail!("the function failed ({kind}); its error is on stdout");
    }
    Ok(())
}

/// The first flag given that only a local run uses, if any.
fn local_flag(function: &cli::FunctionArgs) -> Option<&'static str> {
    [
        (function.timeout.is_some(), "--timeout"),
        (function.memory.is_some(), "--memory"),
        (!function.env.is_empty(), "--env"),
        (function.handler.is_some(), "--handler"),
        (!function.layers.is_empty(), "--layer"),
        (function.arch.is_some(), "--arch"),
        (function.zip.is_some(), "--zip"),
        (function.bootstrap.is_some(), "--bootstrap"),
        (function.host_view, "--host-view"),
        (function.ephemeral_storage.is_some(), "--ephemeral-storage"),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

/// Writes one chunk of a streamed answer to stdout at once. A closed stdout (`| head`) only
/// stops the printing: the invocation still runs to its end, as on Lambda.
pub fn print_chunk(chunk: &[u8]) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(chunk).and_then(|()| stdout.flush());
}

/// `--host-view` trades fidelity for convenience: say so every time.
pub fn warn_host_view(overrides: &Overrides) {
    if overrides.host_view {
        eprintln!(
            "warning: --host-view: the function sees this machine's programs (python3, perl, ...) \
             that provided.al2023 does not have; what works now may fail on Lambda"
        );
    }
}

/// An executable run as the function, as it is (`--bootstrap`), named after its file.
pub fn bootstrap_function(
    bootstrap: &std::path::Path,
    overrides: &Overrides,
) -> anyhow::Result<lamina_emulator::FunctionConfig> {
    let path = std::path::absolute(bootstrap)?;
    if !path.is_file() {
        bail!("--bootstrap {}: no such file", path.display());
    }
    // The executable runs as it is, on this machine, from where it lies: there is no zip to
    // lay out with layers, no other architecture to pick and no /tmp of its own to size.
    let as_it_is = "--bootstrap runs the executable as it is, on this machine, outside \
                    /var/task and /opt";
    if overrides.layers.is_some() {
        bail!("--layer: {as_it_is}; to run with layers, give a function of the project or --zip");
    }
    if let Some(arch) = overrides.arch {
        bail!(
            "--arch {arch}: {as_it_is}; to run another architecture, give a function of the project or --zip"
        );
    }
    if overrides.ephemeral_storage_mb.is_some() {
        bail!(
            "--ephemeral-storage: {as_it_is}, with this machine's /tmp; to size /tmp, give a function of the project or --zip"
        );
    }
    let mut config = lamina_emulator::FunctionConfig::new(local::function_name_from(&path), path);
    local::apply(&mut config, overrides)?;
    Ok(config)
}

/// A function zip from any tool, with layer zips or lamina layers.
pub fn zip_function(
    zip: &std::path::Path,
    layers: &[String],
    overrides: &Overrides,
) -> anyhow::Result<(lamina_emulator::FunctionConfig, Option<RunFolder>)> {
    if !zip.is_file() {
        bail!("--zip {}: no such file", zip.display());
    }
    let project = Project::discover(&Selection::default())?;
    // An arm64 zip runs under qemu on x86_64: its architecture is its bootstrap's.
    let arch = match overrides.arch {
        Some(arch) => arch,
        None => match lamina_cli::check::zip_architecture(zip)? {
            Some(arch) => arch,
            None => host_architecture()?,
        },
    };
    let compiler = compiler_for(&project);
    let options = options_from_env()?;
    let builder = LayerBuilder {
        project: &project,
        compiler: &compiler,
        options: &options,
        mode: Mode::Write,
    };
    let base = std::env::current_dir()?;
    let set = builder.resolve(layers, &base, arch)?;
    if let Some(remote) = set.remote.first() {
        bail!("--layer {remote}: not a zip, a layer folder or lamina's `runtime`");
    }
    let run = RunFolder::new(&project.target_dir)?;
    let mut config = local::from_zip(
        &local::function_name_from(zip),
        zip,
        &set.zips,
        &run,
        arch,
        overrides,
    )?;
    local::apply(&mut config, overrides)?;
    Ok((config, Some(run)))
}
