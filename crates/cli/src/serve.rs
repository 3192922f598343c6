//! `cargo lamina serve [--watch]`: every function of the project under the local Lambda's
//! Invoke API, each under its own name; with `--watch`, a function whose sources change is
//! rebuilt and the local Lambda restarted on the same port (a failed build keeps the last
//! good one serving).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use lamina_cli::local::{self, Overrides, RunFolder};
use lamina_cli::package::options_from_env;
use lamina_cli::project::{Function, Project, Selection};
use lamina_emulator::{AsyncConfig, Emulator, EmulatorConfig, FunctionConfig};

use crate::cli::ServeArgs;
use lamina_cli::compile::Compiler;

/// What wakes the serving loop.
enum Wake {
    /// Ctrl-C (SIGINT), SIGTERM or SIGHUP.
    Stop,
    /// A file under a watched folder changed.
    Changed(PathBuf),
}

pub fn run(selection: &Selection, args: ServeArgs) -> anyhow::Result<()> {
    let overrides = args.function.overrides();
    local::warn_host_view(&overrides);
    let (wake_tx, wake_rx) = mpsc::channel();
    spawn_signal_listener(wake_tx.clone())?;

    let named = if args.function.zip.is_some() {
        Some("--zip")
    } else if args.function.bootstrap.is_some() {
        Some("--bootstrap")
    } else {
        None
    };
    if let Some(flag) = named {
        // Each of these flags means a function of the project: refused rather than dropped.
        if args.watch {
            bail!("--watch rebuilds the project's functions; {flag} is run as it is");
        }
        if args.runtime_api_only {
            bail!(
                "--runtime-api-only starts no process; {flag} names the process to start \
                 (start it yourself with the printed AWS_LAMBDA_RUNTIME_API instead)"
            );
        }
        if let Some(name) = args.names.first() {
            bail!("give either function names (`{name}`) or {flag}, not both");
        }
    }
    if let Some(zip) = &args.function.zip {
        let (mut config, run) = local::zip_function(zip, &args.function.layers, &overrides)?;
        instances(&mut config, &args);
        let emulator = start(vec![config], &args)?;
        let _ = wake_rx.recv();
        stop(&emulator);
        drop(run);
        return Ok(());
    }
    if let Some(bootstrap) = &args.function.bootstrap {
        let mut config = local::bootstrap_function(bootstrap, &overrides)?;
        instances(&mut config, &args);
        let emulator = start(vec![config], &args)?;
        let _ = wake_rx.recv();
        stop(&emulator);
        return Ok(());
    }

    if args.runtime_api_only {
        return runtime_api_only(selection, &args, &overrides, &wake_rx);
    }
    let project = Project::discover(selection)?;
    let functions: Vec<Function> = project
        .selected(&args.names)?
        .into_iter()
        .cloned()
        .collect();
    let run = RunFolder::new(&project.target_dir)?;
    let mut configs = Vec::new();
    for function in &functions {
        configs.push(configure(&project, function, &overrides, &args, &run)?);
    }
    let mut emulator = start(configs.clone(), &args)?;
    // A restart keeps the port, even when `--port 0` picked it.
    let args = ServeArgs {
        port: emulator.addr().port(),
        ..args
    };

    // The watcher lives as long as the loop: dropping it stops the events.
    let _watcher = if args.watch {
        Some(watch(&project, &functions, wake_tx)?)
    } else {
        None
    };
    while let Ok(Wake::Changed(changed)) = wake_rx.recv() {
        // Editors write a file in several steps: let them settle, then take every change.
        std::thread::sleep(Duration::from_millis(300));
        let mut paths = vec![changed];
        let mut stop = false;
        while let Ok(wake) = wake_rx.try_recv() {
            match wake {
                Wake::Changed(path) => paths.push(path),
                Wake::Stop => stop = true,
            }
        }
        if stop {
            break;
        }
        let touched: Vec<usize> = functions
            .iter()
            .enumerate()
            .filter(|(_, f)| paths.iter().any(|p| p.starts_with(&f.dir)))
            .map(|(index, _)| index)
            .collect();
        if touched.is_empty() {
            continue;
        }
        let mut rebuilt = configs.clone();
        let mut failed = false;
        for index in touched {
            let function = &functions[index];
            eprintln!(
                "change in {}: rebuilding `{}`",
                function.dir.display(),
                function.name
            );
            match configure(&project, function, &overrides, &args, &run) {
                Ok(config) => rebuilt[index] = config,
                Err(error) => {
                    eprintln!(
                        "error: {error:#}\n(`{}` keeps serving its last good build)",
                        function.name
                    );
                    failed = true;
                }
            }
        }
        if failed {
            continue;
        }
        emulator.shutdown();
        configs = rebuilt;
        emulator = start(configs.clone(), &args)?;
    }
    stop(&emulator);
    drop(run);
    Ok(())
}

