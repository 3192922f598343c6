//! `cargo xtask bench`: lamina measured against its peers, in one run, into one
//! markdown report (`target/bench/report.md`). Every figure stands next to a
//! peer's figure from the same run and the ratio between them; each is the
//! median of several runs, with the spread (min–max).

mod baseline;
mod build;
mod measure;
mod pair;
mod report;
mod slots;
mod ttfb;
mod web;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use xshell::cmd;

use crate::paths::{build_host, root_shell, target_dir, workspace_root};
use measure::Function;
use report::{Report, Row, Section, Stats};

#[derive(clap::Args)]
pub struct Args {
    /// Runs of each measurement; the report gives the median and the spread.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Warm invocations in each throughput run.
    #[arg(long, default_value_t = 2000)]
    invocations: usize,
    /// Only these sections (comma-separated): rust, emulator, web, slots, ttfb, layer,
    /// packaging, build.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

const HELLO_EVENT: &[u8] = br#"{"name":"Ada"}"#;

pub fn run(args: Args) -> anyhow::Result<()> {
    // The emulator and the zip writer run inside this process: measure them as users run
    // them, optimized (the dev profile served 2.5x fewer invocations per second).
    if cfg!(debug_assertions) {
        eprintln!("==> rebuilding xtask optimized (profile `tool`) for the measurements");
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args([
                    "run",
                    "--quiet",
                    "--profile",
                    "tool",
                    "--package",
                    "xtask",
                    "--",
                    "bench",
                ])
                .args(std::env::args_os().skip(2))
                .current_dir(crate::paths::workspace_root())
                .status()
                .context("running the optimized xtask")?;
        anyhow::ensure!(status.success(), "the optimized bench failed ({status})");
        return Ok(());
    }
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.invocations >= 10, "--invocations must be at least 10");
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut report = Report::new(args.runs, args.invocations);

    if wanted("rust") || wanted("emulator") {
        eprintln!("==> building sample-hello (lamina) and peer-hello (lambda_runtime), release");
        let lamina = build_host("sample-hello", "bootstrap", "release")?;
        if wanted("rust") {
            let peer = build_peer()?;
            report.push(rust_runtime(&args, &lamina, &peer)?);
        }
        if wanted("emulator") {
            report.push(emulators(&args, &lamina)?);
        }
    }

    if wanted("web") {
        report.push(web::section(args.runs, args.invocations)?);
        report.push(web::convention_section(
            args.runs,
            (args.invocations / 4).max(50),
        )?);
    }
    if wanted("slots") {
        report.push(slots::section(args.runs, args.invocations)?);
    }
    if wanted("ttfb") {
        report.push(ttfb::section(args.runs)?);
    }
    if wanted("layer") {
        report.push(universal_layer(&args)?);
    }
    if wanted("packaging") {
        report.push(packaging(&args)?);
    }
    if wanted("build") {
        report.push(build::section(args.runs, args.runs.min(2))?);
    }

    let out = target_dir().join("bench/report.md");
    let text = report.render();
    crate::fsutil::write_atomic(&out, text.as_bytes())?;
    println!("{text}");
    eprintln!("written to {}", out.display());
    Ok(())
}

/// `peer-hello` (crates.io's `lambda_runtime`), built in its own workspace.
fn build_peer() -> anyhow::Result<PathBuf> {
    let sh = root_shell()?;
    let target = target_dir().join("bench/peer");
    cmd!(sh, "cargo build --quiet --release --manifest-path bench/peer-hello/Cargo.toml --target-dir {target}")
        .run()
        .context("building bench/peer-hello")?;
    Ok(target.join("release/bootstrap"))
}

/// lamina's runtime against `lambda_runtime`: the same function, both under lamina's emulator.
fn rust_runtime(args: &Args, lamina: &Path, peer: &Path) -> anyhow::Result<Section> {
    eprintln!("==> Rust runtime: sample-hello vs lambda_runtime");
    let mut rows = pair::function_rows(args.runs, args.invocations, lamina, peer, HELLO_EVENT)?;
    for arch in ["x86_64", "arm64"] {
        let sizes = (
            Stats::from(measure::lamina_zip_size("sample-hello", arch)?),
            Stats::from(measure::cargo_lambda_zip_size(arch)?),
        );
        rows.push(Row::lower(
            &format!("function zip size, {arch}"),
            "bytes",
            sizes,
        ));
    }
    Ok(Section {
        title: "Rust runtime".into(),
        lamina: "lamina-runtime (`samples/sample-hello`)".into(),
        peer: "crates.io `lambda_runtime` 1.x (`bench/peer-hello`)".into(),
        rows,
        notes: vec![
            "Both functions run under lamina's emulator; release profile (lto, one codegen unit), host build.".into(),
            "Instructions: (I(2k) − I(k)) / k over whole processes that served k and 2k invocations, so start-up cancels out.".into(),
            "Zips: lamina's from `cargo xtask package`, the peer's from `cargo lambda build --release --output-format zip` (PyPI's cargo-lambda).".into(),
        ],
    })
}

