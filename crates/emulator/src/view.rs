//! The AL2023 view: what a function sees of the machine when it runs as on `provided.al2023`.
//!
//! Lambda runs a `provided.al2023` function on the Amazon Linux 2023 *minimal* image: bash,
//! coreutils, curl, grep, gawk, sed and little else; no `python3`, no `perl`. A handler that
//! works locally because the host has Debian's Python fails there. In the view
//! ([`View::Al2023`]), inside the function's user and mount namespaces:
//!
//! - `/var/task` (the function) and `/opt` (its layers) are shown read-only, as is the root
//!   mount (other host mounts, such as a separate `/home`, keep their mode);
//! - `/tmp` is a fresh tmpfs of the ephemeral storage size, where the function writes;
//! - each of the host's `PATH` folders (`/usr/local/bin`, `/usr/bin`, `/bin`, `/usr/sbin`,
//!   `/sbin`, the ones that are real folders) is replaced by a tmpfs holding bind mounts of
//!   just the commands on [`lamina_elf::al2023_commands`] that the host has;
//! - `PATH` is Lambda's alone (`/usr/local/bin:/usr/bin/:/bin:/opt/bin`), without the
//!   host's own folders after it.
//!
//! Libraries stay as the host has them (the build-time ELF checks of `lamina-elf` cover
//! those). A bootstrap whose `#!` line names an interpreter the view lacks is refused before
//! it starts, as Lambda refuses it, with a message naming the interpreter
//! ([`check_entrypoint`]).
//!
//! The commands are bind-mounted by one `mount -a` reading a table built here, not one
//! `mount` process per command: the view adds about 3 ms to an instance's start.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

mod entrypoint;

use entrypoint::FILTERED_DIRS;
pub use entrypoint::{MissingInterpreter, check_entrypoint};

use lamina_context::facts;

use crate::config::{FunctionConfig, LambdaMounts, View};

/// The command that starts the function in its own user and mount namespaces, showing
/// `mounts` as its view asks; the caller adds the environment and the pipes. On error, the
/// error type and message the waiting invocation gets.
pub(crate) fn namespaced_command(
    mounts: &LambdaMounts,
    config: &FunctionConfig,
) -> Result<tokio::process::Command, (String, String)> {
    let mount_point = |name: &str| {
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).map(|()| dir).map_err(|err| {
            (
                facts::error_type::UNKNOWN.to_string(),
                format!("creating a mount point: {err}"),
            )
        })
    };
    let mut command = tokio::process::Command::new("unshare");
    command.args([
        "--user",
        "--map-root-user",
        "--mount",
        "--",
        "/bin/sh",
        "-c",
    ]);
    match mounts.view {
        View::Al2023 {
            ephemeral_storage_mb,
        } => {
            check_entrypoint(&config.executable, mounts).map_err(|err| {
                (
                    facts::error_type::INVALID_ENTRYPOINT.to_string(),
                    err.to_string(),
                )
            })?;
            let stage = mount_point("lamina-emulator-view")?;
            let plan = plan(&stage, ephemeral_storage_mb);
            command
                .arg(VIEW_SCRIPT)
                .arg("lamina-view")
                .arg(&mounts.task)
                .arg(&mounts.opt)
                .arg(&stage)
                .arg(plan.fstab)
                .arg(plan.create);
        }
        View::Host => {
            let stash = mount_point("lamina-emulator-var")?;
            command
                .arg(HOST_VIEW_SCRIPT)
                .arg("lamina-mount")
                .arg(&mounts.task)
                .arg(&mounts.opt)
                .arg(&stash);
        }
    }
    command
        .arg(&config.executable)
        .args(&config.args)
        .current_dir(&mounts.task);
    Ok(command)
}