/// Ends every instance (its processes and cgroup). Says so on stderr only if it still can:
/// after a closed terminal (SIGHUP) stderr fails, and `eprintln!` would panic there.
fn stop(emulator: &Emulator) {
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr(),
        "stopping: killing the functions' processes"
    );
    emulator.shutdown();
}

/// `--concurrency` and `--max-concurrency`, for every way of naming a function.
fn instances(config: &mut FunctionConfig, args: &ServeArgs) {
    config.concurrency = args.concurrency;
    if let Some(slots) = args.max_concurrency {
        // Checked against Lambda's 1..=1600 when parsed: it fits.
        config.max_concurrency = usize::try_from(slots).unwrap_or(1);
    }
}

/// `--runtime-api-only`: the Runtime API of each function (the project's, or one named
/// `function` outside a project), for runtimes started by hand.
fn runtime_api_only(
    selection: &Selection,
    args: &ServeArgs,
    overrides: &Overrides,
    wake: &mpsc::Receiver<Wake>,
) -> anyhow::Result<()> {
    let functions: Vec<(String, Option<lamina_cli::spec::FunctionSpec>)> =
        match Project::discover(selection) {
            Ok(project) if !project.functions.is_empty() => project
                .selected(&args.names)?
                .into_iter()
                .map(|f| (f.name.clone(), Some(f.spec.clone())))
                .collect(),
            _ => vec![("function".to_owned(), None)],
        };
    let mut configs = Vec::new();
    for (name, spec) in functions {
        let mut config = FunctionConfig::new(name, "bootstrap");
        // A runtime under a debugger stops for minutes: Lambda's longest timeout by default.
        config.timeout = Duration::from_secs(900);
        if let Some(spec) = spec {
            config.memory_mb = spec.memory_mb;
            config.response_streaming = spec.streams();
            config.max_concurrency = usize::try_from(spec.max_concurrency).unwrap_or(1);
            config.env = spec.environment.into_iter().collect();
            if let Some(handler) = spec.handler {
                config.handler = handler;
            }
        }
        local::apply(&mut config, overrides)?;
        instances(&mut config, args);
        configs.push(config);
    }
    let names: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
    let mut config = EmulatorConfig::new(configs);
    config.port = args.port;
    config.log_to_stderr = true;
    config.strict_names = true;
    config.runtime_api_only = true;
    config.runtime_api_port = args.runtime_api_port;
    config.async_invokes = async_invokes(args);
    config.allowed_hosts = args.allow_host.clone();
    config.allowed_origins = args.allow_origin.clone();
    let emulator = Emulator::start(config).context("starting the local Lambda")?;
    println!("Invoke API: {}", emulator.endpoint_url());
    for name in names {
        if let Some(runtime_api) = emulator.runtime_api(&name) {
            println!("  {name}: start its runtime with AWS_LAMBDA_RUNTIME_API={runtime_api}");
        }
    }
    println!("No process is started; /next waits until an invocation arrives. Ctrl-C stops.");
    let _ = wake.recv();
    stop(&emulator);
    Ok(())
}

fn configure(
    project: &Project,
    function: &Function,
    overrides: &Overrides,
    args: &ServeArgs,
    run: &RunFolder,
) -> anyhow::Result<FunctionConfig> {
    let mut config = local::project_function(
        project,
        function,
        &Compiler::for_project(project),
        &options_from_env()?,
        overrides,
        run,
    )?;
    instances(&mut config, args);
    Ok(config)
}

