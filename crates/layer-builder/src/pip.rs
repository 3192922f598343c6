//! `[[pip]]`: a requirements file resolved by the build machine's pip to wheels for the
//! layer's architecture and a CPython version, installed under `python/` (`/opt/python`,
//! on the `sys.path` of AWS's managed Python runtimes), with what pip writes about the
//! install itself taken out, so two builds of the same wheels give the same bytes.
//!
//! pip runs as `pip install --target` with `--only-binary=:all:`: it never builds an
//! sdist (a compiler's output is not reproducible, and the build machine's glibc is not
//! Lambda's). The platform tags asked for are manylinux up to the glibc of
//! `provided.al2023`, so every wheel picked can load there; the ELF checks of the layer
//! prove it file by file afterwards.

use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;

use lamina_context::facts;
use lamina_elf::GlibcVersion;
use serde::Deserialize;
use toml::Spanned;

use crate::error::{Error, Result};
use crate::manifest::{Architecture, ArtifactKind};
use crate::tree::Tree;

/// The oldest pip run: 23 is the first that knows PEP 668 (Debian 12's is 23.0.1), so its
/// override (`PIP_BREAK_SYSTEM_PACKAGES`, harmless with `--target`) means what we set it for.
const MIN_PIP_MAJOR: u32 = 23;

/// The oldest glibc minor asked for by name: manylinux2014's (glibc 2.17); pip adds the
/// older manylinux2010/manylinux1 tags itself after `manylinux2014_<arch>`.
const OLDEST_MANYLINUX_MINOR: u16 = 17;

/// `[[pip]]`: Python packages of a requirements file, as wheels for the layer's
/// architectures and `python`, installed into `python/` (`/opt/python` on Lambda).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PipSpec {
    /// The requirements file, relative to the spec's folder; must stay inside the
    /// repository. pip reads it as usual: pins, `--hash` (then every requirement needs
    /// one), `-c`, `--index-url`.
    pub requirements: Spanned<String>,
    /// The CPython version the wheels are for, `3.N` (e.g. `"3.12"`).
    pub python: Spanned<String>,
}

/// How `[[pip]]` runs pip.
#[derive(Clone, Debug)]
pub struct PipOptions {
    /// The Python whose pip runs (`python3`, looked up on `PATH`, by default).
    pub python: PathBuf,
    /// Where the installed trees are kept, one folder per `[[pip]]`; they must outlive
    /// the zip's writing, which reads the files from there.
    pub work_dir: PathBuf,
    /// pip's `--cache-dir`; pip's own default when `None`.
    pub cache_dir: Option<PathBuf>,
}

impl PipOptions {
    /// `python3` on `PATH`, pip's default cache, trees kept in `work_dir`.
    pub fn new(work_dir: impl Into<PathBuf>) -> Self {
        PipOptions {
            python: PathBuf::from("python3"),
            work_dir: work_dir.into(),
            cache_dir: None,
        }
    }
}

/// What one `[[pip]]` installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipInstall {
    /// The requirements file as the spec names it.
    pub requirements: String,
    /// What the wheels were chosen for, e.g. `CPython 3.12 on arm64 (manylinux, glibc <= 2.34)`.
    pub target: String,
    /// The pip that chose them (`pip 23.0.1`).
    pub pip: String,
    /// The distributions installed, `name version`, sorted by name.
    pub distributions: Vec<String>,
    /// The staged tree, added to the layer at `python/`.
    pub dir: PathBuf,
}

impl PipInstall {
    /// One line: the requirements file, the target, and what was installed.
    pub fn render(&self) -> String {
        format!(
            "[[pip]] {} for {} ({}): {}\n",
            self.requirements,
            self.target,
            self.pip,
            if self.distributions.is_empty() {
                "nothing".to_owned()
            } else {
                self.distributions.join(", ")
            }
        )
    }
}

/// The tree folder `[[pip]]` installs into: `/opt/python` seen from `/opt`.
pub fn python_dir() -> &'static str {
    let opt = facts::OPT_DIR;
    facts::LAYER_PYTHON_DIR
        .strip_prefix(opt)
        .map_or(facts::LAYER_PYTHON_DIR, |rest| rest.trim_start_matches('/'))
}

