//! The measurements behind the report: load through the Invoke API, figures read
//! from the emulator's REPORT lines and `/proc`, instruction counts from callgrind.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig};

use crate::paths::{root_shell, target_dir, workspace_root};

/// A function to start under an emulator: an executable and what it needs.
pub struct Function {
    pub executable: PathBuf,
    pub handler: Option<String>,
    pub task_root: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Invocations one instance serves at once; above 1, the callers share one instance.
    pub max_concurrency: usize,
}

impl Function {
    /// A function that is just an executable (a Rust `bootstrap`).
    pub fn executable(path: &Path) -> Function {
        Function {
            executable: path.to_path_buf(),
            handler: None,
            task_root: None,
            env: Vec::new(),
            max_concurrency: 1,
        }
    }

    fn config(&self, name: &str, concurrency: usize) -> FunctionConfig {
        let mut config = FunctionConfig::new(name, &self.executable);
        config.concurrency = if self.max_concurrency > 1 {
            1
        } else {
            concurrency
        };
        config.max_concurrency = self.max_concurrency;
        config.timeout = Duration::from_secs(60);
        config.memory_mb = 1024;
        if let Some(handler) = &self.handler {
            config.handler.clone_from(handler);
        }
        if let Some(task_root) = &self.task_root {
            config.task_root.clone_from(task_root);
        }
        config.env.extend(self.env.iter().cloned());
        config
    }
}

/// What one warm run under lamina's emulator measured.
pub struct WarmRun {
    pub per_second: f64,
    pub median_latency_us: f64,
    pub init_ms: f64,
    pub peak_rss_kib: f64,
}

/// Starts `function` under lamina's emulator with `concurrency` instances, warms
/// every instance, then makes `invocations` invocations from `concurrency` callers.
pub fn warm_run(
    function: &Function,
    payload: &[u8],
    concurrency: usize,
    invocations: usize,
) -> anyhow::Result<WarmRun> {
    let emulator = Emulator::start(EmulatorConfig::new(vec![
        function.config("bench", concurrency),
    ]))
    .context("starting lamina's emulator")?;
    let url = emulator.invoke_url("bench");
    load(&url, payload, concurrency, 20 * concurrency).context("warming up")?;
    let (elapsed, mut latencies) = load(&url, payload, concurrency, invocations)?;
    let peak_rss_kib = children_peak_rss_kib();
    let logs = emulator.logs("bench");
    emulator.shutdown();

    latencies.sort_unstable();
    let median_latency_us = latencies[latencies.len() / 2].as_secs_f64() * 1e6;
    let init_ms = logs
        .lines()
        .find_map(|line| {
            line.split("Init Duration: ")
                .nth(1)?
                .split(" ms")
                .next()?
                .parse()
                .ok()
        })
        .with_context(|| format!("no `Init Duration` in the emulator's REPORT lines:\n{logs}"))?;
    Ok(WarmRun {
        per_second: invocations as f64 / elapsed.as_secs_f64(),
        median_latency_us,
        init_ms,
        peak_rss_kib: peak_rss_kib.context("no function process found under /proc")? as f64,
    })
}

/// Makes `total` invocations from `callers` threads, each with one keep-alive
/// connection; every answer must be a 200 without `X-Amz-Function-Error`.
/// Returns the wall time of the whole and the latency of each invocation.
pub(super) fn load(
    url: &str,
    payload: &[u8],
    callers: usize,
    total: usize,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let per_thread: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..callers)
            .map(|_| {
                scope.spawn(|| {
                    let agent = ureq::Agent::new_with_defaults();
                    let mut latencies = Vec::new();
                    while next.fetch_add(1, Ordering::Relaxed) < total {
                        let sent = Instant::now();
                        let mut response = agent
                            .post(url)
                            .send(payload)
                            .with_context(|| format!("POST {url}"))?;
                        let body = response.body_mut().read_to_vec()?;
                        latencies.push(sent.elapsed());
                        if response.headers().contains_key("x-amz-function-error") {
                            bail!("the function failed: {}", String::from_utf8_lossy(&body));
                        }
                    }
                    Ok(latencies)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a caller panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut latencies = Vec::with_capacity(total);
    for result in per_thread {
        latencies.extend(result?);
    }
    Ok((elapsed, latencies))
}

/// The largest VmHWM among this process's children (the function processes).
fn children_peak_rss_kib() -> Option<u64> {
    let me = std::process::id().to_string();
    let mut peak = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().trim_end_matches(" kB").trim())
        };
        if field("PPid:") != Some(me.as_str()) {
            continue;
        }
        if let Some(hwm) = field("VmHWM:").and_then(|v| v.parse::<u64>().ok()) {
            peak = Some(peak.map_or(hwm, |p: u64| p.max(hwm)));
        }
    }
    peak
}

