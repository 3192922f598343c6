//! Running a function the way Lambda lays it out: the function zip unpacked as the task root,
//! layer zips unpacked in order into one `/opt` view, both shown at `/var/task` and `/opt`
//! when the machine allows user and mount namespaces.

use std::fs;
use std::io::{Read as _, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::{FunctionConfig, LambdaMounts, View};

/// Where Lambda puts the function's code.
pub const LAMBDA_TASK_ROOT: &str = "/var/task";
/// Where Lambda merges the layers.
pub const LAMBDA_OPT: &str = "/opt";

/// Why a function or layer zip could not be laid out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// Reading a zip or writing the tree failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, naming the file.
        what: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The file is not a readable zip.
    #[error("{zip}: not a readable zip: {reason}")]
    BadZip {
        /// The zip at fault.
        zip: PathBuf,
        /// What the zip reader said.
        reason: String,
    },
    /// An entry would land outside the folder it is unpacked into.
    #[error("{zip}: entry `{entry}` escapes the folder it is unpacked into; refusing it")]
    EscapingEntry {
        /// The zip at fault.
        zip: PathBuf,
        /// The entry's name as stored.
        entry: String,
    },
    /// An entry would be written through a symbolic link from an earlier entry.
    #[error(
        "{zip}: entry `{entry}` would be written through the symbolic link `{link}`; refusing it"
    )]
    ThroughSymlink {
        /// The zip at fault.
        zip: PathBuf,
        /// The entry's name as stored.
        entry: String,
        /// The link in its way.
        link: String,
    },
    /// Neither `/var/task/bootstrap` nor `/opt/bootstrap` is an executable file.
    #[error(
        "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap] (unpacked in {task} and {opt}; a bootstrap must be an executable file at the top of the zip, not in a folder)"
    )]
    NoBootstrap {
        /// The unpacked task root.
        task: PathBuf,
        /// The unpacked `/opt`.
        opt: PathBuf,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LayoutError {
    let what = what.into();
    move |source| LayoutError::Io { what, source }
}

/// A function unpacked on disk: its task root and its merged `/opt`.
#[derive(Debug, Clone)]
pub struct FunctionLayout {
    /// Host folder holding what Lambda shows at `/var/task`.
    pub task: PathBuf,
    /// Host folder holding what Lambda shows at `/opt`.
    pub opt: PathBuf,
}

impl FunctionLayout {
    /// Unpacks `function_zip` into `into/task` and each of `layer_zips`, in order, into
    /// `into/opt` (a later layer's file replaces an earlier one's, as on Lambda). Whatever
    /// was in `into/task` and `into/opt` before is replaced; on error neither is left
    /// half-written.
    pub fn unpack(
        function_zip: &Path,
        layer_zips: &[PathBuf],
        into: &Path,
    ) -> Result<Self, LayoutError> {
        Self::build(into, layer_zips, |task| unzip(function_zip, task))
    }

    /// Like [`FunctionLayout::unpack`], for a function that is one executable rather than a
    /// zip: it is copied into the task root as `bootstrap`.
    pub fn from_executable(
        executable: &Path,
        layer_zips: &[PathBuf],
        into: &Path,
    ) -> Result<Self, LayoutError> {
        Self::build(into, layer_zips, |task| {
            let target = task.join("bootstrap");
            fs::copy(executable, &target).map_err(io_error(format!(
                "copying {} into the task root",
                executable.display()
            )))?;
            fs::set_permissions(&target, fs::Permissions::from_mode(0o755))
                .map_err(io_error(format!("making {} executable", target.display())))
        })
    }

    fn build(
        into: &Path,
        layer_zips: &[PathBuf],
        fill_task: impl FnOnce(&Path) -> Result<(), LayoutError>,
    ) -> Result<Self, LayoutError> {
        fs::create_dir_all(into).map_err(io_error(format!("creating {}", into.display())))?;
        let task = into.join("task");
        let opt = into.join("opt");
        let task_partial = into.join("task.partial");
        let opt_partial = into.join("opt.partial");
        for dir in [&task_partial, &opt_partial] {
            remove_tree(dir)?;
            fs::create_dir(dir).map_err(io_error(format!("creating {}", dir.display())))?;
        }
        fill_task(&task_partial)?;
        for layer in layer_zips {
            unzip(layer, &opt_partial)?;
        }
        for (partial, done) in [(&task_partial, &task), (&opt_partial, &opt)] {
            remove_tree(done)?;
            fs::rename(partial, done).map_err(io_error(format!(
                "renaming {} to {}",
                partial.display(),
                done.display()
            )))?;
        }
        Ok(FunctionLayout { task, opt })
    }

    /// The entry point as Lambda looks for it: `bootstrap` in the task root, then in `/opt`.
    /// Returns the host path and the path the function sees with namespaces.
    pub fn bootstrap(&self) -> Result<(PathBuf, PathBuf), LayoutError> {
        for (dir, seen_at) in [(&self.task, LAMBDA_TASK_ROOT), (&self.opt, LAMBDA_OPT)] {
            let candidate = dir.join("bootstrap");
            let executable = fs::metadata(&candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            if executable {
                return Ok((candidate, Path::new(seen_at).join("bootstrap")));
            }
        }
        Err(LayoutError::NoBootstrap {
            task: self.task.clone(),
            opt: self.opt.clone(),
        })
    }

    /// The emulator's configuration for this layout. With `namespaces`, the function sees
    /// its code at `/var/task` and its layers at `/opt`, exactly as on Lambda. Without,
    /// it runs from the host folders: `PATH` and `LD_LIBRARY_PATH` point at them, but
    /// absolute paths into `/opt` or `/var/task` (e.g. `#!/opt/bin/perl`) do not resolve.
    pub fn function_config(
        &self,
        name: &str,
        namespaces: bool,
    ) -> Result<FunctionConfig, LayoutError> {
        let (host_bootstrap, lambda_bootstrap) = self.bootstrap()?;
        if namespaces {
            let mut config = FunctionConfig::new(name, lambda_bootstrap);
            config.task_root = PathBuf::from(LAMBDA_TASK_ROOT);
            config.mounts = Some(LambdaMounts {
                task: self.task.clone(),
                opt: self.opt.clone(),
                view: View::Host,
            });
            return Ok(config);
        }
        let mut config = FunctionConfig::new(name, host_bootstrap);
        config.task_root = self.task.clone();
        let opt = self.opt.display();
        let task = self.task.display();
        let host_path = std::env::var("PATH").unwrap_or_default();
        config.env.push((
            "PATH".into(),
            format!("/usr/local/bin:/usr/bin/:/bin:{opt}/bin:{host_path}"),
        ));
        config.env.push((
            "LD_LIBRARY_PATH".into(),
            format!("/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:{task}:{task}/lib:{opt}/lib"),
        ));
        Ok(config)
    }
}

/// Whether this machine lets an unprivileged process create user and mount namespaces
/// (`unshare --user --map-root-user --mount true` succeeds).
pub fn namespaces_available() -> bool {
    Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn remove_tree(dir: &Path) -> Result<(), LayoutError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(LayoutError::Io {
            what: format!("removing {}", dir.display()),
            source: err,
        }),
    }
}

/// Unpacks `zip_path` into `root`, keeping unix modes and symbolic links, refusing entries
/// that would land outside `root` or be written through a symbolic link.
fn unzip(zip_path: &Path, root: &Path) -> Result<(), LayoutError> {
    let bad_zip = |err: zip::result::ZipError| LayoutError::BadZip {
        zip: zip_path.to_path_buf(),
        reason: err.to_string(),
    };
    let file =
        fs::File::open(zip_path).map_err(io_error(format!("opening {}", zip_path.display())))?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad_zip)?;
    // Folders' modes are applied last: a read-only folder must not stop its own contents.
    let mut folder_modes = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(bad_zip)?;
        let stored_name = entry
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|_| format!("#{index}"));
        let relative = entry
            .enclosed_name()
            .and_then(|name| normalise(&name))
            .ok_or_else(|| LayoutError::EscapingEntry {
                zip: zip_path.to_path_buf(),
                entry: stored_name.clone(),
            })?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        check_no_symlink_on_the_way(root, &relative).map_err(|link| {
            LayoutError::ThroughSymlink {
                zip: zip_path.to_path_buf(),
                entry: stored_name.clone(),
                link,
            }
        })?;
        let target = root.join(&relative);
        let mode = entry.unix_mode().map(|m| m & 0o7777);
        if entry.is_dir() {
            if !target.is_dir() {
                fs::create_dir_all(&target)
                    .map_err(io_error(format!("creating {}", target.display())))?;
            }
            folder_modes.push((target, mode.unwrap_or(0o755)));
            continue;
        }
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)
                .map_err(io_error(format!("creating {}", parent.display())))?;
        }
        replace_existing(&target)?;
        if entry.is_symlink() {
            let mut link_target = String::new();
            entry
                .read_to_string(&mut link_target)
                .map_err(io_error(format!(
                    "{}: reading the link `{stored_name}`",
                    zip_path.display()
                )))?;
            std::os::unix::fs::symlink(&link_target, &target)
                .map_err(io_error(format!("creating the link {}", target.display())))?;
            continue;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)
            .map_err(io_error(format!("creating {}", target.display())))?;
        std::io::copy(&mut entry, &mut out).map_err(io_error(format!(
            "{}: unpacking `{stored_name}`",
            zip_path.display()
        )))?;
        out.flush()
            .map_err(io_error(format!("writing {}", target.display())))?;
        let mode = mode.unwrap_or(0o644);
        fs::set_permissions(&target, fs::Permissions::from_mode(mode)).map_err(io_error(
            format!("setting the mode of {}", target.display()),
        ))?;
    }
    for (folder, mode) in folder_modes.into_iter().rev() {
        fs::set_permissions(&folder, fs::Permissions::from_mode(mode | 0o700)).map_err(
            io_error(format!("setting the mode of {}", folder.display())),
        )?;
    }
    Ok(())
}

