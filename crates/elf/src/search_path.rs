//! Where the loader looks, found on this machine: the entries of `DT_RPATH`/`DT_RUNPATH`
//! with `$ORIGIN`, `$LIB` and `$PLATFORM` expanded, the directories of `ld.so.conf` and its
//! `include`s, and target paths (absolute, as the target sees them) mapped under a sysroot,
//! symlinks included, as a chroot would see them.

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::arch::Arch;

/// How many symlinks are followed for one path before giving up (the kernel's limit).
const MAX_SYMLINK_HOPS: usize = 40;
/// How deep `include` lines in `ld.so.conf` may nest.
const MAX_LD_SO_CONF_DEPTH: usize = 8;

/// Expands the entries of a `DT_RPATH`/`DT_RUNPATH`: `$ORIGIN` (or `${ORIGIN}`) becomes
/// the object's directory (already a host path), `$LIB` becomes `lib64` and `$PLATFORM`
/// the CPU name; other absolute entries are looked up under the sysroot. Relative entries
/// (relative to the process's working directory, never meaningful on Lambda) are dropped.
pub(crate) fn expand_search_path(
    entries: &[String],
    origin: &Path,
    sysroot: &Path,
    arch: Arch,
) -> Vec<PathBuf> {
    let platform = match arch {
        Arch::X86_64 => "x86_64",
        Arch::Aarch64 => "aarch64",
    };
    entries
        .iter()
        .filter_map(|entry| {
            let uses_origin = entry.contains("$ORIGIN") || entry.contains("${ORIGIN}");
            let origin_text = origin.to_string_lossy();
            let expanded = entry
                .replace("${ORIGIN}", &origin_text)
                .replace("$ORIGIN", &origin_text)
                .replace("${LIB}", "lib64")
                .replace("$LIB", "lib64")
                .replace("${PLATFORM}", platform)
                .replace("$PLATFORM", platform);
            let path = PathBuf::from(expanded);
            if uses_origin {
                Some(normalize(&path))
            } else if path.is_absolute() {
                Some(in_sysroot(sysroot, &path))
            } else {
                None
            }
        })
        .collect()
}

/// Removes `.` and resolves `..` textually, as the loader does for search paths.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `path` (absolute, as the target sees it) on this machine.
pub(crate) fn in_sysroot(sysroot: &Path, path: &Path) -> PathBuf {
    let relative = path.strip_prefix("/").unwrap_or(path);
    sysroot.join(relative)
}

/// Follows every symlink in `path` (a path on this machine under `sysroot`), keeping
/// absolute link targets inside the sysroot, as a chroot would.
pub(crate) fn real_path_in(sysroot: &Path, path: &Path) -> io::Result<PathBuf> {
    if sysroot == Path::new("/") {
        return fs::canonicalize(path);
    }
    let Ok(relative) = path.strip_prefix(sysroot) else {
        return fs::canonicalize(path);
    };
    let mut resolved = PathBuf::new();
    let mut pending: VecDeque<PathBuf> = relative
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.components().next() {
            None | Some(Component::RootDir | Component::CurDir | Component::Prefix(_)) => {}
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            Some(Component::Normal(name)) => {
                let on_disk = sysroot.join(&resolved).join(name);
                let metadata = fs::symlink_metadata(&on_disk)?;
                if metadata.file_type().is_symlink() {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(io::Error::other(format!(
                            "{}: more than {MAX_SYMLINK_HOPS} symlinks",
                            path.display()
                        )));
                    }
                    let target = fs::read_link(&on_disk)?;
                    if target.is_absolute() {
                        resolved.clear();
                    }
                    for (i, c) in target.components().enumerate() {
                        pending.insert(i, PathBuf::from(c.as_os_str()));
                    }
                } else {
                    resolved.push(name);
                }
            }
        }
    }
    Ok(sysroot.join(resolved))
}