/// Run inside fresh user and mount namespaces (by `unshare`) for [`View::Host`]: shows the
/// task folder at
/// `/var/task` and the layers at `/opt`, then runs the function. When the host has no
/// `/var/task` to mount over, `/var` becomes a tmpfs of links to the real entries plus `task`.
/// Arguments: task folder, opt folder, an empty folder to keep the real `/var` at, command.
/// Its stdin is the emulator's exec pipe: the exec gives the command `/dev/null` instead,
/// which closes the pipe, so the emulator sees the moment the command starts.
const HOST_VIEW_SCRIPT: &str = r#"set -e
task="$1"; opt="$2"; stash="$3"; shift 3
if [ ! -d /opt ]; then echo "lamina: this machine has no /opt to show the layers at" >&2; exit 127; fi
if [ ! -d /var/task ]; then
  mount --bind /var "$stash"
  mount -t tmpfs -o mode=0755 lamina-var /var
  for entry in "$stash"/* "$stash"/.[!.]* "$stash"/..?*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    name=${entry##*/}
    if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "/var/$name"; else ln -s "$entry" "/var/$name"; fi
  done
  mkdir /var/task
fi
mount --bind "$task" /var/task
mount --bind "$opt" /opt
cd /var/task
exec "$@" </dev/null
"#;

/// Run inside fresh user and mount namespaces (by `unshare`) for [`View::Al2023`].
/// Arguments: task folder, opt folder, an empty host folder to stage the view in, the
/// mount table for `mount -a`, the files and folders (`/`-terminated) to create in the stage
/// as mount points, then the command. Its stdin is the emulator's exec pipe, replaced by
/// `/dev/null` as the command is executed (see [`HOST_VIEW_SCRIPT`]).
///
/// The order matters: everything that needs a host command (`mount`, `mkdir`) runs before
/// the one `mount -a` that replaces the command folders and `/tmp`; after it only the
/// shell's builtins run. The stage sits in the host's temporary folder, so the new `/tmp`
/// hides it.
const VIEW_SCRIPT: &str = r#"set -e
task="$1"; opt="$2"; stage="$3"; fstab="$4"; create="$5"; shift 5
fail() { echo "lamina: cannot build the AL2023 view: $1 (run with --host-view to see the whole host instead)" >&2; exit 127; }
ro() {
  mount -o remount,bind,ro "$1" 2>/dev/null \
    || mount -o remount,bind,ro,nosuid,nodev "$1" 2>/dev/null \
    || echo "lamina: $1 stays writable here: its mount refuses a read-only remount" >&2
}
[ -d /opt ] || fail "this machine has no /opt to show the layers at"
mount -t tmpfs -o mode=0755 lamina-var /var || fail "mounting a tmpfs at /var"
mkdir /var/task /var/runtime
# A launcher from the host (qemu for another architecture) may sit under the host's /tmp,
# which the view's own /tmp hides: it is shown at /var/runtime and run from there.
case $1 in
  /var/task/*|/opt/*) ;;
  /*)
    name=${1##*/}
    : > "/var/runtime/$name"
    mount --bind "$1" "/var/runtime/$name" || fail "showing $1 at /var/runtime/$name"
    shift
    set -- "/var/runtime/$name" "$@"
    ;;
esac
mount --bind "$task" /var/task || fail "showing $task at /var/task"
ro /var/task
mount --bind "$opt" /opt || fail "showing $opt at /opt"
ro /opt
mount -o remount,ro /var || fail "making /var read-only"
mount -t tmpfs -o mode=0755 lamina-view "$stage" || fail "mounting a tmpfs at $stage"
set -f
IFS='
'
for rel in $create; do
  case $rel in
    */) mkdir "$stage/$rel" ;;
    *) : > "$stage/$rel" ;;
  esac
done
unset IFS
set +f
printf '%s' "$fstab" > "$stage/fstab"
ro /
mount -a -T "$stage/fstab" || fail "mounting the image's commands and /tmp (mount -a -T $stage/fstab)"
cd /var/task
exec "$@" </dev/null
"#;

/// Whether `config` runs in the AL2023 view.
pub(crate) fn is_al2023(config: &FunctionConfig) -> bool {
    matches!(
        config.mounts,
        Some(LambdaMounts {
            view: View::Al2023 { .. },
            ..
        })
    )
}