fn start(functions: Vec<FunctionConfig>, args: &ServeArgs) -> anyhow::Result<Emulator> {
    let names: Vec<String> = functions.iter().map(|f| f.name.clone()).collect();
    let mut config = EmulatorConfig::new(functions);
    config.port = args.port;
    config.log_to_stderr = true;
    config.verbose = args.function.verbose;
    config.strict_names = true;
    config.async_invokes = async_invokes(args);
    config.allowed_hosts = args.allow_host.clone();
    config.allowed_origins = args.allow_origin.clone();
    config.http_event = args.http_event;
    config.http_port = args.http_port;
    let emulator = Emulator::start(config).with_context(|| {
        format!(
            "starting the local Lambda on port {} (try --port 0 for any free port)",
            args.port
        )
    })?;
    println!("Invoke API: {}", emulator.endpoint_url());
    for name in &names {
        println!("  {name}: curl -s -d '{{}}' {}", emulator.invoke_url(name));
        println!(
            "  {name} over HTTP: curl -s {}/lambda-url/{name}/",
            emulator.endpoint_url()
        );
    }
    if let (Some(addr), Some(first)) = (emulator.http_addr(), names.first()) {
        println!("  {first} at its own URL: curl -s http://{addr}/");
    }
    if let Some(dir) = &args.on_failure {
        println!(
            "Event invocations that fail every attempt are written to {}",
            dir.display()
        );
    }
    println!("Function logs follow on stderr. Ctrl-C stops.");
    Ok(emulator)
}

/// How Event invocations are retried and where those that fail every attempt go.
fn async_invokes(args: &ServeArgs) -> AsyncConfig {
    let mut config = AsyncConfig::default();
    config.retries = args.async_retries;
    if let Some(first) = args.async_retry_delay {
        // Lambda waits about twice as long before the second retry as before the first.
        config.retry_delays = [first, first * 2];
    }
    config.on_failure = args.on_failure.clone();
    config
}

/// Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed) become [`Wake::Stop`], on a
/// thread of their own: each ends the functions' processes, cgroups and run folder, where the
/// default action would leave them frozen until the next emulator starts.
fn spawn_signal_listener(wake: mpsc::Sender<Wake>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the signal listener")?;
    let mut signals = Vec::new();
    for (kind, name) in [
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::hangup(), "SIGHUP"),
    ] {
        let listener = runtime
            .block_on(async { signal(kind) })
            .with_context(|| format!("listening for {name}"))?;
        signals.push(listener);
    }
    std::thread::spawn(move || {
        runtime.block_on(async {
            let [interrupt, terminate, hangup] = &mut signals[..] else {
                return;
            };
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = terminate.recv() => {},
                _ = hangup.recv() => {},
            }
        });
        let _ = wake.send(Wake::Stop);
    });
    Ok(())
}

/// Watches each function's folder (its sources and spec), not the build output.
fn watch(
    project: &Project,
    functions: &[Function],
    wake: mpsc::Sender<Wake>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let target = project.target_dir.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if !(event.kind.is_create() || event.kind.is_modify() || event.kind.is_remove()) {
            return;
        }
        for path in event.paths {
            if !ignored(&path, &target) {
                let _ = wake.send(Wake::Changed(path));
            }
        }
    })
    .context("starting the file watcher")?;
    for function in functions {
        watcher
            .watch(&function.dir, notify::RecursiveMode::Recursive)
            .with_context(|| format!("watching {}", function.dir.display()))?;
    }
    eprintln!("watching the functions' folders for changes");
    Ok(watcher)
}

/// Build output and hidden files (editor swap files, `.git`) never trigger a rebuild.
fn ignored(path: &Path, target: &Path) -> bool {
    path.starts_with(target)
        || path.components().any(|c| {
            c.as_os_str()
                .to_str()
                .is_some_and(|s| s.starts_with('.') && s.len() > 1 || s == "target")
        })
}