/// lamina's emulator against `cargo lambda watch --only-lambda-apis`, serving the same function.
fn emulators(args: &Args, function: &Path) -> anyhow::Result<Section> {
    eprintln!("==> Emulator: lamina vs cargo lambda watch");
    let mut rows = Vec::new();
    for concurrency in [1, 4] {
        let mut pair = (Stats::default(), Stats::default());
        let mut limit = Stats::default();
        for run in 1..=args.runs {
            let raw = baseline::per_second(HELLO_EVENT, concurrency, args.invocations)?;
            let ours = measure::warm_run(
                &Function::executable(function),
                HELLO_EVENT,
                concurrency,
                args.invocations,
            )?;
            let theirs =
                measure::cargo_lambda_run(function, HELLO_EVENT, concurrency, args.invocations)?;
            eprintln!(
                "    run {run}, concurrency {concurrency}: lamina {:.0} inv/s, cargo-lambda {theirs:.0} inv/s, raw loopback {raw:.0} inv/s",
                ours.per_second
            );
            pair.0.push(ours.per_second);
            pair.1.push(theirs);
            limit.push(raw);
        }
        rows.push(
            Row::higher(
                &format!("invocations per second, concurrency {concurrency}"),
                "inv/s",
                pair,
            )
            .with_limit(limit),
        );
    }
    Ok(Section {
        title: "Emulator".into(),
        lamina: "lamina's emulator".into(),
        peer: "`cargo lambda watch --only-lambda-apis` (PyPI's cargo-lambda)".into(),
        rows,
        notes: vec![
            "The function is lamina's `sample-hello` in both, with as many function processes as callers; each caller keeps one connection.".into(),
            "Physical limit: the same two loopback HTTP hops with the same clients (ureq) and server stack (hyper, two tokio workers), an in-process echo function and nothing else (`xtask/src/bench/baseline.rs`), measured in the same run.".into(),
        ],
    })
}

/// The runtime layer's conventions against the bash + curl bootstrap of AWS's
/// custom runtime walkthrough (`bench/universal/bootstrap`), all greeting alike.
fn universal_layer(args: &Args) -> anyhow::Result<Section> {
    eprintln!("==> Universal layer: conventions vs the bash + curl bootstrap");
    let bootstrap = build_host("lamina-bootstrap", "lamina-bootstrap", "release")?;
    let root = workspace_root();
    let adapters = root.join("crates/bootstrap/adapters").display().to_string();
    let lamina = |task_root: &str, handler: &str| Function {
        executable: bootstrap.clone(),
        handler: Some(handler.into()),
        task_root: Some(root.join(task_root)),
        env: vec![("LAMINA_ADAPTERS_DIR".into(), adapters.clone())],
        max_concurrency: 1,
    };
    let baseline = Function {
        executable: root.join("bench/universal/bootstrap"),
        handler: Some("function.handler".into()),
        task_root: Some(root.join("bench/universal")),
        env: Vec::new(),
        max_concurrency: 1,
    };
    let conventions = [
        (
            "worker (`worker:./worker.py`, Python)",
            lamina("bench/universal", "worker:./worker.py"),
        ),
        (
            "`file.function`, Python adapter",
            lamina("samples/sample-python", "handler.handle"),
        ),
        (
            "`file.function`, Perl adapter",
            lamina("samples/sample-perl", "handler.handle"),
        ),
        (
            "`file.function`, shell adapter",
            lamina("samples/sample-shell", "handler.handle"),
        ),
        (
            "executable (`greet.sh`, bash)",
            lamina("samples/sample-shell", "greet.sh"),
        ),
    ];
    // Process-per-event conventions and the baseline run tens per second: fewer invocations.
    let invocations = (args.invocations / 10).max(50);
    let mut baseline_rate = Stats::default();
    let mut rates = vec![Stats::default(); conventions.len()];
    for run in 1..=args.runs {
        let measured = measure::warm_run(&baseline, HELLO_EVENT, 1, invocations)?;
        eprintln!(
            "    run {run}: bash + curl baseline {:.0} inv/s",
            measured.per_second
        );
        baseline_rate.push(measured.per_second);
        for ((name, function), rate) in conventions.iter().zip(&mut rates) {
            let measured = measure::warm_run(function, HELLO_EVENT, 1, invocations)?;
            eprintln!("    run {run}: {name} {:.0} inv/s", measured.per_second);
            rate.push(measured.per_second);
        }
    }
    let rows = conventions
        .iter()
        .zip(rates)
        .map(|((name, _), rate)| {
            Row::higher(
                &format!("{name}: invocations per second"),
                "inv/s",
                (rate, baseline_rate.clone()),
            )
        })
        .collect();
    Ok(Section {
        title: "Universal runtime layer".into(),
        lamina: "lamina's `bootstrap` (release build) with each `_HANDLER` convention".into(),
        peer: "the bash + curl bootstrap of AWS's custom runtime walkthrough (`bench/universal/bootstrap`)".into(),
        rows,
        notes: vec![
            "Concurrency 1 under lamina's emulator; every function answers `{\"message\":\"Hello, Ada!\"}`.".into(),
            "Process-per-event conventions pay a fork and exec of an interpreter per event; workers start it once.".into(),
        ],
    })
}

