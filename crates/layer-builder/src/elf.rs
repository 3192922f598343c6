//! `[[elf]]`: programs and shared libraries of the build machine put into a tree together
//! with the closure of libraries they need (resolved by `lamina-elf` from the files
//! themselves, never by running `ldd`), leaving out what `provided.al2023` has.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use lamina_context::facts;
use lamina_elf::{
    Arch, Closure, ElfInfo, FileKind, GlibcVersion, Problem, ProvidedLibraries, ResolveOptions,
    RootFile, RpathError, set_rpath,
};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::manifest::{Architecture, ArtifactKind};
use crate::tree::{Content, FileMode, Tree};

/// The folder `lib/` of an artifact of `kind` is on Lambda, where bundled libraries go: a
/// layer's `/opt/lib` (last on `LD_LIBRARY_PATH`), a function's `/var/task/lib` (after
/// `/lib64`).
pub fn library_dir(kind: ArtifactKind) -> String {
    let root = match kind {
        ArtifactKind::Layer => facts::OPT_DIR,
        ArtifactKind::Function => facts::TASK_ROOT,
    };
    format!("{root}/lib")
}

/// `[[elf]]`: an executable or shared library of the build machine.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ElfSpec {
    /// An absolute path on the build machine (under `[elf-options] sysroot` for the
    /// architecture, if set). `{triplet}` becomes `x86_64-linux-gnu` or
    /// `aarch64-linux-gnu`.
    pub from: String,
    /// Destination in the tree; `bin/<file name>` for executables and
    /// `lib/<soname>` for libraries by default.
    #[serde(default)]
    pub to: Option<String>,
}

/// `[elf-options]`: how `[[elf]]` files' libraries are looked for.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ElfOptions {
    /// Extra directories searched for libraries (after `DT_RPATH`, before `DT_RUNPATH`,
    /// as `LD_LIBRARY_PATH` is), absolute paths under the sysroot.
    #[serde(default)]
    pub search: Vec<String>,
    /// Per architecture, a folder holding that architecture's file system (e.g. an
    /// unpacked arm64 image); `/` when not given.
    #[serde(default)]
    pub sysroot: BTreeMap<Architecture, String>,
}

/// What the files of a tree must run on: an architecture, the newest glibc, and the
/// libraries the image provides.
#[derive(Clone, Debug)]
pub struct ElfTarget {
    /// The architecture every ELF file must be built for.
    pub arch: Architecture,
    /// The newest glibc symbol version allowed.
    pub max_glibc: GlibcVersion,
    /// Libraries the image has: left out of layers, and found on Lambda.
    pub provided: ProvidedLibraries,
}

impl ElfTarget {
    /// Lambda's `provided.al2023` on `arch`: glibc 2.34 and the image's library list.
    pub fn al2023(arch: Architecture) -> Self {
        ElfTarget {
            arch,
            max_glibc: GlibcVersion::AL2023,
            provided: ProvidedLibraries::al2023(elf_arch(arch)),
        }
    }
}

/// `lamina-elf`'s name for a Lambda architecture.
pub fn elf_arch(arch: Architecture) -> Arch {
    match arch {
        Architecture::X86_64 => Arch::X86_64,
        Architecture::Arm64 => Arch::Aarch64,
    }
}

/// One file `[[elf]]` put into the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedFile {
    /// Its path in the tree.
    pub dest: String,
    /// The file read on the build machine (symlinks followed).
    pub source: PathBuf,
    /// Why it is there: `program`, `library` (named in the spec) or `needed by ...`.
    pub reason: String,
}

/// How a program was made to find a bundled library before the image's copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpathFix {
    /// The program's path in the tree.
    pub dest: String,
    /// The bundled library sonames it makes win.
    pub sonames: Vec<String>,
    /// The `DT_RPATH` set: `/opt/lib` in a layer, `/var/task/lib` in a function.
    pub rpath: String,
    /// `in place` (lamina-elf) or `patchelf`.
    pub how: &'static str,
}

/// What `[[elf]]` did for one architecture: the closure and the files placed.
#[derive(Clone, Debug)]
pub struct ElfBundle {
    /// The closure of the spec's files.
    pub closure: Closure,
    /// Every file placed in the tree, in tree order.
    pub placed: Vec<PlacedFile>,
    /// Programs given a `DT_RPATH` of `/opt/lib`.
    pub rpath_fixes: Vec<RpathFix>,
}

