//! `[[pip]]` with the build machine's `python3 -m pip` and real wheels from PyPI (pip's
//! cache, under the target dir, makes reruns fast): pure and compiled wheels for both
//! architectures, byte-identical rebuilds, RECORDs that hold, the AL2023 ELF check of the
//! compiled wheels, and the errors for a package with no wheel, a wrong hash, an
//! unreachable index, a missing pip and bad spec values.
//!
//! These tests need PyPI: when it cannot be reached they fail with a message saying so.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use lamina_layer_builder::{
    Architecture, Artifact, ArtifactKind, BuildOptions, ElfTarget, Error, Mode, PipInstall,
    PipOptions, Spec, Tree, build, check_tree, check_zip,
};

const SIX: &str = "six==1.16.0\n";
const MARKUPSAFE: &str = "markupsafe==2.1.5\n";
/// The sha256 of six-1.16.0-py2.py3-none-any.whl on PyPI.
const SIX_SHA256: &str = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254";

/// pip's cache, shared by the tests and kept between runs.
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("pip-cache")
}

/// A repository holding `layer/layer.toml` with one `[[pip]]` of `requirements` for
/// Python 3.12.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new(requirements: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("layer");
        fs::create_dir_all(&layer).unwrap();
        fs::write(layer.join("requirements.txt"), requirements).unwrap();
        fs::write(
            layer.join("layer.toml"),
            "[[pip]]\nrequirements = \"requirements.txt\"\npython = \"3.12\"\n",
        )
        .unwrap();
        Repo { dir }
    }

    fn layer(&self) -> PathBuf {
        self.dir.path().join("layer")
    }

    /// Runs `[[pip]]` for `arch` into a new tree, staged in `work`.
    fn install(
        &self,
        arch: Architecture,
        work: &Path,
        python: Option<&Path>,
    ) -> Result<(Tree, Vec<PipInstall>), Error> {
        let spec = Spec::load(&self.layer().join("layer.toml"), ArtifactKind::Layer)?;
        let mut tree = Tree::new();
        let mut options = PipOptions::new(work);
        options.cache_dir = Some(cache_dir());
        if let Some(python) = python {
            options.python = python.to_owned();
        }
        let installs =
            spec.add_pip_into(&mut tree, &self.layer(), self.dir.path(), arch, &options)?;
        Ok((tree, installs))
    }

    /// Builds the layer for `arch` from scratch (a new pip install) into `zip`; the tree
    /// passes the AL2023 ELF check first, as `cargo lamina layer` requires.
    fn build(&self, arch: Architecture, zip: &Path) -> Vec<PipInstall> {
        let work = tempfile::tempdir().unwrap();
        let (tree, installs) = self.install(arch, work.path(), None).unwrap();
        check_tree(&tree, ArtifactKind::Layer, &[], &ElfTarget::al2023(arch))
            .unwrap()
            .into_result("pip layer")
            .unwrap();
        let artifact = Artifact {
            name: "pip".into(),
            kind: ArtifactKind::Layer,
            architecture: arch,
            compatible_runtimes: vec!["provided.al2023".into()],
        };
        build(&tree, &artifact, zip, &BuildOptions::default(), Mode::Write).unwrap();
        installs
    }
}

