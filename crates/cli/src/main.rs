//! `cargo lamina`: build, check, run and serve Lambda functions of any project. Thin glue:
//! flags are parsed once into settings, then handed to the `lamina_cli` library.

mod cli;
mod remote;
mod serve;

use anyhow::{Context as _, bail};
use clap::Parser as _;
use lamina_cli::compile::Compiler;
use lamina_cli::invoke::{self, InvokeRequest, Target};
use lamina_cli::layer::{LayerBuilder, LayerRef};
use lamina_cli::local::{self, RunFolder};
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
            let compiler = Compiler::for_project(&project);
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
            let compiler = Compiler::for_project(&project);
            let options = options_from_env()?;
            let base = std::env::current_dir()?;
            let layer = match LayerRef::parse(&args.layer, &base, &project)? {
                LayerRef::Remote(name) => bail!(
                    "no layer `{name}`: not a folder with a layer.toml, not layers/{name} of {}, \
                     and not lamina's `runtime`{}",
                    project.root.display(),
                    lamina_cli::suggest::did_you_mean(&name, &["runtime"])
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

fn print_table(built: &[Built]) {
    let refs: Vec<&Built> = built.iter().collect();
    print!("{}", table(&refs));
}

fn invoke(selection: &Selection, args: InvokeArgs) -> anyhow::Result<()> {
    let overrides = args.function.overrides();
    let zip = args.function.zip.clone();
    let bootstrap = args.function.bootstrap.clone();
    let plan = invoke::plan(InvokeRequest {
        local_flag: invoke::local_flag(&overrides, zip.is_some(), bootstrap.is_some()),
        zip,
        bootstrap,
        name: args.name,
        payload: args.payload,
        data_file: args.data_file,
        remote: args.remote,
        aws_given: args.aws.region.is_some()
            || args.aws.endpoint_url.is_some()
            || args.aws.profile.is_some(),
    })?;
    let payload = plan.payload.read()?;
    let (config, run) = match plan.target {
        Target::Remote(name) => {
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
            let tenant = args.tenant.as_deref();
            return remote::invoke(&args.aws, &name, tenant, payload, args.stream || streams);
        }
        Target::Zip(zip) => {
            local::warn_host_view(&overrides);
            let (config, run) = local::zip_function(&zip, &args.function.layers, &overrides)?;
            (config, Some(run))
        }
        Target::Bootstrap(bootstrap) => {
            local::warn_host_view(&overrides);
            (local::bootstrap_function(&bootstrap, &overrides)?, None)
        }
        Target::Project(name) => {
            local::warn_host_view(&overrides);
            let project = Project::discover(selection)?;
            let function = match &name {
                Some(name) => project.function(name)?,
                None => project.only_function()?,
            };
            let run = RunFolder::new(&project.target_dir)?;
            let config = local::project_function(
                &project,
                function,
                &Compiler::for_project(&project),
                &options_from_env()?,
                &overrides,
                &run,
            )?;
            (config, Some(run))
        }
    };
    let name = config.name.clone();
    let streamed = args.stream || config.response_streaming;
    let mut emulator_config = EmulatorConfig::new(vec![config]);
    emulator_config.verbose = args.function.verbose;
    let emulator =
        Emulator::start(emulator_config).context("starting the local Lambda emulator")?;
    let tenant = args.tenant.as_deref();
    let invoked = if streamed {
        emulator.invoke_stream_tenant(&name, tenant, &payload, &mut invoke::print_chunk)
    } else {
        emulator.invoke_tenant(&name, tenant, &payload)
    };
    eprint!("{}", emulator.logs(&name));
    emulator.shutdown();
    drop(run);
    let invoked = invoked.with_context(|| format!("invoking `{name}`"))?;
    let printing = invoke::printing(streamed, invoked.function_error.is_some());
    if printing.end_stream_line {
        println!();
    }
    if printing.payload {
        println!("{}", String::from_utf8_lossy(&invoked.payload));
    }
    if let Some(kind) = invoked.function_error.filter(|_| printing.failed) {
        bail!("the function failed ({kind}); its error is on stdout");
    }
    Ok(())
}