impl ElfBundle {
    /// The closure report followed by what went where. Paths under `base` are shown
    /// relative to it (stable in tests); others as they are.
    pub fn render(&self, base: Option<&Path>) -> String {
        let show = |path: &Path| match base.and_then(|b| path.strip_prefix(b).ok()) {
            Some(rel) => rel.display().to_string(),
            None => path.display().to_string(),
        };
        let mut out = self.closure.render(base);
        out.push_str("placed:\n");
        let width = self.placed.iter().map(|p| p.dest.len()).max().unwrap_or(0);
        for file in &self.placed {
            out.push_str(&format!(
                "  {:width$}  <- {} ({})\n",
                file.dest,
                show(&file.source),
                file.reason
            ));
        }
        if !self.rpath_fixes.is_empty() {
            out.push_str("shadowing fixed:\n");
        }
        for fix in &self.rpath_fixes {
            out.push_str(&format!(
                "  {}: DT_RPATH={} ({}) so the bundled {} win(s) over /lib64\n",
                fix.dest,
                fix.rpath,
                fix.how,
                fix.sonames.join(", ")
            ));
        }
        out
    }
}

/// Resolves the closure of `specs` for `target`, refuses anything that would fail on
/// Lambda (wrong architecture, glibc too new, missing library, glibc bundled, ...), and
/// adds the programs (to `bin/`), the libraries named (to `lib/`) and every library they
/// need that the image lacks (to `lib/<soname>`) to `tree`. A bundled library with the
/// soname of one the image provides is made to win for the programs that need it with a
/// `DT_RPATH` of `lib/` as Lambda sees it (`/opt/lib` for a layer, `/var/task/lib` for a
/// function; [`library_dir`]) on their copies (in place, or with `patchelf` when the file
/// has no room for it). Returns `None` when there are no `[[elf]]` entries.
///
/// The decisions (where a file is read from, which problems stop the build, where each
/// file goes) are the pure functions below; this reads the files and fills the tree.
pub fn add_elf_files(
    specs: &[ElfSpec],
    options: &ElfOptions,
    tree: &mut Tree,
    kind: ArtifactKind,
    target: &ElfTarget,
) -> Result<Option<ElfBundle>> {
    if specs.is_empty() {
        return Ok(None);
    }
    let rpath = library_dir(kind);
    let arch = elf_arch(target.arch);
    let sysroot = sysroot(options, target.arch);
    let roots = specs
        .iter()
        .map(|spec| read_source(spec, arch, &sysroot))
        .collect::<Result<Vec<_>>>()?;
    let search = search_dirs(options, &sysroot);
    let resolve = ResolveOptions {
        arch,
        sysroot: &sysroot,
        extra_search_dirs: &search,
        provided: &target.provided,
        max_glibc: target.max_glibc,
        use_ld_so_conf: true,
    };
    let closure = Closure::resolve(&roots, &resolve).map_err(|e| Error::ElfSource {
        from: e.to_string(),
        message: "cannot be used as an [[elf]] file".into(),
    })?;
    let rpath_wanted = rpath_wanted(&closure, target.arch)?;

    let mut placed = Vec::new();
    let mut rpath_fixes = Vec::new();
    for (spec, root) in specs.iter().zip(&closure.roots) {
        let sonames = rpath_wanted.get(&root.path);
        let (file, fix) = place_root(tree, spec, root, sonames, &rpath)?;
        placed.push(file);
        rpath_fixes.extend(fix);
    }
    for (soname, real) in closure.bundled() {
        let dest = format!("lib/{soname}");
        tree.add_file(
            &dest,
            Content::Disk(real.to_owned()),
            disk_mode(real)?,
            &format!("library `{}` needed by [[elf]] files", real.display()),
        )?;
        placed.push(PlacedFile {
            dest,
            source: real.to_owned(),
            reason: format!("needed by {}", needed_by(&closure, soname)),
        });
    }
    placed.sort_by(|a, b| a.dest.cmp(&b.dest));
    Ok(Some(ElfBundle {
        closure,
        placed,
        rpath_fixes,
    }))
}