/// Every entry of a zip: mode, size and name, one a line.
fn listing(zip: &Path) -> String {
    entries(zip)
        .iter()
        .map(|(name, mode, bytes)| format!("{mode:06o} {:>6} {name}", bytes.len()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Name, Unix mode and content of every entry of a zip.
fn entries(zip: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(fs::File::open(zip).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (
                entry.name().unwrap().into_owned(),
                entry.unix_mode().unwrap(),
                bytes,
            )
        })
        .collect()
}

/// Builds `requirements` twice for `arch` from scratch and checks the zips are the same
/// bytes; returns the first zip's path (in `out`).
fn build_twice(requirements: &str, arch: Architecture, out: &Path) -> PathBuf {
    let first = out.join(format!("first-{arch}.zip"));
    let second = out.join(format!("second-{arch}.zip"));
    let installs = Repo::new(requirements).build(arch, &first);
    assert_eq!(installs.len(), 1);
    Repo::new(requirements).build(arch, &second);
    assert_eq!(
        fs::read(&first).unwrap(),
        fs::read(&second).unwrap(),
        "two builds of {requirements:?} for {arch} differ"
    );
    first
}

#[test]
fn pure_wheel_layer_is_byte_identical_across_rebuilds_and_architectures() {
    let out = tempfile::tempdir().unwrap();
    let x86 = build_twice(SIX, Architecture::X86_64, out.path());
    let arm = build_twice(SIX, Architecture::Arm64, out.path());
    // A py2.py3-none-any wheel is the same files for both: the same zip.
    assert_eq!(fs::read(&x86).unwrap(), fs::read(&arm).unwrap());
    insta::assert_snapshot!("pure_wheel_listing", listing(&x86));
}

/// The compiled wheel for `arch`: rebuilt byte for byte, its listing, and the AL2023
/// check of `cargo lamina check` passing for `arch` and failing for the other.
fn compiled_wheel(arch: Architecture, other: Architecture) {
    let out = tempfile::tempdir().unwrap();
    let zip = build_twice(MARKUPSAFE, arch, out.path());
    insta::assert_snapshot!(format!("compiled_wheel_listing_{arch}"), listing(&zip));
    let check = check_zip(&zip, ArtifactKind::Layer, &[], &ElfTarget::al2023(arch)).unwrap();
    assert!(check.is_ok(), "{}", check.render());
    let so = format!(
        "/opt/python/markupsafe/_speedups.cpython-312-{}-linux-gnu.so",
        match arch {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "aarch64",
        }
    );
    assert_eq!(check.files, vec![so], "{}", check.render());
    let wrong = check_zip(&zip, ArtifactKind::Layer, &[], &ElfTarget::al2023(other)).unwrap();
    assert!(!wrong.is_ok(), "the {arch} .so passed as {other}");
}

#[test]
fn compiled_wheel_layer_x86_64() {
    compiled_wheel(Architecture::X86_64, Architecture::Arm64);
}

#[test]
fn compiled_wheel_layer_arm64() {
    compiled_wheel(Architecture::Arm64, Architecture::X86_64);
}

/// charset-normalizer has a console script (pip writes it to `bin/` with this machine's
/// Python in its `#!`) and mypyc-compiled modules.
#[test]
fn records_hold_and_install_traces_are_gone() {
    let out = tempfile::tempdir().unwrap();
    let zip = out.path().join("charset.zip");
    let installs = Repo::new("charset-normalizer==3.3.2\n").build(Architecture::X86_64, &zip);
    assert_eq!(installs[0].distributions, vec!["charset_normalizer 3.3.2"]);
    let entries = entries(&zip);
    let files: Vec<&(String, u32, Vec<u8>)> = entries
        .iter()
        .filter(|(name, _, _)| !name.ends_with('/'))
        .collect();
    for (name, _, _) in &files {
        assert!(name.starts_with("python/"), "{name} outside python/");
        assert!(!name.starts_with("python/bin/"), "script {name} shipped");
        assert!(
            !name.contains("__pycache__") && !name.ends_with(".pyc"),
            "{name}"
        );
        for trace in ["/INSTALLER", "/REQUESTED", "/direct_url.json"] {
            assert!(!name.ends_with(trace), "{name} shipped");
        }
    }
    let records: Vec<_> = files
        .iter()
        .filter(|(name, _, _)| name.ends_with(".dist-info/RECORD"))
        .collect();
    assert_eq!(records.len(), 1);
    let record = String::from_utf8(records[0].2.clone()).unwrap();
    let mut listed: Vec<String> = Vec::new();
    let lines: Vec<&str> = record.lines().collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted, "RECORD rows are sorted");
    for line in lines {
        // No path of this package has a comma, so a plain split reads the rows.
        let fields: Vec<&str> = line.split(',').collect();
        let name = format!("python/{}", fields[0]);
        let (_, _, bytes) = files
            .iter()
            .find(|(n, _, _)| *n == name)
            .unwrap_or_else(|| panic!("RECORD lists {name}, not in the zip"));
        if !fields[1].is_empty() {
            use base64::Engine as _;
            use sha2::Digest as _;
            let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(bytes));
            assert_eq!(fields[1], format!("sha256={hash}"), "{name}");
            assert_eq!(fields[2], bytes.len().to_string(), "{name}");
        }
        listed.push(name);
    }
    for (name, _, _) in &files {
        assert!(listed.contains(name), "{name} is not in RECORD");
    }
    let check = check_zip(
        &zip,
        ArtifactKind::Layer,
        &[],
        &ElfTarget::al2023(Architecture::X86_64),
    )
    .unwrap();
    assert!(
        check.is_ok() && check.files.len() == 2,
        "{}",
        check.render()
    );
}

#[test]
fn hashes_in_the_requirements_file_pin_the_wheel() {
    let work = tempfile::tempdir().unwrap();
    let pinned = Repo::new(&format!("six==1.16.0 --hash=sha256:{SIX_SHA256}\n"));
    let (tree, _) = pinned
        .install(Architecture::Arm64, work.path(), None)
        .unwrap();
    assert!(tree.get("python/six.py").is_some());

    let wrong = Repo::new(&format!("six==1.16.0 --hash=sha256:{}\n", "0".repeat(64)));
    let error = wrong
        .install(Architecture::Arm64, work.path(), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("DO NOT MATCH THE HASHES"), "{error}");
    assert!(error.contains(SIX_SHA256), "{error}");
}

