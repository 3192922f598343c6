//! The AL2023 view: what a function sees of the machine when it runs as on `provided.al2023`.
//!
//! Lambda runs a `provided.al2023` function on the Amazon Linux 2023 *minimal* image: bash,
//! coreutils, curl, grep, gawk, sed and little else; no `python3`, no `perl`. A handler that
//! works locally because the host has Debian's Python fails there. In the view
//! ([`View::Al2023`]), inside the function's user and mount namespaces:
//!
//! - `/var/task` (the function) and `/opt` (its layers) are shown read-only, as is `/`;
//! - `/tmp` is a fresh tmpfs of the ephemeral storage size, the only writable place;
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
//! All mounts are made by one `mount -a` reading a table built here, so the view costs two
//! processes per instance start rather than one per command.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::config::{FunctionConfig, LambdaMounts, View};

/// Lambda's `PATH` folders, where a `#!/usr/bin/env NAME` line finds NAME.
const LAMBDA_PATH_DIRS: [&str; 4] = ["/usr/local/bin", "/usr/bin", "/bin", "/opt/bin"];

/// The host folders whose commands the view filters: Lambda's `PATH` and the `sbin`s.
const FILTERED_DIRS: [&str; 5] = ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/// Run inside fresh user and mount namespaces (by `unshare`) for [`View::Al2023`].
/// Arguments: task folder, opt folder, an empty host folder to stage the view in, the
/// mount table for `mount -a`, the files and folders (`/`-terminated) to create in the stage
/// as mount points, then the command.
///
/// The order matters: everything that needs a host command (`mount`, `mkdir`) runs before
/// the one `mount -a` that replaces the command folders and `/tmp`; after it only the
/// shell's builtins run. The stage sits in the host's temporary folder, so the new `/tmp`
/// hides it.
pub(crate) const VIEW_SCRIPT: &str = r#"set -e
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
mount --bind "$task" /var/task || fail "showing $task at /var/task"
ro /var/task
mount --bind "$opt" /opt || fail "showing $opt at /opt"
ro /opt
mount -o remount,ro /var
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
exec "$@"
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
        "lamina-tmp /tmp tmpfs size={ephemeral_storage_mb}m,mode=1777,nosuid,nodev 0 0"
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

/// Refuses, before it starts, a bootstrap whose `#!` line runs an interpreter the view does
/// not have (`#!/usr/bin/python3`, `#!/usr/bin/env perl` without a layer providing it):
/// Lambda fails such a function at init with `Runtime.InvalidEntrypoint` and
/// `fork/exec /var/task/bootstrap: no such file or directory`. The message returned starts
/// with Lambda's words and then names the interpreter and the fix.
pub(crate) fn check_entrypoint(executable: &Path, mounts: &LambdaMounts) -> Result<(), String> {
    let Some(host_path) = host_path(executable, mounts) else {
        return Ok(());
    };
    let Some((interpreter, argument)) = read_shebang(&host_path) else {
        return Ok(());
    };
    let lambda_error = format!(
        "fork/exec {}: no such file or directory",
        executable.display()
    );
    let interpreter_path = Path::new(&interpreter);
    if !visible(interpreter_path, mounts) {
        let name = file_name(interpreter_path);
        let fix = if interpreter.starts_with("/opt/") {
            "add the layer that provides it".to_string()
        } else {
            format!(
                "add a layer that provides it and start the script with `#!/usr/bin/env {name}` or `#!/opt/bin/{name}`"
            )
        };
        return Err(format!(
            "{lambda_error}: its first line runs {interpreter}, {}: {fix}, or run with --host-view",
            missing(&name)
        ));
    }
    if file_name(interpreter_path) == "env"
        && let Some(name) = argument
        && !name.contains('/')
        && !LAMBDA_PATH_DIRS
            .iter()
            .any(|dir| visible(&Path::new(dir).join(&name), mounts))
    {
        return Err(format!(
            "{lambda_error}: its first line runs `{name}` from PATH, {}: add a layer that provides /opt/bin/{name}, or run with --host-view",
            missing(&name)
        ));
    }
    Ok(())
}