/// Adds a file named in the spec to `tree` where [`root_destination`] puts it, its copy
/// given a `DT_RPATH` of `rpath` when `sonames` (bundled libraries it must find before the
/// image's) is given.
fn place_root(
    tree: &mut Tree,
    spec: &ElfSpec,
    root: &RootFile,
    sonames: Option<&Vec<String>>,
    rpath: &str,
) -> Result<(PlacedFile, Option<RpathFix>)> {
    let (dest, is_program) = root_destination(spec, root);
    let real = fs::canonicalize(&root.path).map_err(|e| Error::io("reading", &root.path, e))?;
    let mode = if is_program {
        FileMode::Executable
    } else {
        disk_mode(&real)?
    };
    let (content, fix) = match sonames {
        Some(sonames) => {
            let (bytes, how) = with_rpath(&real, rpath)?;
            let fix = RpathFix {
                dest: dest.clone(),
                sonames: sonames.clone(),
                rpath: rpath.to_owned(),
                how,
            };
            (Content::Inline(bytes), Some(fix))
        }
        None => (Content::Disk(real.clone()), None),
    };
    tree.add_file(&dest, content, mode, &format!("[[elf]] `{}`", spec.from))?;
    let file = PlacedFile {
        dest,
        source: real,
        reason: if is_program { "program" } else { "library" }.to_owned(),
    };
    Ok((file, fix))
}

/// Reads `spec`'s file on the build machine: it must be a file and parse as ELF (the
/// closure reads it again; this only names a bad `from` with the fix).
fn read_source(spec: &ElfSpec, arch: Arch, sysroot: &Path) -> Result<PathBuf> {
    let host = source_path(spec, arch, sysroot)?;
    if !host.is_file() {
        return Err(not_a_file(spec, &host, sysroot));
    }
    let bytes = fs::read(&host).map_err(|e| Error::io("reading", &host, e))?;
    match ElfInfo::parse(&bytes) {
        Ok(_) => Ok(host),
        Err(error) => Err(not_elf(spec, &host, &error)),
    }
}

/// The folder holding `arch`'s file system: `[elf-options] sysroot`'s, else `/`.
fn sysroot(options: &ElfOptions, arch: Architecture) -> PathBuf {
    PathBuf::from(
        options
            .sysroot
            .get(&arch)
            .map(String::as_str)
            .unwrap_or("/"),
    )
}

/// Where `spec`'s file is on the build machine: `{triplet}` filled in for `arch`, under
/// `sysroot`. A relative `from` is refused: it would depend on where the build runs.
fn source_path(spec: &ElfSpec, arch: Arch, sysroot: &Path) -> Result<PathBuf> {
    let from = spec.from.replace("{triplet}", arch.multiarch_triplet());
    if !from.starts_with('/') {
        return Err(Error::ElfSource {
            from: spec.from.clone(),
            message: "must be an absolute path on the build machine (e.g. /usr/bin/jq)".into(),
        });
    }
    Ok(sysroot.join(from.trim_start_matches('/')))
}

/// `spec`'s file, `host`, is not there: install it (in the sysroot, if one is used).
fn not_a_file(spec: &ElfSpec, host: &Path, sysroot: &Path) -> Error {
    Error::ElfSource {
        from: spec.from.clone(),
        message: format!(
            "{} is not a file; install the package that provides it{}",
            host.display(),
            if sysroot == Path::new("/") {
                String::new()
            } else {
                format!(" in the sysroot {}", sysroot.display())
            }
        ),
    }
}

/// `spec`'s file, `host`, is not ELF: `[[copy]]` takes anything else.
fn not_elf(spec: &ElfSpec, host: &Path, error: &dyn std::fmt::Display) -> Error {
    Error::ElfSource {
        from: spec.from.clone(),
        message: format!(
            "{} is not a usable ELF file ({error}); [[elf]] takes executables and \
             shared libraries, use [[copy]] for anything else",
            host.display()
        ),
    }
}

/// `[elf-options] search`, each folder under `sysroot`.
fn search_dirs(options: &ElfOptions, sysroot: &Path) -> Vec<PathBuf> {
    options
        .search
        .iter()
        .map(|dir| sysroot.join(dir.trim_start_matches('/')))
        .collect()
}