/// Instructions one warm invocation costs the function process: two processes
/// under callgrind serve `k` and `2k` invocations and are stopped with SIGTERM
/// (callgrind writes its totals then); their difference divided by `k`.
pub fn instructions_per_invocation(
    executable: &Path,
    payload: &[u8],
    k: usize,
) -> anyhow::Result<f64> {
    let mut totals = Vec::new();
    for invocations in [k, 2 * k] {
        let mut config = EmulatorConfig::new(vec![FunctionConfig::new("bench", executable)]);
        config.runtime_api_only = true;
        let emulator = Emulator::start(config).context("starting lamina's emulator")?;
        let runtime_api = emulator
            .runtime_api("bench")
            .context("the emulator has a Runtime API for `bench`")?;
        let out = target_dir().join(format!("bench/callgrind.{}.out", std::process::id()));
        let mut child = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(executable)
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_REGION", "us-east-1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting valgrind (Debian package `valgrind`)")?;
        let loaded = load(&emulator.invoke_url("bench"), payload, 1, invocations);
        stop(&mut child)?;
        emulator.shutdown();
        loaded?;
        let text =
            std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
        let _ = std::fs::remove_file(&out);
        let total: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("totals:")
                    .or_else(|| l.strip_prefix("summary:"))
            })
            .and_then(|v| v.trim().parse().ok())
            .context("no `totals:` line in callgrind's output")?;
        totals.push(total);
    }
    Ok((totals[1] - totals[0]) / k as f64)
}

fn stop(child: &mut Child) -> anyhow::Result<()> {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .context("kill -TERM")?;
    child.wait().context("waiting for valgrind")?;
    Ok(())
}

/// The size of lamina's function zip for `sample` on `arch`, built by `cargo xtask package`.
pub fn lamina_zip_size(sample: &str, arch: &str) -> anyhow::Result<f64> {
    let xtask = crate::paths::xtask_exe()?;
    let status = Command::new(xtask)
        .args(["package", sample, "--arch", arch])
        .status()?;
    anyhow::ensure!(
        status.success(),
        "cargo xtask package {sample} --arch {arch} failed"
    );
    let zip = target_dir().join(format!("lambda/{sample}/{arch}/bootstrap.zip"));
    Ok(std::fs::metadata(&zip)
        .with_context(|| format!("reading {}", zip.display()))?
        .len() as f64)
}

/// The size of the peer's zip for `arch`, built by `cargo lambda build`.
pub fn cargo_lambda_zip_size(arch: &str) -> anyhow::Result<f64> {
    let sh = root_shell()?;
    sh.change_dir(workspace_root().join("bench/peer-hello"));
    let target = target_dir().join("bench/cargo-lambda-target");
    let lambda_dir = target_dir().join(format!("bench/cargo-lambda/{arch}"));
    let arch_flag = if arch == "arm64" {
        "--arm64"
    } else {
        "--x86-64"
    };
    xshell::cmd!(
        sh,
        "cargo lambda build --quiet --release {arch_flag} --output-format zip --lambda-dir {lambda_dir}"
    )
    .env("CARGO_TARGET_DIR", &target)
    .run()
    .context("cargo lambda build (install it with `pip install cargo-lambda`)")?;
    let zip = lambda_dir.join("bootstrap/bootstrap.zip");
    Ok(std::fs::metadata(&zip)
        .with_context(|| format!("reading {}", zip.display()))?
        .len() as f64)
}

