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
pub fn add_elf_files(
    specs: &[ElfSpec],
    options: &ElfOptions,
    tree: &mut Tree,
    kind: ArtifactKind,
    target: &ElfTarget,
) -> Result<Option<ElfBundle>> {
    let rpath = library_dir(kind);
    if specs.is_empty() {
        return Ok(None);
    }
    let arch = elf_arch(target.arch);
    let sysroot = PathBuf::from(
        options
            .sysroot
            .get(&target.arch)
            .map(String::as_str)
            .unwrap_or("/"),
    );
    let mut roots = Vec::new();
    for spec in specs {
        let from = spec.from.replace("{triplet}", arch.multiarch_triplet());
        if !from.starts_with('/') {
            return Err(Error::ElfSource {
                from: spec.from.clone(),
                message: "must be an absolute path on the build machine (e.g. /usr/bin/jq)".into(),
            });
        }
        let host = sysroot.join(from.trim_start_matches('/'));
        if !host.is_file() {
            return Err(Error::ElfSource {
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
            });
        }
        let bytes = fs::read(&host).map_err(|e| Error::io("reading", &host, e))?;
        if let Err(error) = ElfInfo::parse(&bytes) {
            return Err(Error::ElfSource {
                from: spec.from.clone(),
                message: format!(
                    "{} is not a usable ELF file ({error}); [[elf]] takes executables and \
                     shared libraries, use [[copy]] for anything else",
                    host.display()
                ),
            });
        }
        roots.push(host);
    }
    let search: Vec<PathBuf> = options
        .search
        .iter()
        .map(|dir| sysroot.join(dir.trim_start_matches('/')))
        .collect();
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

    // Shadowing is fixed here; everything else stops the build.
    let mut rpath_wanted: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut refused = Vec::new();
    for problem in &closure.problems {
        match problem {
            Problem::Shadowed {
                soname, programs, ..
            } if !programs.is_empty() => {
                for program in programs {
                    rpath_wanted
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
            arch: target.arch,
            problems: refused,
            report: closure.render(None),
        });
    }

    let mut placed = Vec::new();
    let mut rpath_fixes = Vec::new();
    for (spec, root) in specs.iter().zip(&closure.roots) {
        let is_program = is_program(root);
        let file_name = root
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let dest = match &spec.to {
            Some(to) => to.clone(),
            None if is_program => format!("bin/{file_name}"),
            None => format!("lib/{}", root.info.soname.as_deref().unwrap_or(&file_name)),
        };
        let real = fs::canonicalize(&root.path).map_err(|e| Error::io("reading", &root.path, e))?;
        let origin = format!("[[elf]] `{}`", spec.from);
        let mode = if is_program {
            FileMode::Executable
        } else {
            disk_mode(&real)?
        };
        let content = match rpath_wanted.get(&root.path) {
            Some(sonames) => {
                let (bytes, how) = with_rpath(&real, &rpath)?;
                rpath_fixes.push(RpathFix {
                    dest: dest.clone(),
                    sonames: sonames.clone(),
                    rpath: rpath.clone(),
                    how,
                });
                Content::Inline(bytes)
            }
            None => Content::Disk(real.clone()),
        };
        tree.add_file(&dest, content, mode, &origin)?;
        placed.push(PlacedFile {
            dest,
            source: real,
            reason: if is_program { "program" } else { "library" }.to_owned(),
        });
    }
    for (soname, real) in closure.bundled() {
        let dest = format!("lib/{soname}");
        let needed_by = closure
            .library(soname)
            .map(|lib| {
                lib.needed_by
                    .iter()
                    .filter_map(|p| p.file_name().and_then(|n| n.to_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let mode = disk_mode(real)?;
        tree.add_file(
            &dest,
            Content::Disk(real.to_owned()),
            mode,
            &format!("library `{}` needed by [[elf]] files", real.display()),
        )?;
        placed.push(PlacedFile {
            dest,
            source: real.to_owned(),
            reason: format!("needed by {needed_by}"),
        });
    }
    placed.sort_by(|a, b| a.dest.cmp(&b.dest));
    Ok(Some(ElfBundle {
        closure,
        placed,
        rpath_fixes,
    }))
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
}