/// Zipping a large tree against `zip -X -9 -r`, and `package --check` on an unchanged tree.
fn packaging(args: &Args) -> anyhow::Result<Section> {
    eprintln!("==> Packaging: zip writer vs zip -X -9 -r");
    let sh = root_shell()?;
    let tree = target_dir().join("bench/large-tree");
    let (files, bytes) = measure::generate_tree(&tree)?;
    cmd!(
        sh,
        "cargo build --quiet --release --package lamina-layer-builder --example zip_tree"
    )
    .run()?;
    let zip_tree = target_dir().join("release/examples/zip_tree");
    let ours = target_dir().join("bench/large-tree-lamina.zip");
    let theirs = target_dir().join("bench/large-tree-infozip.zip");

    let mut time = (Stats::default(), Stats::default());
    let mut size = (Stats::default(), Stats::default());
    for run in 1..=args.runs {
        let _ = std::fs::remove_file(&theirs);
        let lamina =
            measure::time_command(std::process::Command::new(&zip_tree).arg(&tree).arg(&ours))?;
        let infozip = measure::time_command(
            std::process::Command::new("zip")
                .args(["-X", "-9", "-r", "-q"])
                .arg(&theirs)
                .arg(".")
                .current_dir(&tree),
        )?;
        eprintln!("    run {run}: lamina {lamina:.2} s, zip -X -9 -r {infozip:.2} s");
        time.0.push(lamina);
        time.1.push(infozip);
        size.0.push(std::fs::metadata(&ours)?.len() as f64);
        size.1.push(std::fs::metadata(&theirs)?.len() as f64);
    }

    // `--check` on an unchanged tree against hashing what it must read.
    let xtask = crate::paths::xtask_exe()?;
    cmd!(sh, "{xtask} package sample-hello --arch x86_64")
        .quiet()
        .ignore_stdout()
        .run()?;
    let binary = target_dir().join("x86_64-unknown-linux-musl/release/bootstrap");
    let zip = target_dir().join("lambda/sample-hello/x86_64/bootstrap.zip");
    let mut check = (Stats::default(), Stats::default());
    for _ in 0..args.runs {
        let mut package_check = std::process::Command::new(&xtask);
        package_check.args(["package", "sample-hello", "--arch", "x86_64", "--check"]);
        check.0.push(measure::time_command(&mut package_check)?);
        check.1.push(measure::time_command(
            std::process::Command::new("sha256sum")
                .arg(&binary)
                .arg(&zip),
        )?);
    }
    Ok(Section {
        title: "Packaging".into(),
        lamina: "lamina-layer-builder (deflate level 9, zlib-rs)".into(),
        peer: "Info-ZIP `zip -X -9 -r`; for `--check`, `sha256sum` of the binary and the zip".into(),
        rows: vec![
            Row::lower(&format!("zip a tree of {files} files, {} MB: time", bytes / 1_000_000), "s", time),
            Row::lower("zip a tree: zip size", "bytes", size),
            Row::lower("`cargo xtask package sample-hello --check`, unchanged (x86_64)", "s", check),
        ],
        notes: vec![
            "The tree is generated (`target/bench/large-tree`): text-like files and some incompressible ones.".into(),
            "lamina's zip is byte-reproducible (sorted entries, fixed time, no extra fields); Info-ZIP's is not.".into(),
            "`--check` runs cargo to confirm the binary is fresh, rebuilds the zip in memory and compares.".into(),
        ],
    })
}