/// Collects the directories of an `ld.so.conf` file (under the sysroot) and the files it
/// `include`s. Missing or unreadable files contribute nothing, as for the loader.
pub(crate) fn read_ld_so_conf(sysroot: &Path, conf: &Path, depth: usize, dirs: &mut Vec<PathBuf>) {
    if depth > MAX_LD_SO_CONF_DEPTH {
        return;
    }
    let Ok(text) = fs::read_to_string(in_sysroot(sysroot, conf)) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with("hwcap ") {
            continue;
        }
        if let Some(pattern) = line.strip_prefix("include") {
            for pattern in pattern.split_whitespace() {
                let pattern = if Path::new(pattern).is_absolute() {
                    PathBuf::from(pattern)
                } else {
                    conf.parent().unwrap_or(Path::new("/")).join(pattern)
                };
                for file in glob_one_level(sysroot, &pattern) {
                    read_ld_so_conf(sysroot, &file, depth + 1, dirs);
                }
            }
            continue;
        }
        for dir in line.split([':', ',', ' ', '\t']).filter(|d| !d.is_empty()) {
            if Path::new(dir).is_absolute() {
                let dir = in_sysroot(sysroot, Path::new(dir));
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
        }
    }
}

/// Expands a `*` in the last component of `pattern` (a target path), sorted as glob(3)
/// sorts. Returns target paths.
fn glob_one_level(sysroot: &Path, pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(file_pattern)) = (pattern.parent(), pattern.file_name()) else {
        return Vec::new();
    };
    let file_pattern = file_pattern.to_string_lossy();
    let Some((prefix, suffix)) = file_pattern.split_once('*') else {
        return vec![pattern.to_owned()];
    };
    let Ok(entries) = fs::read_dir(in_sysroot(sysroot, dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name.len() >= prefix.len() + suffix.len()
                && name.starts_with(prefix)
                && name.ends_with(suffix))
            .then(|| dir.join(name))
        })
        .collect();
    files.sort();
    files
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;

    #[test]
    fn origin_expansion_and_sysroot_prefixing() {
        let dirs = expand_search_path(
            &[
                "$ORIGIN/../lib".to_owned(),
                "${ORIGIN}".to_owned(),
                "/usr/lib/foo".to_owned(),
                "relative/dir".to_owned(),
                "/opt/$LIB".to_owned(),
            ],
            Path::new("/build/bin"),
            Path::new("/sysroot"),
            Arch::Aarch64,
        );
        assert_eq!(
            dirs,
            vec![
                PathBuf::from("/build/lib"),
                PathBuf::from("/build/bin"),
                PathBuf::from("/sysroot/usr/lib/foo"),
                PathBuf::from("/sysroot/opt/lib64"),
            ]
        );
    }

    #[test]
    fn symlinks_stay_inside_the_sysroot() {
        let root = tempfile::tempdir().unwrap();
        let lib = root.path().join("usr/lib");
        fs::create_dir_all(&lib).unwrap();
        fs::write(lib.join("libz.so.1.3"), b"x").unwrap();
        std::os::unix::fs::symlink("libz.so.1.3", lib.join("libz.so.1")).unwrap();
        // Absolute target: resolved inside the sysroot, not on this machine.
        std::os::unix::fs::symlink("/usr/lib/libz.so.1", lib.join("libz.so")).unwrap();
        std::os::unix::fs::symlink("usr/lib", root.path().join("lib")).unwrap();
        let real = real_path_in(root.path(), &root.path().join("lib/libz.so")).unwrap();
        assert_eq!(real, lib.join("libz.so.1.3"));
        // A loop is an error, not a hang.
        std::os::unix::fs::symlink("loop2", lib.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", lib.join("loop2")).unwrap();
        assert!(real_path_in(root.path(), &lib.join("loop1")).is_err());
    }

    #[test]
    fn ld_so_conf_includes_are_followed() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        fs::create_dir_all(etc.join("ld.so.conf.d")).unwrap();
        fs::write(
            etc.join("ld.so.conf"),
            "# comment\ninclude /etc/ld.so.conf.d/*.conf\n/usr/local/lib\n",
        )
        .unwrap();
        fs::write(etc.join("ld.so.conf.d/b.conf"), "/opt/b\n").unwrap();
        fs::write(etc.join("ld.so.conf.d/a.conf"), "/opt/a # trailing\n").unwrap();
        fs::write(etc.join("ld.so.conf.d/ignored.txt"), "/nope\n").unwrap();
        let mut dirs = Vec::new();
        read_ld_so_conf(root.path(), Path::new("/etc/ld.so.conf"), 0, &mut dirs);
        assert_eq!(
            dirs,
            vec![
                root.path().join("opt/a"),
                root.path().join("opt/b"),
                root.path().join("usr/local/lib"),
            ]
        );
    }
}