/// Invocations per second of `function` under `cargo lambda watch --only-lambda-apis`,
/// with `concurrency` function processes and as many callers.
pub fn cargo_lambda_run(
    function: &Path,
    payload: &[u8],
    concurrency: usize,
    invocations: usize,
) -> anyhow::Result<f64> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut watch = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "-A",
            "127.0.0.1",
            "-P",
            &port.to_string(),
        ])
        .args(["--concurrency", &concurrency.to_string()])
        .current_dir(workspace_root().join("bench/peer-hello"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting `cargo lambda watch` (install it with `pip install cargo-lambda`)")?;
    let result = (|| {
        wait_for_port(port, Duration::from_secs(60))?;
        let mut functions = Vec::new();
        for _ in 0..concurrency {
            functions.push(
                Command::new(function)
                    .env(
                        "AWS_LAMBDA_RUNTIME_API",
                        format!("http://127.0.0.1:{port}/.rt"),
                    )
                    .env("AWS_LAMBDA_FUNCTION_NAME", "_")
                    .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                    .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()?,
            );
        }
        let url = format!("http://127.0.0.1:{port}/2015-03-31/functions/_/invocations");
        let outcome = load(&url, payload, concurrency, 20 * concurrency)
            .and_then(|_| load(&url, payload, concurrency, invocations));
        for mut f in functions {
            let _ = f.kill();
            let _ = f.wait();
        }
        let (elapsed, _) = outcome?;
        Ok(invocations as f64 / elapsed.as_secs_f64())
    })();
    let _ = watch.kill();
    let _ = watch.wait();
    result
}

fn wait_for_port(port: u16, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > limit {
            bail!("nothing listens on 127.0.0.1:{port} after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Wall time of a command that must succeed, in seconds; its output is discarded.
pub fn time_command(command: &mut Command) -> anyhow::Result<f64> {
    let start = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("running {command:?}"))?;
    let elapsed = start.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(elapsed)
}

/// Writes a deterministic tree of a few thousand files (tens of MB) to `dir`
/// unless it is there already: text-like files of varied size in nested
/// folders, and every 25th file incompressible, like a binary. Returns the
/// number of files and bytes.
pub fn generate_tree(dir: &Path) -> anyhow::Result<(usize, u64)> {
    const FILES: usize = 3000;
    const WORDS: &[&str] = &[
        "lambda",
        "layer",
        "runtime",
        "bootstrap",
        "invoke",
        "event",
        "context",
        "deadline",
        "handler",
        "zip",
        "reproducible",
        "arm64",
        "x86_64",
        "fn",
        "let",
        "match",
        "return",
        "{",
        "}",
        "(",
        ")",
        ";",
    ];
    let marker = dir.with_extension("complete");
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        // xorshift64*: a fixed sequence, so the tree is the same on every machine.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut total = 0u64;
    let exists = marker.is_file();
    if !exists {
        let _ = std::fs::remove_dir_all(dir);
    }
    for i in 0..FILES {
        let path = dir.join(format!("d{:02}/s{:02}/file{i:04}.txt", i % 37, i % 11));
        let mut content = Vec::new();
        if i % 25 == 0 {
            let len = 64 * 1024 + (next() % (128 * 1024)) as usize;
            while content.len() < len {
                content.extend_from_slice(&next().to_le_bytes());
            }
        } else {
            let len = 512 + (next() % (16 * 1024)) as usize;
            while content.len() < len {
                content.extend_from_slice(WORDS[(next() % WORDS.len() as u64) as usize].as_bytes());
                content.push(if next() % 9 == 0 { b'\n' } else { b' ' });
            }
        }
        total += content.len() as u64;
        if !exists {
            std::fs::create_dir_all(path.parent().context("a file in a folder")?)?;
            std::fs::write(&path, &content)?;
        }
    }
    std::fs::write(&marker, b"")?;
    Ok((FILES, total))
}