/// Checks the `[[pip]]` tables of a spec: layers only, a relative requirements path, a
/// `3.N` Python that is the one of any `pythonX.Y` runtime the layer is for. Errors name
/// the spec file and line.
pub(crate) fn check_specs(
    specs: &[PipSpec],
    runtimes: &[String],
    kind: ArtifactKind,
    text: &str,
    path: &Path,
) -> Result<()> {
    let refuse = |span: Range<usize>, key: &str, message: String| {
        let line = text
            .get(..span.start)
            .map_or(0, |t| t.matches('\n').count())
            + 1;
        Err(Error::SpecValue {
            path: path.to_owned(),
            line,
            key: key.to_owned(),
            message,
        })
    };
    for pip in specs {
        let requirements = pip.requirements.get_ref();
        if kind == ArtifactKind::Function {
            return refuse(
                pip.requirements.span(),
                "pip.requirements",
                "[[pip]] is for layers (it installs into /opt/python): put the packages in a \
                 layer and name it in the function's `layers`"
                    .into(),
            );
        }
        if requirements.is_empty() || Path::new(requirements).is_absolute() {
            return refuse(
                pip.requirements.span(),
                "pip.requirements",
                format!("{requirements:?}: a file relative to the spec's folder"),
            );
        }
        if python_minor(pip.python.get_ref()).is_none() {
            return refuse(
                pip.python.span(),
                "pip.python",
                format!(
                    "{:?}: a CPython version like \"3.12\"",
                    pip.python.get_ref()
                ),
            );
        }
        let wanted = format!("python{}", pip.python.get_ref());
        if let Some(other) = runtimes
            .iter()
            .find(|r| r.starts_with("python") && **r != wanted)
        {
            return refuse(
                pip.python.span(),
                "pip.python",
                format!(
                    "{:?}, but `compatible-runtimes` names {other}: wheels for one CPython \
                     do not import in another",
                    pip.python.get_ref()
                ),
            );
        }
    }
    Ok(())
}

/// The minor of `3.N`, digits only.
fn python_minor(version: &str) -> Option<u16> {
    let minor = version.strip_prefix("3.")?;
    if minor.is_empty() || !minor.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    minor.parse().ok()
}

/// Installs each `[[pip]]` requirements file's wheels for `arch` into `tree` at `python/`
/// (see [`Spec::add_pip_into`](crate::Spec::add_pip_into)).
pub(crate) fn add_pip(
    specs: &[PipSpec],
    tree: &mut Tree,
    spec_dir: &Path,
    repo_root: &Path,
    arch: Architecture,
    options: &PipOptions,
) -> Result<Vec<PipInstall>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let pip = pip_version(&options.python)?;
    fs::create_dir_all(&options.work_dir)
        .map_err(|e| Error::io("creating", &options.work_dir, e))?;
    let mut installs = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        let requirements = requirements_path(spec.requirements.get_ref(), spec_dir, repo_root)?;
        let dir = options.work_dir.join(index.to_string());
        let mut install = install(spec, &requirements, arch, options, &dir)?;
        install.pip = pip.clone();
        tree.add_folder(python_dir(), &dir)?;
        installs.push(install);
    }
    Ok(installs)
}

/// `pip X.Y.Z` of `python -m pip`, refused when missing or older than [`MIN_PIP_MAJOR`].
fn pip_version(python: &Path) -> Result<String> {
    let unavailable = |message: String| Error::PipUnavailable {
        python: python.display().to_string(),
        message,
    };
    let output = Command::new(python)
        .args(["-m", "pip", "--version"])
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .output()
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => unavailable(format!(
                "`{}` is not installed (on Debian: apt-get install python3-pip)",
                python.display()
            )),
            _ => unavailable(format!("cannot run `{}`: {e}", python.display())),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = stderr.lines().last().unwrap_or("").trim();
        return Err(unavailable(format!(
            "pip is not installed for it ({said}; on Debian: apt-get install python3-pip)"
        )));
    }
    let version = stdout
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| unavailable(format!("unexpected `pip --version` output {stdout:?}")))?;
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .ok_or_else(|| unavailable(format!("unexpected pip version {version:?}")))?;
    if major < MIN_PIP_MAJOR {
        return Err(unavailable(format!(
            "pip {version} is too old (upgrade it, e.g. in a venv: pip install --upgrade pip)"
        )));
    }
    Ok(format!("pip {version}"))
}

/// The requirements file: relative to `spec_dir`, and after following symlinks inside
/// `root`.
fn requirements_path(from: &str, spec_dir: &Path, root: &Path) -> Result<PathBuf> {
    let root = root
        .canonicalize()
        .map_err(|e| Error::io("reading", root, e))?;
    let joined = spec_dir.join(from);
    let resolved = joined
        .canonicalize()
        .map_err(|e| Error::io("reading the [[pip]] requirements", &joined, e))?;
    if !resolved.starts_with(&root) {
        return Err(Error::SourceOutsideRoot {
            path: from.to_owned(),
            root,
        });
    }
    Ok(resolved)
}

