//! Where things are (task root, `/opt`, adapters) and the environment handlers run in.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lamina_context::facts::MAX_ENV_STRING_BYTES;

use crate::init_error::InitError;

/// The most bytes one `env.d` file may hold. Each file is read through a reader bounded to
/// this (plus one byte, to tell "exactly at" from "over"), so a file of any size costs the
/// bootstrap at most this much memory, and the error names it instead of the kernel's OOM
/// killer ending init. An env file holds a few variables; 1 MiB is far more than they need
/// and cannot hold more than [`MAX_CHILD_ENVIRONMENT_BYTES`] would let through anyway.
pub const MAX_ENV_FILE_BYTES: usize = 1024 * 1024;

/// The most bytes the handlers' environment may take, counted as `execve` counts it: each
/// `NAME=VALUE`, its NUL, and the 8-byte pointer to it. The kernel refuses (`E2BIG`, "Argument
/// list too long") a program whose arguments and environment together pass a quarter of the
/// stack limit: 2 MiB under Lambda's 8 MiB stack (`ARG_MAX`). The environment gets half of
/// that; the other half is left for arguments and the variables added per invocation (the
/// event of an executable handler, `_X_AMZN_TRACE_ID`), so a handler that passed init starts.
pub const MAX_CHILD_ENVIRONMENT_BYTES: usize = 1024 * 1024;

/// What one variable costs `execve`: `NAME=VALUE`, its NUL and its pointer.
fn exec_cost(name: &OsStr, value: &OsStr) -> usize {
    name.len() + 1 + value.len() + 1 + std::mem::size_of::<usize>()
}

/// Default margin between the bootstrap's own timeout and the invocation deadline.
pub const DEFAULT_TIMEOUT_MARGIN: Duration = Duration::from_millis(100);

/// Variables the bootstrap reads for its own settings (documented in the README).
pub mod variables {
    /// Root of the layers' tree; default `/opt`. Tests point it at a local folder.
    pub const OPT_DIR: &str = "LAMINA_OPT_DIR";
    /// Folder of the language adapters; default `$LAMINA_OPT_DIR/lamina/adapters`.
    pub const ADAPTERS_DIR: &str = "LAMINA_ADAPTERS_DIR";
    /// Milliseconds before the deadline at which a handler is killed; default 100.
    pub const TIMEOUT_MARGIN_MS: &str = "LAMINA_TIMEOUT_MARGIN_MS";
    /// The function's code; default `/var/task`.
    pub const TASK_ROOT: &str = "LAMBDA_TASK_ROOT";
    /// Folder (under the opt dir) whose `*.env` files add variables for handlers.
    pub const ENV_D: &str = "lamina/env.d";
}

/// Where the bootstrap finds things, read once at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The function's code (`LAMBDA_TASK_ROOT`, default `/var/task`); handlers run there.
    pub task_root: PathBuf,
    /// The layers' root (`LAMINA_OPT_DIR`, default `/opt`).
    pub opt_dir: PathBuf,
    /// The language adapters (`LAMINA_ADAPTERS_DIR`, default `<opt_dir>/lamina/adapters`).
    pub adapters_dir: PathBuf,
    /// How long before the deadline a handler is killed (`LAMINA_TIMEOUT_MARGIN_MS`).
    pub timeout_margin: Duration,
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, InitError> {
        Self::from_lookup(|name| std::env::var_os(name))
    }

    /// Reads the settings through `lookup` (an environment stand-in for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<OsString>) -> Result<Self, InitError> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let task_root = non_empty(variables::TASK_ROOT)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(lamina_context::facts::TASK_ROOT));
        let opt_dir = non_empty(variables::OPT_DIR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(lamina_context::facts::OPT_DIR));
        let adapters_dir = non_empty(variables::ADAPTERS_DIR)
            .map(PathBuf::from)
            .unwrap_or_else(|| opt_dir.join("lamina/adapters"));
        let timeout_margin = match non_empty(variables::TIMEOUT_MARGIN_MS) {
            None => DEFAULT_TIMEOUT_MARGIN,
            Some(value) => {
                let text = value.to_string_lossy();
                let ms: u64 = text.trim().parse().map_err(|_| InitError::Setting {
                    name: variables::TIMEOUT_MARGIN_MS,
                    value: text.clone().into_owned(),
                    reason: "expected a whole number of milliseconds, e.g. 100".into(),
                })?;
                Duration::from_millis(ms)
            }
        };
        Ok(Self {
            task_root,
            opt_dir,
            adapters_dir,
            timeout_margin,
        })
    }
}