/// The mounts of one view: the table `mount -a` reads and the mount points to create first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// fstab lines: one bind per shown command, one recursive bind per replaced folder, and
    /// the `/tmp` tmpfs last.
    pub fstab: String,
    /// Paths relative to the stage, one per line; folders end with `/`.
    pub create: String,
}

/// The view's mounts for this host, staged under `stage` (a host folder that exists).
pub(crate) fn plan(stage: &Path, ephemeral_storage_mb: u32) -> Plan {
    plan_for(
        stage,
        ephemeral_storage_mb,
        &FILTERED_DIRS.map(PathBuf::from),
        lamina_elf::al2023_commands(),
    )
}

fn plan_for<'a>(
    stage: &Path,
    ephemeral_storage_mb: u32,
    dirs: &[PathBuf],
    commands: impl Iterator<Item = &'a str> + Clone,
) -> Plan {
    let mut fstab = String::new();
    let mut create = String::new();
    let mut covered: Vec<PathBuf> = Vec::new();
    for dir in dirs {
        // A folder that is a link (`/bin -> usr/bin` on merged-/usr systems) follows the
        // folder it points to; one reached twice is replaced once.
        let is_real_dir = std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir());
        let Ok(real) = std::fs::canonicalize(dir) else {
            continue;
        };
        if !is_real_dir || covered.contains(&real) {
            continue;
        }
        let key = format!("d{}", covered.len());
        let _ = writeln!(create, "{key}/");
        for name in commands.clone() {
            let Ok(source) = std::fs::canonicalize(real.join(name)) else {
                continue;
            };
            if !source.is_file() {
                continue;
            }
            let _ = writeln!(create, "{key}/{name}");
            let target = stage.join(&key).join(name);
            let _ = writeln!(
                fstab,
                "{} {} none bind 0 0",
                fstab_field(&source),
                fstab_field(&target)
            );
        }
        let _ = writeln!(
            fstab,
            "{} {} none rbind 0 0",
            fstab_field(&stage.join(&key)),
            fstab_field(&real)
        );
        covered.push(real);
    }
    let _ = writeln!(
        fstab,
        "lamina-tmp {} tmpfs size={ephemeral_storage_mb}m,mode=1777,nosuid,nodev 0 0",
        lamina_context::facts::TMP_DIR
    );
    Plan { fstab, create }
}

/// A path as one fstab field: whitespace and backslashes as octal escapes, as `mount` reads them.
fn fstab_field(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' | '#' => {
                let _ = write!(out, "\\{:03o}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly by design
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn the_plan_binds_only_listed_commands_the_host_has_and_tmp_last() {
        let host = tempfile::tempdir().unwrap();
        let bin = host.path().join("bin");
        for name in ["bash", "curl", "python3", "perl"] {
            write(&bin.join(name), "");
        }
        std::os::unix::fs::symlink("bash", bin.join("sh")).unwrap();
        std::os::unix::fs::symlink("bin", host.path().join("linked-bin")).unwrap();
        let stage = Path::new("/stage dir");
        let plan = plan_for(
            stage,
            640,
            &[
                bin.clone(),
                host.path().join("linked-bin"),
                host.path().join("none"),
            ],
            ["bash", "sh", "curl", "gawk"].into_iter(),
        );
        let bin = std::fs::canonicalize(&bin).unwrap();
        let b = bin.display();
        assert_eq!(
            plan.fstab,
            format!(
                "{b}/bash /stage\\040dir/d0/bash none bind 0 0\n\
                 {b}/bash /stage\\040dir/d0/sh none bind 0 0\n\
                 {b}/curl /stage\\040dir/d0/curl none bind 0 0\n\
                 /stage\\040dir/d0 {b} none rbind 0 0\n\
                 lamina-tmp /tmp tmpfs size=640m,mode=1777,nosuid,nodev 0 0\n"
            )
        );
        assert_eq!(plan.create, "d0/\nd0/bash\nd0/sh\nd0/curl\n");
    }
}