/// `a/./b/../c` → `a/c`; `None` if it climbs above its start or is absolute.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

/// Fails with the offending prefix when a folder on the way to `relative` is a symbolic link.
fn check_no_symlink_on_the_way(root: &Path, relative: &Path) -> Result<(), String> {
    let mut current = root.to_path_buf();
    let mut shown = PathBuf::new();
    let parents: Vec<_> = relative.components().collect();
    for component in parents.iter().take(parents.len().saturating_sub(1)) {
        current.push(component);
        shown.push(component);
        if fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(shown.display().to_string());
        }
    }
    Ok(())
}

/// A later layer replaces an earlier one's file (or link) at the same path.
fn replace_existing(target: &Path) -> Result<(), LayoutError> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => Err(LayoutError::Io {
            what: format!("replacing {}", target.display()),
            source: std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "a folder is in the way of a file",
            ),
        }),
        Ok(_) => {
            fs::remove_file(target).map_err(io_error(format!("replacing {}", target.display())))
        }
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_stays_inside() {
        assert_eq!(
            normalise(Path::new("a/./b/../c")),
            Some(PathBuf::from("a/c"))
        );
        assert_eq!(normalise(Path::new("a/../../c")), None);
        assert_eq!(normalise(Path::new("/etc/passwd")), None);
    }
}