/// Which programs need a `DT_RPATH` (each with the bundled sonames it makes win), or why
/// the closure cannot be used: a shadowed library needed by programs is fixed by their
/// `DT_RPATH`; every other problem (a shadowed library no program needs included) stops
/// the build, all named at once.
fn rpath_wanted(closure: &Closure, arch: Architecture) -> Result<BTreeMap<PathBuf, Vec<String>>> {
    let mut wanted: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut refused = Vec::new();
    for problem in &closure.problems {
        match problem {
            Problem::Shadowed {
                soname, programs, ..
            } if !programs.is_empty() => {
                for program in programs {
                    wanted
                        .entry(program.clone())
                        .or_default()
                        .push(soname.clone());
                }
            }
            other => refused.push(other.to_string()),
        }
    }
    if !refused.is_empty() {
        return Err(Error::ElfClosure {
            arch,
            problems: refused,
            report: closure.render(None),
        });
    }
    Ok(wanted)
}

/// Where a file named in the spec goes in the tree, and whether it is a program: `to`
/// if given, else `bin/<file name>` for a program and `lib/<soname>` (or its file name,
/// without a soname) for a library.
fn root_destination(spec: &ElfSpec, root: &RootFile) -> (String, bool) {
    let is_program = is_program(root);
    let file_name = root
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let dest = match &spec.to {
        Some(to) => to.clone(),
        None if is_program => format!("bin/{file_name}"),
        None => format!("lib/{}", root.info.soname.as_deref().unwrap_or(file_name)),
    };
    (dest, is_program)
}