/// The environment every handler process gets: the bootstrap's own, with `<opt>/bin` first on
/// `PATH`, `<opt>/lib` first on `LD_LIBRARY_PATH`, `LAMINA_OPT_DIR` set, and then the
/// variables of `<opt>/lamina/env.d/*.env` (in file-name order).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChildEnvironment {
    vars: BTreeMap<OsString, OsString>,
}

impl ChildEnvironment {
    /// Builds the environment from the bootstrap's own variables and the layers under `opt_dir`.
    pub fn build(
        base: impl IntoIterator<Item = (OsString, OsString)>,
        opt_dir: &Path,
    ) -> Result<Self, InitError> {
        let mut vars: BTreeMap<OsString, OsString> = base.into_iter().collect();
        let path = vars.get(OsStr::new("PATH")).cloned();
        let path = path.unwrap_or_else(|| OsString::from(lamina_context::facts::PATH));
        vars.insert("PATH".into(), put_first(&opt_dir.join("bin"), &path));
        let libraries = vars
            .get(OsStr::new("LD_LIBRARY_PATH"))
            .cloned()
            .unwrap_or_default();
        vars.insert(
            "LD_LIBRARY_PATH".into(),
            put_first(&opt_dir.join("lib"), &libraries),
        );
        vars.insert(variables::OPT_DIR.into(), opt_dir.as_os_str().to_owned());
        let mut environment = Self { vars };
        environment.apply_env_dir(&opt_dir.join(variables::ENV_D))?;
        Ok(environment)
    }

    /// All variables, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.vars
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// One variable.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// Sets one variable (used by tests and by callers adding their own).
    pub fn set(&mut self, name: impl Into<OsString>, value: impl Into<OsString>) {
        self.vars.insert(name.into(), value.into());
    }

    /// `PATH` as handlers see it, for messages.
    pub fn search_path(&self) -> String {
        self.get("PATH")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Finds an executable file named `program` on this environment's `PATH`.
    pub fn find_program(&self, program: &str) -> Option<PathBuf> {
        let path = self.get("PATH")?;
        std::env::split_paths(path)
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable_file(candidate))
    }

