//! What `cargo xtask ci` needs on the machine, each proved by a smoke run of the tool
//! itself rather than by its presence: `aarch64-linux-gnu-gcc --version` succeeds on a
//! machine that cannot link anything for arm64 (no `libc6-dev-arm64-cross`, so no `crti.o`),
//! and such a machine was green only by chance.

use std::path::Path;

use anyhow::{Context as _, bail};
use xshell::{Shell, cmd};

/// One tool the tests use: the Debian packages that provide it and a smoke run that
/// succeeds only when it really works.
pub struct Prerequisite {
    /// What the tests use it for, printed when it is missing.
    pub name: &'static str,
    /// The Debian packages to install, with `--no-install-recommends`.
    pub packages: &'static [&'static str],
    /// Proves the tool works, in a scratch folder.
    pub smoke: fn(&Shell, &Path) -> anyhow::Result<()>,
}

fn quiet(sh: &Shell, program: &str, args: &[&str]) -> anyhow::Result<()> {
    cmd!(sh, "{program} {args...}")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .map_err(anyhow::Error::from)
}

/// Every prerequisite of the tests, in the order they are proved.
pub const DEBIAN: &[Prerequisite] = &[
    Prerequisite {
        name: "qemu-aarch64 (runs the arm64 binaries and layers)",
        packages: &["qemu-user"],
        smoke: |sh, _| quiet(sh, "qemu-aarch64", &["--version"]),
    },
    Prerequisite {
        name: "aarch64 C cross toolchain with its libc (builds arm64 shared libraries for the closure tests)",
        packages: &["gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
        smoke: cross_link_and_run_arm64,
    },
    Prerequisite {
        name: "curl (the HTTP client of the shell-script functions)",
        packages: &["curl"],
        smoke: |sh, _| quiet(sh, "curl", &["--version"]),
    },
    Prerequisite {
        name: "zip and unzip (peers of lamina's zip writer)",
        packages: &["zip", "unzip"],
        smoke: zip_round_trip,
    },
    Prerequisite {
        name: "perl (the Perl adapter and samples)",
        packages: &["perl"],
        smoke: |sh, _| quiet(sh, "perl", &["-e", "exit 0"]),
    },
    Prerequisite {
        name: "Debian's archive keyring (apt checks Debian 11's perl packages for layers/perl with it)",
        packages: &["debian-archive-keyring"],
        smoke: |_, _| {
            let keyring = Path::new("/usr/share/keyrings/debian-archive-keyring.gpg");
            if !keyring.is_file() {
                bail!("{} is missing", keyring.display());
            }
            Ok(())
        },
    },
    Prerequisite {
        name: "python3 with venv (the Python adapter, actionlint and moto from PyPI)",
        packages: &["python3", "python3-venv"],
        // A whole venv, pip included: Debian's python3 makes one `--without-pip` even without
        // python3-venv, whose ensurepip is what the moto and actionlint venvs need (a fresh
        // Debian 12 with python3 but not python3-venv passed a `--without-pip` smoke, then
        // failed creating the moto venv).
        smoke: |sh, dir| {
            let venv = dir.join("venv");
            quiet(sh, "python3", &["-m", "venv", &venv.to_string_lossy()])
        },
    },
    Prerequisite {
        name: "pip >= 23 for python3 (layer-builder's [[pip]] installs wheels from PyPI with it)",
        packages: &["python3-pip"],
        smoke: pip_23,
    },
    Prerequisite {
        name: "xmlstarlet (the tool of layers/xmlstarlet)",
        packages: &["xmlstarlet"],
        smoke: |sh, _| quiet(sh, "xmlstarlet", &["--version"]),
    },
    Prerequisite {
        name: "jq (refused by the layer checks for its glibc)",
        packages: &["jq"],
        smoke: |sh, _| quiet(sh, "jq", &["--version"]),
    },
    Prerequisite {
        name: "patchelf (sets RPATHs that cannot be edited in place)",
        packages: &["patchelf"],
        smoke: |sh, _| quiet(sh, "patchelf", &["--version"]),
    },
    // Node.js apart from its build chain: a machine with NodeSource's nodejs (node, npm and
    // the headers in one package, conflicting with Debian's npm) needs only the tools.
    Prerequisite {
        name: "Node.js and npm, with its headers (npm's aws-lambda-ric builds its native client against them)",
        packages: &["nodejs", "npm", "libnode-dev"],
        smoke: node_with_headers,
    },
    Prerequisite {
        name: "a C++ build chain (aws-lambda-ric's install scripts build curl and aws-lambda-cpp)",
        packages: &["g++", "make", "cmake", "autoconf", "automake", "libtool"],
        smoke: |sh, _| {
            for tool in ["g++", "make", "cmake", "autoreconf", "libtoolize"] {
                quiet(sh, tool, &["--version"]).with_context(|| format!("{tool} --version"))?;
            }
            Ok(())
        },
    },
    Prerequisite {
        name: "java (lamina-elf resolves libjli through RPATH $ORIGIN)",
        packages: &["openjdk-17-jre-headless"],
        smoke: |sh, _| quiet(sh, "java", &["-version"]),
    },
];

/// Cross-compiles a shared library and a program that links it for arm64, then runs the
/// program under qemu-aarch64: what the arm64 closure tests do, in one second.
fn cross_link_and_run_arm64(sh: &Shell, dir: &Path) -> anyhow::Result<()> {
    let dir = dir.join("arm64");
    sh.create_dir(&dir)?;
    let _cd = sh.push_dir(&dir);
    sh.write_file("lib.c", "int answer(void) { return 42; }\n")?;
    sh.write_file(
        "main.c",
        "int answer(void);\nint main(void) { return answer() == 42 ? 0 : 1; }\n",
    )?;
    cmd!(
        sh,
        "aarch64-linux-gnu-gcc -shared -fPIC -o libsmoke.so lib.c"
    )
    .quiet()
    .run()
    .context("linking an arm64 shared library")?;
    cmd!(sh, "aarch64-linux-gnu-gcc -o smoke main.c -L. -lsmoke")
        .quiet()
        .run()
        .context("linking an arm64 program against it")?;
    cmd!(
        sh,
        "qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=. ./smoke"
    )
    .quiet()
    .run()
    .context("running it under qemu-aarch64")?;
    Ok(())
}

/// node and npm run, and Node.js's headers are where node-gyp is pointed.
fn node_with_headers(sh: &Shell, _: &Path) -> anyhow::Result<()> {
    quiet(sh, "node", &["--version"])?;
    quiet(sh, "npm", &["--version"])?;
    let headers = Path::new("/usr/include/node/node_api.h");
    if !headers.is_file() {
        bail!("{} is missing (libnode-dev)", headers.display());
    }
    Ok(())
}

/// `python3 -m pip --version` says pip 23 or newer (Debian 12 has 23.0.1): `[[pip]]` refuses
/// older ones.
fn pip_23(sh: &Shell, _: &Path) -> anyhow::Result<()> {
    let said = cmd!(sh, "python3 -m pip --version").quiet().read()?;
    let major: u32 = said
        .split_whitespace()
        .nth(1)
        .and_then(|version| version.split('.').next())
        .and_then(|major| major.parse().ok())
        .with_context(|| format!("unexpected `python3 -m pip --version` output {said:?}"))?;
    if major < 23 {
        bail!("{said}: [[pip]] needs pip 23 or newer");
    }
    Ok(())
}

/// Zips a file with `zip` and reads it back with `unzip`.
fn zip_round_trip(sh: &Shell, dir: &Path) -> anyhow::Result<()> {
    let _cd = sh.push_dir(dir);
    sh.write_file("zipped.txt", "smoke\n")?;
    cmd!(sh, "zip -q -X smoke.zip zipped.txt").quiet().run()?;
    let listed = cmd!(sh, "unzip -Z1 smoke.zip").quiet().read()?;
    if listed.trim() != "zipped.txt" {
        bail!("unzip listed {listed:?}, not zipped.txt");
    }
    Ok(())
}

/// Runs every smoke check; returns the prerequisites that failed, each with its reason.
pub fn failing(sh: &Shell) -> anyhow::Result<Vec<(&'static Prerequisite, anyhow::Error)>> {
    let scratch = tempfile::tempdir().context("making a scratch folder for the smoke runs")?;
    let mut failed = Vec::new();
    for (index, prerequisite) in DEBIAN.iter().enumerate() {
        let dir = scratch.path().join(index.to_string());
        sh.create_dir(&dir)?;
        if let Err(error) = (prerequisite.smoke)(sh, &dir) {
            failed.push((prerequisite, error));
        }
    }
    Ok(failed)
}

/// Compiles and links a program for each Lambda target the way lamina's builds do (static
/// musl, `rust-lld`, no C toolchain) and runs it, the arm64 one under qemu-aarch64.
pub fn prove_rust_targets(sh: &Shell, targets: &[&str]) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("making a scratch folder for the smoke runs")?;
    let _cd = sh.push_dir(scratch.path());
    sh.write_file("smoke.rs", "fn main() { println!(\"smoke\"); }\n")?;
    for target in targets {
        let exe = format!("smoke-{target}");
        cmd!(
            sh,
            "rustc --edition 2021 --target {target} -C linker=rust-lld -C linker-flavor=ld.lld -o {exe} smoke.rs"
        )
        .quiet()
        .run()
        .with_context(|| format!("linking a program for {target} with rust-lld"))?;
        let exe = scratch.path().join(&exe);
        let foreign = target.starts_with("aarch64") && std::env::consts::ARCH != "aarch64";
        let run = if foreign {
            cmd!(sh, "qemu-aarch64 {exe}")
        } else {
            cmd!(sh, "{exe}")
        };
        let printed = run
            .quiet()
            .read()
            .with_context(|| format!("running the {target} program"))?;
        if printed.trim() != "smoke" {
            bail!("the {target} program printed {printed:?}, not smoke");
        }
    }
    Ok(())
}
