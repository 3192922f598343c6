//! The AL2023 view's check of a bootstrap's `#!` line, before it starts.

use std::path::{Component, Path, PathBuf};

use lamina_context::facts;

use crate::config::LambdaMounts;

/// Lambda's `PATH` folders, where a `#!/usr/bin/env NAME` line finds NAME.
const LAMBDA_PATH_DIRS: [&str; 4] = ["/usr/local/bin", "/usr/bin", "/bin", "/opt/bin"];

/// The host folders whose commands the view filters: Lambda's `PATH` and the `sbin`s.
pub(super) const FILTERED_DIRS: [&str; 5] =
    ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/// A bootstrap whose `#!` line runs an interpreter the AL2023 view does not have. Its message
/// starts with Lambda's own words for this failure (`fork/exec /var/task/bootstrap: no such
/// file or directory`, error type `Runtime.InvalidEntrypoint`), then names the interpreter
/// and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct MissingInterpreter {
    /// The bootstrap, as the function sees it (e.g. `/var/task/bootstrap`).
    pub executable: PathBuf,
    /// The interpreter's name, e.g. `python3`.
    pub name: String,
    /// The interpreter as the `#!` line names it: a path (`/usr/bin/python3`), or the bare
    /// name looked up on `PATH` through `#!/usr/bin/env NAME`.
    pub named_as: String,
}

impl MissingInterpreter {
    fn describe(&self) -> String {
        let lambda_error = format!(
            "fork/exec {}: no such file or directory",
            self.executable.display()
        );
        let name = &self.name;
        let missing = missing(name);
        if !self.named_as.contains('/') {
            return format!(
                "{lambda_error}: its first line runs `{name}` from PATH, {missing}: add a layer that provides /opt/bin/{name}, or run with --host-view"
            );
        }
        let fix = if self.named_as.starts_with("/opt/") {
            "add the layer that provides it".to_string()
        } else {
            format!(
                "add a layer that provides it and start the script with `#!/usr/bin/env {name}` or `#!/opt/bin/{name}`"
            )
        };
        format!(
            "{lambda_error}: its first line runs {}, {missing}: {fix}, or run with --host-view",
            self.named_as
        )
    }
}

/// Checks, before it starts, that the view has the interpreter of `executable` (a path as
/// the function sees it, e.g. `/var/task/bootstrap`) if it is a script: Lambda fails a
/// `#!/usr/bin/python3` or `#!/usr/bin/env perl` bootstrap at init, and so does the emulator
/// in the AL2023 view, with this error. A `#!/usr/bin/env NAME` line is looked up on
/// Lambda's `PATH`, so a layer's `/opt/bin/NAME` satisfies it. Files that are not scripts,
/// or cannot be read, pass (starting them reports what is wrong).
pub fn check_entrypoint(
    executable: &Path,
    mounts: &LambdaMounts,
) -> Result<(), MissingInterpreter> {
    let Some(host_path) = host_path(executable, mounts) else {
        return Ok(());
    };
    let Some((interpreter, argument)) = read_shebang(&host_path) else {
        return Ok(());
    };
    let interpreter_path = Path::new(&interpreter);
    if !visible(interpreter_path, mounts) {
        return Err(MissingInterpreter {
            executable: executable.to_path_buf(),
            name: file_name(interpreter_path),
            named_as: interpreter,
        });
    }
    if file_name(interpreter_path) == "env"
        && let Some(name) = argument
        && !name.contains('/')
        && !LAMBDA_PATH_DIRS
            .iter()
            .any(|dir| visible(&Path::new(dir).join(&name), mounts))
    {
        return Err(MissingInterpreter {
            executable: executable.to_path_buf(),
            name: name.clone(),
            named_as: name,
        });
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
    for (root, host) in [
        (facts::TASK_ROOT, &mounts.task),
        (facts::OPT_DIR, &mounts.opt),
    ] {
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
    use crate::config::View;
    use std::os::unix::fs::PermissionsExt as _;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
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
        let err = check_entrypoint(Path::new("/var/task/bootstrap"), &mounts)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("fork/exec /var/task/bootstrap: no such file or directory: its first line runs /usr/bin/python3, `python3` is not in provided.al2023 (the AL2023 minimal image has no Python)"),
            "{err}"
        );
        write(&mounts.task.join("bootstrap"), "#!/usr/bin/env perl\n");
        let err = check_entrypoint(Path::new("/var/task/bootstrap"), &mounts)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`perl` is not in provided.al2023 (the AL2023 minimal image has no Perl): add a layer that provides /opt/bin/perl"), "{err}");
        // A layer's interpreter is found on Lambda's PATH.
        write(&mounts.opt.join("bin/perl"), "");
        check_entrypoint(Path::new("/var/task/bootstrap"), &mounts).unwrap();
        write(&mounts.task.join("bootstrap"), "#!/bin/sh\n");
        check_entrypoint(Path::new("/var/task/bootstrap"), &mounts).unwrap();
    }
}