/// The file names of the files that need `soname`, joined by `, ` (empty when nothing
/// does).
fn needed_by(closure: &Closure, soname: &str) -> String {
    closure
        .library(soname)
        .map(|lib| {
            lib.needed_by
                .iter()
                .filter_map(|p| p.file_name().and_then(|n| n.to_str()))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// A file the loader starts as a program (it has an interpreter, or is `ET_EXEC`).
fn is_program(root: &RootFile) -> bool {
    root.info.interpreter.is_some() || root.info.kind == FileKind::Executable
}

fn disk_mode(path: &Path) -> Result<FileMode> {
    let metadata = fs::metadata(path).map_err(|e| Error::io("reading", path, e))?;
    Ok(FileMode::from_disk(metadata.permissions().mode()))
}

/// The bytes of `path` with a `DT_RPATH` of `rpath`: edited in place by lamina-elf when
/// the file has room, otherwise by `patchelf` (which moves sections to make room).
fn with_rpath(path: &Path, rpath: &str) -> Result<(Vec<u8>, &'static str)> {
    let mut bytes = fs::read(path).map_err(|e| Error::io("reading", path, e))?;
    match set_rpath(&mut bytes, rpath) {
        Ok(_) => return Ok((bytes, "in place")),
        Err(RpathError::NoRoom { .. }) => {}
        Err(other) => {
            return Err(Error::Rpath {
                path: path.to_owned(),
                message: other.to_string(),
            });
        }
    }
    let scratch = tempfile::Builder::new()
        .prefix(".lamina-rpath-")
        .tempfile()
        .map_err(|e| Error::io("creating a temporary file for", path, e))?;
    fs::write(scratch.path(), &bytes).map_err(|e| Error::io("writing", scratch.path(), e))?;
    let output = Command::new("patchelf")
        .args(["--force-rpath", "--set-rpath", rpath])
        .arg(scratch.path())
        .output();
    match output {
        Ok(output) if output.status.success() => {
            let patched =
                fs::read(scratch.path()).map_err(|e| Error::io("reading", scratch.path(), e))?;
            Ok((patched, "patchelf"))
        }
        Ok(output) => Err(Error::Rpath {
            path: path.to_owned(),
            message: format!(
                "patchelf --force-rpath --set-rpath {rpath} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        }),
        Err(error) => Err(Error::Rpath {
            path: path.to_owned(),
            message: format!(
                "it has no DT_RPATH/DT_RUNPATH string to rewrite in place, and patchelf could \
                 not be run ({error}); install it (Debian package patchelf)"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundled library's folder is one Lambda's `LD_LIBRARY_PATH` searches, under the
    /// artifact's root: what an `[[elf]]` program's `DT_RPATH` names must be there.
    #[test]
    fn library_dirs_are_on_lambdas_library_path() {
        let path = facts::ld_library_path(facts::TASK_ROOT);
        let searched: Vec<&str> = path.split(':').collect();
        for (kind, root) in [
            (ArtifactKind::Layer, facts::OPT_DIR),
            (ArtifactKind::Function, facts::TASK_ROOT),
        ] {
            let dir = library_dir(kind);
            assert!(searched.contains(&dir.as_str()), "{dir} not in {path}");
            assert_eq!(dir.strip_prefix(root), Some("/lib"));
        }
    }

    fn spec(from: &str, to: Option<&str>) -> ElfSpec {
        ElfSpec {
            from: from.into(),
            to: to.map(str::to_owned),
        }
    }

    fn root(
        path: &str,
        kind: FileKind,
        interpreter: Option<&str>,
        soname: Option<&str>,
    ) -> RootFile {
        RootFile {
            path: path.into(),
            info: ElfInfo {
                class: lamina_elf::ElfClass::Elf64,
                little_endian: true,
                machine: 62,
                kind,
                interpreter: interpreter.map(str::to_owned),
                is_dynamic: true,
                soname: soname.map(str::to_owned),
                needed: Vec::new(),
                rpath: Vec::new(),
                runpath: Vec::new(),
                version_needs: Vec::new(),
            },
        }
    }

    fn closure(problems: Vec<Problem>, libraries: Vec<lamina_elf::Library>) -> Closure {
        Closure {
            arch: Arch::X86_64,
            max_glibc: GlibcVersion::AL2023,
            roots: Vec::new(),
            libraries,
            problems,
        }
    }

    fn shadowed(soname: &str, programs: &[&str]) -> Problem {
        Problem::Shadowed {
            path: format!("/usr/lib/{soname}").into(),
            soname: soname.into(),
            needed_by: programs.iter().map(PathBuf::from).collect(),
            programs: programs.iter().map(PathBuf::from).collect(),
        }
    }

    fn message(error: Error) -> String {
        error.to_string()
    }

    /// `{triplet}` is the architecture's, the path is read under the sysroot, and a
    /// relative `from` is refused naming it as written.
    #[test]
    fn a_source_is_read_under_the_sysroot_with_its_triplet() {
        let arm = spec("/usr/lib/{triplet}/libz.so.1", None);
        assert_eq!(
            source_path(&arm, Arch::Aarch64, Path::new("/srv/arm64")).unwrap(),
            Path::new("/srv/arm64/usr/lib/aarch64-linux-gnu/libz.so.1")
        );
        assert_eq!(
            source_path(&arm, Arch::X86_64, Path::new("/")).unwrap(),
            Path::new("/usr/lib/x86_64-linux-gnu/libz.so.1")
        );
        let relative = source_path(&spec("bin/jq", None), Arch::X86_64, Path::new("/"));
        insta::assert_snapshot!(
            message(relative.unwrap_err()),
            @"[[elf]] `bin/jq`: must be an absolute path on the build machine (e.g. /usr/bin/jq)"
        );
    }

    /// The sysroot is the architecture's when `[elf-options]` names one, else `/`; search
    /// folders are under it.
    #[test]
    fn sysroot_and_search_folders_are_per_architecture() {
        let options = ElfOptions {
            search: vec!["/opt/jq/lib".into()],
            sysroot: BTreeMap::from([(Architecture::Arm64, "/srv/arm64".into())]),
        };
        assert_eq!(
            sysroot(&options, Architecture::Arm64),
            Path::new("/srv/arm64")
        );
        assert_eq!(sysroot(&options, Architecture::X86_64), Path::new("/"));
        assert_eq!(
            search_dirs(&options, Path::new("/srv/arm64")),
            [PathBuf::from("/srv/arm64/opt/jq/lib")]
        );
        assert_eq!(
            search_dirs(&options, Path::new("/")),
            [PathBuf::from("/opt/jq/lib")]
        );
    }

    /// A missing file says what to install, and where when a sysroot is used; a file that
    /// is not ELF points to `[[copy]]`.
    #[test]
    fn a_bad_source_names_the_fix() {
        let jq = spec("/usr/bin/jq", None);
        insta::assert_snapshot!(
            message(not_a_file(&jq, Path::new("/usr/bin/jq"), Path::new("/"))),
            @"[[elf]] `/usr/bin/jq`: /usr/bin/jq is not a file; install the package that provides it"
        );
        insta::assert_snapshot!(
            message(not_a_file(&jq, Path::new("/srv/arm64/usr/bin/jq"), Path::new("/srv/arm64"))),
            @"[[elf]] `/usr/bin/jq`: /srv/arm64/usr/bin/jq is not a file; install the package that provides it in the sysroot /srv/arm64"
        );
        insta::assert_snapshot!(
            message(not_elf(&jq, Path::new("/usr/bin/jq"), &lamina_elf::ElfError::NotElf)),
            @"[[elf]] `/usr/bin/jq`: /usr/bin/jq is not a usable ELF file (not an ELF file (no \\x7fELF magic at the start)); [[elf]] takes executables and shared libraries, use [[copy]] for anything else"
        );
    }

    /// A shadowed library that programs need is fixed by their `DT_RPATH` (each program
    /// collects its sonames); one that no program needs, and any other problem, stops the
    /// build, every refusal named at once.
    #[test]
    fn shadowing_of_programs_is_fixed_and_everything_else_refused() {
        let fixable = closure(
            vec![
                shadowed("libssl.so.3", &["/usr/bin/a", "/usr/bin/b"]),
                shadowed("libcrypto.so.3", &["/usr/bin/a"]),
            ],
            Vec::new(),
        );
        let wanted = rpath_wanted(&fixable, Architecture::X86_64).unwrap();
        assert_eq!(
            wanted,
            BTreeMap::from([
                (
                    PathBuf::from("/usr/bin/a"),
                    vec!["libssl.so.3".to_owned(), "libcrypto.so.3".to_owned()]
                ),
                (PathBuf::from("/usr/bin/b"), vec!["libssl.so.3".to_owned()]),
            ])
        );
        assert!(
            rpath_wanted(&closure(Vec::new(), Vec::new()), Architecture::X86_64)
                .unwrap()
                .is_empty()
        );

        let refused = closure(
            vec![
                shadowed("libssl.so.3", &["/usr/bin/a"]),
                shadowed("libz.so.1", &[]),
                Problem::BundlesGlibc {
                    path: "/lib/libc.so.6".into(),
                    soname: "libc.so.6".into(),
                },
            ],
            Vec::new(),
        );
        match rpath_wanted(&refused, Architecture::Arm64) {
            Err(Error::ElfClosure { arch, problems, .. }) => {
                assert_eq!(arch, Architecture::Arm64);
                assert_eq!(problems.len(), 2, "{problems:?}");
                assert!(problems[0].contains("libz.so.1"), "{problems:?}");
                assert!(problems[1].contains("libc.so.6"), "{problems:?}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A program goes to `bin/<file name>`, a library to `lib/<soname>` (its file name
    /// without one), `to` wins; an `ET_EXEC` file without an interpreter is a program too.
    #[test]
    fn each_named_file_has_its_place() {
        let exe = root(
            "/usr/bin/jq",
            FileKind::SharedObject,
            Some("/lib64/ld-linux-x86-64.so.2"),
            None,
        );
        let lib = root(
            "/usr/lib/libjq.so.1.0.4",
            FileKind::SharedObject,
            None,
            Some("libjq.so.1"),
        );
        let bare = root("/usr/lib/plugin.so", FileKind::SharedObject, None, None);
        let exec = root("/usr/bin/static", FileKind::Executable, None, None);
        let place =
            |from: &str, to: Option<&str>, root: &RootFile| root_destination(&spec(from, to), root);
        assert_eq!(place("/usr/bin/jq", None, &exe), ("bin/jq".into(), true));
        assert_eq!(
            place("/usr/lib/libjq.so.1.0.4", None, &lib),
            ("lib/libjq.so.1".into(), false)
        );
        assert_eq!(
            place("/usr/lib/plugin.so", None, &bare),
            ("lib/plugin.so".into(), false)
        );
        assert_eq!(
            place("/usr/bin/static", None, &exec),
            ("bin/static".into(), true)
        );
        assert_eq!(
            place("/usr/bin/jq", Some("tools/jq"), &exe),
            ("tools/jq".into(), true)
        );
    }

    /// A bundled library's reason names the files that need it by file name.
    #[test]
    fn a_bundled_library_names_what_needs_it() {
        let library = lamina_elf::Library {
            soname: "libonig.so.5".into(),
            needed_by: vec!["/usr/bin/jq".into(), "/usr/lib/libjq.so.1".into()],
            needed_by_roots: vec!["/usr/bin/jq".into()],
            resolution: lamina_elf::Resolution::Missing,
        };
        let closure = closure(Vec::new(), vec![library]);
        assert_eq!(needed_by(&closure, "libonig.so.5"), "jq, libjq.so.1");
        assert_eq!(needed_by(&closure, "libother.so.1"), "");
    }
}