/// The platform tags asked for, newest first: `manylinux_2_34_<machine>` down to
/// manylinux2014's.
fn platforms(arch: Architecture) -> Vec<String> {
    let machine = machine(arch);
    let glibc = GlibcVersion::AL2023;
    (OLDEST_MANYLINUX_MINOR..=glibc.minor)
        .rev()
        .map(|minor| format!("manylinux_{}_{minor}_{machine}", glibc.major))
        .chain([format!("manylinux2014_{machine}")])
        .collect()
}

/// The machine name of wheel platform tags.
pub(crate) fn machine(arch: Architecture) -> &'static str {
    match arch {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "aarch64",
    }
}

/// Runs pip into a temporary folder beside `dir`, normalises what it wrote, and renames
/// it to `dir` (replacing an older install).
fn install(
    spec: &PipSpec,
    requirements: &Path,
    arch: Architecture,
    options: &PipOptions,
    dir: &Path,
) -> Result<PipInstall> {
    let python = spec.python.get_ref();
    let target = format!(
        "CPython {python} on {arch} (manylinux, glibc <= {})",
        GlibcVersion::AL2023
    );
    let fail = |message: String| Error::Pip {
        requirements: spec.requirements.get_ref().clone(),
        target: target.clone(),
        message,
    };
    let stage = tempfile::Builder::new()
        .prefix(".pip-")
        .tempdir_in(&options.work_dir)
        .map_err(|e| Error::io("creating a temporary folder in", &options.work_dir, e))?;
    let site = stage.path().join("python");
    let mut command = Command::new(&options.python);
    command
        .args([
            "-m",
            "pip",
            "install",
            "--no-input",
            "--disable-pip-version-check",
        ])
        .args([
            "--root-user-action=ignore",
            "--no-compile",
            "--no-warn-script-location",
        ])
        .args(["--only-binary=:all:", "--implementation", "cp"])
        .args(["--python-version", python]);
    for platform in platforms(arch) {
        command.arg("--platform").arg(platform);
    }
    command.arg("--target").arg(&site);
    command.arg("--requirement").arg(requirements);
    if let Some(cache) = &options.cache_dir {
        command.arg("--cache-dir").arg(cache);
    }
    // `--target` never touches the Python that runs pip, which is what PEP 668 protects;
    // upstream pip skips its check for `--target`, some distributions' builds do not.
    command
        .env("PIP_BREAK_SYSTEM_PACKAGES", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    if let Some(folder) = requirements.parent() {
        command.current_dir(folder);
    }
    let output = command
        .output()
        .map_err(|e| fail(format!("cannot run `{}`: {e}", options.python.display())))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let named = spec.requirements.get_ref();
        return Err(fail(crate::pip_errors::explain(
            &stderr,
            requirements,
            named,
            machine(arch),
        )));
    }
    fs::create_dir_all(&site).map_err(|e| Error::io("creating", &site, e))?;
    let distributions = crate::pip_record::normalise(&site, &fail)?;
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::io("removing", dir, e))?;
    }
    fs::rename(&site, dir).map_err(|e| Error::io("renaming a pip install to", dir, e))?;
    Ok(PipInstall {
        requirements: spec.requirements.get_ref().clone(),
        target,
        pip: String::new(),
        distributions,
        dir: dir.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_versions() {
        assert_eq!(python_minor("3.12"), Some(12));
        assert_eq!(python_minor("3.9"), Some(9));
        for bad in ["3", "3.", "3.+1", "2.7", "3.12.1", "py3.12", " 3.12"] {
            assert_eq!(python_minor(bad), None, "{bad}");
        }
    }

    #[test]
    fn platform_tags_reach_al2023_glibc() {
        let tags = platforms(Architecture::Arm64);
        assert_eq!(
            tags.first().map(String::as_str),
            Some("manylinux_2_34_aarch64")
        );
        assert!(tags.contains(&"manylinux_2_17_aarch64".to_owned()));
        assert_eq!(
            tags.last().map(String::as_str),
            Some("manylinux2014_aarch64")
        );
    }

    #[test]
    fn python_dir_is_under_opt() {
        assert_eq!(python_dir(), "python");
    }
}