/// "`python3` is not in provided.al2023 (the AL2023 minimal image has no Python)".
fn missing(name: &str) -> String {
    let language = if name.starts_with("python") || name.starts_with("pypy") {
        Some("Python")
    } else if name.starts_with("perl") {
        Some("Perl")
    } else if name.starts_with("ruby") {
        Some("Ruby")
    } else if ["node", "nodejs", "deno", "bun"].contains(&name) {
        Some("Node.js")
    } else if name == "java" {
        Some("Java")
    } else if name.starts_with("php") {
        Some("PHP")
    } else {
        None
    };
    match language {
        Some(language) => format!(
            "`{name}` is not in provided.al2023 (the AL2023 minimal image has no {language})"
        ),
        None => format!("`{name}` is not in provided.al2023 (the AL2023 minimal image lacks it)"),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Where a path the function sees is on the host, for files under `/var/task` and `/opt`;
/// other paths are the host's own.
fn host_path(seen: &Path, mounts: &LambdaMounts) -> Option<PathBuf> {
    if !seen.is_absolute() {
        return None;
    }
    for (root, host) in [("/var/task", &mounts.task), ("/opt", &mounts.opt)] {
        if let Ok(rest) = seen.strip_prefix(root) {
            // `..` could climb out of the mounted folder; such a path is not checked.
            if rest
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
            {
                return None;
            }
            return Some(host.join(rest));
        }
    }
    Some(seen.to_path_buf())
}

/// Whether the function, in the view, finds an executable file at `seen`.
fn visible(seen: &Path, mounts: &LambdaMounts) -> bool {
    let Some(host) = host_path(seen, mounts) else {
        return false;
    };
    let exists = std::fs::metadata(&host).is_ok_and(|m| m.is_file());
    let in_filtered_dir = seen.parent().is_some_and(|parent| {
        FILTERED_DIRS
            .iter()
            .any(|dir| Path::new(dir) == parent || same_dir(Path::new(dir), parent))
    });
    if in_filtered_dir {
        exists && lamina_elf::al2023_has_command(&file_name(seen))
    } else {
        exists
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The interpreter and its first argument from a `#!` line, if the file starts with one.
fn read_shebang(path: &Path) -> Option<(String, Option<String>)> {
    use std::io::Read as _;
    let mut head = [0u8; 256];
    let mut file = std::fs::File::open(path).ok()?;
    let read = file.read(&mut head).ok()?;
    let head = head.get(..read)?;
    let line = head.strip_prefix(b"#!")?;
    let end = line.iter().position(|&b| b == b'\n').unwrap_or(line.len());
    let line = String::from_utf8_lossy(line.get(..end)?);
    let mut words = line.split_whitespace();
    let interpreter = words.next()?.to_string();
    // `env -S NAME ARGS` splits the rest itself; NAME is the word after the flag.
    let argument = match words.next() {
        Some("-S") => words.next(),
        other => other,
    }
    .map(str::to_string);
    Some((interpreter, argument))
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

    #[test]
    fn shebangs_are_read_with_env_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("#!/usr/bin/python3\nprint(1)\n", ("/usr/bin/python3", None)),
            ("#! /usr/bin/env perl -w\n", ("/usr/bin/env", Some("perl"))),
            (
                "#!/usr/bin/env -S node --flag\n",
                ("/usr/bin/env", Some("node")),
            ),
        ];
        for (text, (interpreter, argument)) in cases {
            let path = dir.path().join("script");
            write(&path, text);
            assert_eq!(
                read_shebang(&path),
                Some((interpreter.to_string(), argument.map(str::to_string)))
            );
        }
        write(&dir.path().join("elf"), "\x7fELF");
        assert_eq!(read_shebang(&dir.path().join("elf")), None);
    }

    #[test]
    fn missing_interpreters_are_named_with_their_language() {
        let dir = tempfile::tempdir().unwrap();
        let mounts = LambdaMounts {
            task: dir.path().join("task"),
            opt: dir.path().join("opt"),
            view: View::al2023(),
        };
        write(&mounts.task.join("bootstrap"), "#!/usr/bin/python3\n");
        let err = check_entrypoint(Path::new("/var/task/bootstrap"), &mounts).unwrap_err();
        assert!(
            err.starts_with("fork/exec /var/task/bootstrap: no such file or directory: its first line runs /usr/bin/python3, `python3` is not in provided.al2023 (the AL2023 minimal image has no Python)"),
            "{err}"
        );
        write(&mounts.task.join("bootstrap"), "#!/usr/bin/env perl\n");
        let err = check_entrypoint(Path::new("/var/task/bootstrap"), &mounts).unwrap_err();
        assert!(err.contains("`perl` is not in provided.al2023 (the AL2023 minimal image has no Perl): add a layer that provides /opt/bin/perl"), "{err}");
        // A layer's interpreter is found on Lambda's PATH.
        write(&mounts.opt.join("bin/perl"), "");
        check_entrypoint(Path::new("/var/task/bootstrap"), &mounts).unwrap();
        write(&mounts.task.join("bootstrap"), "#!/bin/sh\n");
        check_entrypoint(Path::new("/var/task/bootstrap"), &mounts).unwrap();
    }
}