#[test]
fn a_requirement_without_a_wheel_is_named_with_its_line() {
    let work = tempfile::tempdir().unwrap();
    // docopt 0.6.2 is published as an sdist only.
    let repo = Repo::new("six==1.16.0\ndocopt==0.6.2\n");
    let error = repo
        .install(Architecture::X86_64, work.path(), None)
        .unwrap_err()
        .to_string();
    let ours = error.split("\npip: ").next().unwrap();
    insta::assert_snapshot!(ours, @"[[pip]] `requirements.txt` for CPython 3.12 on x86_64 (manylinux, glibc <= 2.34): requirements.txt:2: no wheel of `docopt==0.6.2` for this Python and platform: lamina installs wheels only (--only-binary=:all:) and never builds an sdist; `docopt` may publish only an sdist, or no CPython wheel for manylinux x86_64; pick a version with such a wheel");
    assert!(
        error.contains("ERROR: No matching distribution found for docopt==0.6.2"),
        "{error}"
    );
    assert!(
        fs::read_dir(work.path()).unwrap().next().is_none(),
        "nothing left in the work dir"
    );
}

#[test]
fn an_unreachable_index_says_so() {
    let work = tempfile::tempdir().unwrap();
    // Port 9 on loopback: connection refused, at once.
    let repo = Repo::new("--index-url http://127.0.0.1:9/simple\nsix==1.16.0\n");
    let error = repo
        .install(Architecture::X86_64, work.path(), None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("the package index (PyPI, or the one configured for pip) is unreachable"),
        "{error}"
    );
    assert!(!error.contains("no wheel of"), "{error}");
}

#[test]
fn a_missing_python_or_pip_is_named() {
    let work = tempfile::tempdir().unwrap();
    let repo = Repo::new(SIX);
    let missing = repo
        .install(
            Architecture::X86_64,
            work.path(),
            Some(Path::new("/nonexistent/python3")),
        )
        .unwrap_err();
    insta::assert_snapshot!(missing.to_string(), @"[[pip]] needs `/nonexistent/python3 -m pip` (pip >= 23) on the build machine: `/nonexistent/python3` is not installed (on Debian: apt-get install python3-pip)");

    let venv = work.path().join("venv");
    let made = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .expect("python3 is needed (Debian: python3, python3-venv)");
    assert!(made.success());
    let python = venv.join("bin/python3");
    let no_pip = repo
        .install(Architecture::X86_64, work.path(), Some(&python))
        .unwrap_err()
        .to_string()
        .replace(&work.path().display().to_string(), "$WORK");
    assert!(
        no_pip.starts_with("[[pip]] needs `$WORK/venv/bin/python3 -m pip` (pip >= 23) on the build machine: pip is not installed for it ("),
        "{no_pip}"
    );
    assert!(no_pip.contains("No module named pip"), "{no_pip}");
}

#[test]
fn spec_values_are_refused_with_file_line_and_key() {
    let layer = Path::new("layers/py/layer.toml");
    let refused = |text: &str, kind| Spec::parse(text, layer, kind).unwrap_err().to_string();
    let messages = [
        refused(
            "description = \"x\"\n[[pip]]\nrequirements = \"requirements.txt\"\npython = \"3\"\n",
            ArtifactKind::Layer,
        ),
        refused(
            "[[pip]]\nrequirements = \"/etc/requirements.txt\"\npython = \"3.12\"\n",
            ArtifactKind::Layer,
        ),
        refused(
            "[[pip]]\nrequirements = \"requirements.txt\"\npython = \"3.12\"\n",
            ArtifactKind::Function,
        ),
        refused(
            "[[pip]]\nrequirements = \"requirements.txt\"\npython = \"3.12\"\nplatform = \"x\"\n",
            ArtifactKind::Layer,
        ),
        refused(
            "[[pip]]\nrequirements = \"requirements.txt\"\n",
            ArtifactKind::Layer,
        ),
        refused(
            "compatible-runtimes = [\"python3.11\"]\n[[pip]]\nrequirements = \"r.txt\"\npython = \"3.12\"\n",
            ArtifactKind::Layer,
        ),
    ];
    insta::assert_snapshot!(messages.join("\n---\n"));
}

#[test]
fn a_requirements_file_outside_the_repository_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let repo = Repo::new(SIX);
    fs::write(repo.dir.path().join("outside.txt"), SIX).unwrap();
    fs::write(
        repo.layer().join("layer.toml"),
        "[[pip]]\nrequirements = \"../outside.txt\"\npython = \"3.12\"\n",
    )
    .unwrap();
    let spec = Spec::load(&repo.layer().join("layer.toml"), ArtifactKind::Layer).unwrap();
    // The layer's own folder is the root: `../outside.txt` leaves it.
    let error = spec
        .add_pip_into(
            &mut Tree::new(),
            &repo.layer(),
            &repo.layer(),
            Architecture::X86_64,
            &PipOptions::new(work.path()),
        )
        .unwrap_err();
    assert!(matches!(error, Error::SourceOutsideRoot { .. }), "{error}");
}