    fn apply_env_dir(&mut self, dir: &Path) -> Result<(), InitError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(InitError::EnvFile {
                    path: dir.to_path_buf(),
                    line: 0,
                    reason: format!("cannot list the folder: {e}"),
                });
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension() == Some(OsStr::new("env")) && path.is_file())
            .collect();
        files.sort();
        for file in files {
            self.apply_env_file(&file)?;
        }
        Ok(())
    }

    fn apply_env_file(&mut self, file: &Path) -> Result<(), InitError> {
        let error = |line: usize, reason: String| InitError::EnvFile {
            path: file.to_path_buf(),
            line,
            reason,
        };
        let text = read_bounded(file).map_err(|e| match e {
            Bounded::Io(e) => error(0, format!("cannot read it: {e}")),
            Bounded::TooLarge => InitError::EnvFileTooLarge {
                path: file.to_path_buf(),
                limit: MAX_ENV_FILE_BYTES,
            },
        })?;
        // What the environment costs `execve` so far; each line below keeps it under the bound.
        let mut cost: usize = self.vars.iter().map(|(k, v)| exec_cost(k, v)).sum();
        let text = String::from_utf8(text).map_err(|_| error(0, "it is not UTF-8".into()))?;
        for (index, raw) in text.lines().enumerate() {
            let number = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
            let Some((name, value)) = line.split_once('=') else {
                return Err(error(
                    number,
                    format!("expected NAME=VALUE, found `{line}`"),
                ));
            };
            if !is_identifier(name) {
                return Err(error(
                    number,
                    format!(
                        "`{name}` is not a variable name (letters, digits and _, not starting with a digit)"
                    ),
                ));
            }
            let invalid_value = |reason: String| InitError::EnvValue {
                path: file.to_path_buf(),
                line: number,
                name: name.to_owned(),
                reason,
            };
            if value.contains('\0') {
                return Err(invalid_value(
                    "holds a NUL byte, which no environment variable can hold (the kernel ends the string there); remove it".into(),
                ));
            }
            // `NAME=VALUE` and its terminating NUL are one string for execve.
            let limit = MAX_ENV_STRING_BYTES.saturating_sub(name.len() + 2);
            let value = match self.expand(value, limit) {
                Ok(value) => value,
                Err(Expand::Malformed(reason)) => return Err(error(number, reason)),
                Err(Expand::TooLong) => {
                    let expanded = if value.contains("${") {
                        " once its ${NAME}s are expanded"
                    } else {
                        ""
                    };
                    let grows = if value.contains(&format!("${{{name}}}")) {
                        format!(
                            " (the line reads `${{{name}}}` into `{name}`, so it grows every time such a line is applied)"
                        )
                    } else {
                        String::new()
                    };
                    return Err(invalid_value(format!(
                        "would be more than {limit} bytes{expanded}: `{name}=`, the value and a NUL form one environment string, which the kernel limits to {MAX_ENV_STRING_BYTES} bytes (MAX_ARG_STRLEN), so no handler could start; shorten it{grows}"
                    )));
                }
            };
            let added = exec_cost(OsStr::new(name), &value);
            let replaced = self
                .vars
                .get(OsStr::new(name))
                .map_or(0, |old| exec_cost(OsStr::new(name), old));
            cost = cost - replaced + added;
            if cost > MAX_CHILD_ENVIRONMENT_BYTES {
                return Err(InitError::EnvironmentTooLarge {
                    path: file.to_path_buf(),
                    line: number,
                    name: name.to_owned(),
                    variables: self.vars.len() + usize::from(replaced == 0),
                    limit: MAX_CHILD_ENVIRONMENT_BYTES,
                });
            }
            self.vars.insert(name.into(), value);
        }
        Ok(())
    }

    /// Expands `${NAME}` from the variables so far (unset = empty); everything else is literal.
    /// Stops as soon as the result passes `limit` bytes, so a value that doubles itself line
    /// after line never grows past it.
    fn expand(&self, value: &str, limit: usize) -> Result<OsString, Expand> {
        let mut out: Vec<u8> = Vec::with_capacity(value.len().min(limit));
        let mut rest = value;
        let append = |out: &mut Vec<u8>, bytes: &[u8]| {
            if out.len() + bytes.len() > limit {
                return Err(Expand::TooLong);
            }
            out.extend_from_slice(bytes);
            Ok(())
        };
        while let Some(start) = rest.find("${") {
            append(&mut out, &rest.as_bytes()[..start])?;
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(Expand::Malformed(format!(
                    "`${{` without a closing `}}` in `{value}`"
                )));
            };
            let name = &after[..end];
            if !is_identifier(name) {
                return Err(Expand::Malformed(format!(
                    "`${{{name}}}` does not name a variable"
                )));
            }
            if let Some(found) = self.vars.get(OsStr::new(name)) {
                append(&mut out, found.as_bytes())?;
            }
            rest = &after[end + 1..];
        }
        append(&mut out, rest.as_bytes())?;
        Ok(OsString::from_vec(out))
    }
}

/// Why a file could not be read within its bound.
enum Bounded {
    /// Opening or reading it failed.
    Io(std::io::Error),
    /// It holds more than [`MAX_ENV_FILE_BYTES`].
    TooLarge,
}

