//! Running a function the way Lambda lays it out: the function zip unpacked as the task root,
//! layer zips unpacked in order into one `/opt` view, both shown at `/var/task` and `/opt`
//! when the machine allows user and mount namespaces.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lamina_context::facts;

use crate::config::{FunctionConfig, LambdaMounts, View};

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
    /// A zip could not be read or unpacked safely: a hostile entry (a path out of the
    /// folder, through or over a link), a size over Lambda's limit, a lying header.
    #[error(transparent)]
    Unzip(#[from] lamina_unzip::UnzipError),
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
        // Lambda's limit is on the function and its layers together: refused before a byte
        // is written, from the zips' directories.
        let mut listings = vec![lamina_unzip::Listing::read(function_zip)?];
        for layer in layer_zips {
            listings.push(lamina_unzip::Listing::read(layer)?);
        }
        let refs: Vec<&lamina_unzip::Listing> = listings.iter().collect();
        lamina_unzip::check_unzipped_size(&refs, lamina_unzip::MAX_UNZIPPED_BYTES)?;
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
        for (dir, seen_at) in [(&self.task, facts::TASK_ROOT), (&self.opt, facts::OPT_DIR)] {
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
            config.task_root = PathBuf::from(facts::TASK_ROOT);
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

/// Unpacks `zip_path` into `root` without ever following a symbolic link (no-follow, relative
/// to the folder's descriptor: `lamina-unzip`), modes kept, sizes bounded.
fn unzip(zip_path: &Path, root: &Path) -> Result<(), LayoutError> {
    lamina_unzip::unpack(
        zip_path,
        root,
        lamina_unzip::Keep::All,
        lamina_unzip::MAX_UNZIPPED_BYTES,
    )?;
    Ok(())
}