/// Reads `file` through a reader that stops one byte past [`MAX_ENV_FILE_BYTES`]: its size on
/// disk (or a size that changes while it is read) never decides how much memory this takes.
fn read_bounded(file: &Path) -> Result<Vec<u8>, Bounded> {
    use std::io::Read;
    let opened = std::fs::File::open(file).map_err(Bounded::Io)?;
    let mut bytes = Vec::new();
    opened
        .take(MAX_ENV_FILE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(Bounded::Io)?;
    if bytes.len() > MAX_ENV_FILE_BYTES {
        return Err(Bounded::TooLarge);
    }
    Ok(bytes)
}

/// Why a value could not be expanded.
enum Expand {
    /// A `${` that is not `${NAME}`: a malformed line.
    Malformed(String),
    /// Longer than the limit: expansion stopped there.
    TooLong,
}

/// `first` followed by the entries of the `:`-list `list` that are not `first`.
fn put_first(first: &Path, list: &OsStr) -> OsString {
    let mut out = first.as_os_str().to_owned();
    for entry in list.as_bytes().split(|&b| b == b':') {
        if entry.is_empty() || entry == first.as_os_str().as_bytes() {
            continue;
        }
        out.push(":");
        out.push(OsStr::from_bytes(entry));
    }
    out
}

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

pub(crate) fn is_executable_file(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    #[test]
    fn opt_bin_and_lib_come_first() {
        let env = ChildEnvironment::build(
            base(&[
                ("PATH", lamina_context::facts::PATH),
                (
                    "LD_LIBRARY_PATH",
                    "/lib64:/usr/lib64:/var/runtime:/var/task/lib:/opt/lib",
                ),
            ]),
            Path::new("/opt"),
        )
        .unwrap();
        assert_eq!(
            env.get("PATH").unwrap(),
            "/opt/bin:/usr/local/bin:/usr/bin/:/bin"
        );
        assert_eq!(
            env.get("LD_LIBRARY_PATH").unwrap(),
            "/opt/lib:/lib64:/usr/lib64:/var/runtime:/var/task/lib"
        );
        assert_eq!(env.get("LAMINA_OPT_DIR").unwrap(), "/opt");
    }

    #[test]
    fn env_d_files_apply_in_name_order_with_expansion() {
        let opt = tempfile::tempdir().unwrap();
        let dir = opt.path().join("lamina/env.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("20-babashka.env"),
            "# pods\nBABASHKA_PODS_DIR=${LAMINA_OPT_DIR}/.babashka/pods\nexport GREETING=${FIRST}-two\n",
        )
        .unwrap();
        std::fs::write(dir.join("10-first.env"), "FIRST=one\n\nEMPTY=\n").unwrap();
        std::fs::write(dir.join("ignored.txt"), "NOT=read\n").unwrap();
        let env = ChildEnvironment::build(base(&[("PATH", "/bin")]), opt.path()).unwrap();
        let pods = opt.path().join(".babashka/pods");
        assert_eq!(env.get("BABASHKA_PODS_DIR").unwrap(), pods.as_os_str());
        assert_eq!(env.get("GREETING").unwrap(), "one-two");
        assert_eq!(env.get("EMPTY").unwrap(), "");
        assert_eq!(env.get("NOT"), None);
    }

    #[test]
    fn a_bad_env_line_names_file_and_line() {
        let opt = tempfile::tempdir().unwrap();
        let dir = opt.path().join("lamina/env.d");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("perl.env"), "A=1\nthis is wrong\n").unwrap();
        let error = ChildEnvironment::build(base(&[]), opt.path()).unwrap_err();
        let message = error
            .to_string()
            .replace(&*opt.path().to_string_lossy(), "<opt>");
        insta::assert_snapshot!(message, @"<opt>/lamina/env.d/perl.env, line 2: expected NAME=VALUE, found `this is wrong`. Each line of an env file is NAME=VALUE (no quotes; ${NAME} expands a variable set before it), a # comment, or blank.");
    }

    #[test]
    fn settings_defaults_and_overrides() {
        let settings = Settings::from_lookup(|_| None).unwrap();
        assert_eq!(settings.opt_dir, Path::new("/opt"));
        assert_eq!(settings.adapters_dir, Path::new("/opt/lamina/adapters"));
        assert_eq!(settings.task_root, Path::new("/var/task"));
        assert_eq!(settings.timeout_margin, DEFAULT_TIMEOUT_MARGIN);
        let settings = Settings::from_lookup(|name| match name {
            "LAMINA_OPT_DIR" => Some("/tmp/layer".into()),
            "LAMINA_TIMEOUT_MARGIN_MS" => Some("250".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            settings.adapters_dir,
            Path::new("/tmp/layer/lamina/adapters")
        );
        assert_eq!(settings.timeout_margin, Duration::from_millis(250));
        let error = Settings::from_lookup(|name| {
            (name == "LAMINA_TIMEOUT_MARGIN_MS").then(|| "soon".into())
        })
        .unwrap_err();
        insta::assert_snapshot!(error.to_string(), @"LAMINA_TIMEOUT_MARGIN_MS=`soon` is invalid: expected a whole number of milliseconds, e.g. 100.");
    }
}
