//! Why the bootstrap cannot start the handler, each with a message saying how to fix it.

use std::path::{Path, PathBuf};

use crate::error_types;
use crate::invocation::InvocationError;
use crate::language::Language;
use crate::lines::tail_suffix;

/// Why the bootstrap cannot start the handler: reported to `/runtime/init/error`.
///
/// Each message says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitError {
    /// `_HANDLER` is unset or empty.
    #[error(
        "_HANDLER is not set. Set it to the name of an executable in the task root (e.g. handler.sh), to worker:PROGRAM for a long-lived worker, or to FILE.FUNCTION (e.g. handler.handle) for a Perl, Python or shell function."
    )]
    HandlerUnset,
    /// `_HANDLER` has a shape none of the conventions accepts.
    #[error(
        "_HANDLER=`{handler}` is not a handler lamina understands: {reason}. Use the name of an executable in the task root (e.g. handler.sh), stream:FILE (its stdout streamed), worker:PROGRAM [ARGS...], http:PORT:COMMAND, or FILE.FUNCTION (e.g. handler.handle)."
    )]
    HandlerInvalid {
        /// The value.
        handler: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A handler path that resolves outside the task root and the layers' `bin` folder.
    #[error(
        "_HANDLER=`{handler}`: {}{} is outside the task root {} and {}. A handler is the function's own code, or a layer's tool in {}: put it in the function's zip (or call it from a script there).", path.display(), resolves_to(path, resolved), task_root.display(), opt_bin.display(), opt_bin.display()
    )]
    OutsideTaskRoot {
        /// The value.
        handler: String,
        /// The path it names.
        path: PathBuf,
        /// That path with `..` and symlinks resolved.
        resolved: PathBuf,
        /// The task root.
        task_root: PathBuf,
        /// The layers' `bin` folder.
        opt_bin: PathBuf,
    },
    /// An executable handler that does not exist.
    #[error(
        "_HANDLER=`{handler}` names an executable, but {} does not exist. Put an executable file with that name at the top of the function's zip, or set _HANDLER to the file that is there.", path.display()
    )]
    NoSuchFile {
        /// The value.
        handler: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A `FILE.FUNCTION` handler whose file exists in none of the adapters' languages.
    #[error(
        "_HANDLER=`{handler}` names function `{function}` of `{file}`, but none of {file}.pl, {file}.py, {file}.sh exists in the task root {} (nor an executable named `{handler}`). Add one of those files to the function's zip, or fix _HANDLER.", task_root.display()
    )]
    NoFunctionFile {
        /// The value.
        handler: String,
        /// The FILE part.
        file: String,
        /// The FUNCTION part.
        function: String,
        /// Where the files were looked for.
        task_root: PathBuf,
    },
    /// A worker program found neither in the task root nor on `PATH`.
    #[error(
        "_HANDLER=`{handler}`: the worker program `{program}` is neither in the task root {} nor on PATH ({search_path}). Ship it in the function's zip, add a layer that puts it in /opt/bin, or give its path.", task_root.display()
    )]
    NoSuchProgram {
        /// The value.
        handler: String,
        /// The program named.
        program: String,
        /// The task root.
        task_root: PathBuf,
        /// `PATH` as searched.
        search_path: String,
    },
    /// The handler names a directory.
    #[error("_HANDLER=`{handler}`: {} is a directory, not an executable file.", path.display())]
    NotAFile {
        /// The value.
        handler: String,
        /// The directory.
        path: PathBuf,
    },
    /// The handler file lacks execute permission.
    #[error(
        "_HANDLER=`{handler}`: {} is not executable. Run `chmod +x` on it before zipping (Lambda keeps the mode stored in the zip), or use FILE.FUNCTION to call a Perl, Python or shell function in it.", path.display()
    )]
    NotExecutable {
        /// The value.
        handler: String,
        /// The file.
        path: PathBuf,
    },
    /// An interpreter (for an adapter or a `#!/usr/bin/env NAME` line) is not on `PATH`.
    #[error(
        "`{interpreter}` (needed to run {needed_by}) is not on PATH ({search_path}). {}",
        missing_interpreter_advice(interpreter, opt_bin)
    )]
    InterpreterMissing {
        /// The program looked for.
        interpreter: String,
        /// What needs it.
        needed_by: String,
        /// `PATH` as searched.
        search_path: String,
        /// `<opt>/bin`, where a layer would put it.
        opt_bin: PathBuf,
    },
    /// A script's `#!` line names an interpreter that does not exist.
    #[error(
        "{} starts with `#!{interpreter}`, but {interpreter} does not exist here. Change the first line to `#!/usr/bin/env NAME` (NAME is then found on PATH, /opt/bin first), or add a layer that provides {interpreter}.", script.display()
    )]
    ShebangInterpreterMissing {
        /// The script.
        script: PathBuf,
        /// The interpreter path from its first line.
        interpreter: String,
    },
    /// The adapter for a language is not where the layer should have put it.
    #[error(
        "the {} adapter {} is missing, so `{handler}` cannot run. Attach the lamina runtime layer (it ships the adapters under /opt/lamina/adapters), or point LAMINA_ADAPTERS_DIR at them.", language.name(), path.display()
    )]
    AdapterMissing {
        /// The value of `_HANDLER`.
        handler: String,
        /// The language.
        language: Language,
        /// Where the adapter was expected.
        path: PathBuf,
    },
    /// A malformed `env.d` file.
    #[error("{}", env_file_message(path, *line, reason))]
    EnvFile {
        /// The file (or folder).
        path: PathBuf,
        /// 1-based line, 0 for the file as a whole.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An `env.d` value no handler could start with: over the kernel's limit for one
    /// environment string once expanded, or holding NUL.
    #[error("{}, line {line}: the value of `{name}` {reason}.", path.display())]
    EnvValue {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The variable.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// An `env.d` file larger than the bootstrap reads (it stopped reading there).
    #[error(
        "{}: it is larger than {limit} bytes, the most lamina reads of one env.d file. An env file holds a few NAME=VALUE lines; put data in a file of the layer and point a variable at it.", path.display()
    )]
    EnvFileTooLarge {
        /// The file.
        path: PathBuf,
        /// The bound (`MAX_ENV_FILE_BYTES`).
        limit: usize,
    },
    /// `env.d` variables that would leave no handler able to start: the handlers'
    /// environment past the bound that keeps `execve` working.
    #[error(
        "{}, line {line}: with `{name}` the handlers' environment would be {variables} variables taking more than {limit} bytes (each NAME=VALUE, its NUL and an 8-byte pointer, as execve counts them). lamina keeps it to half of the kernel's 2 MiB for a program's arguments and environment (ARG_MAX under Lambda's 8 MiB stack), so that handlers do not fail to start with `Argument list too long`; set fewer or shorter variables.", path.display()
    )]
    EnvironmentTooLarge {
        /// The file whose line passed the bound.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The variable that line sets.
        name: String,
        /// How many variables the environment would hold with it.
        variables: usize,
        /// The bound (`MAX_CHILD_ENVIRONMENT_BYTES`).
        limit: usize,
    },
    /// A malformed `LAMINA_*` setting.
    #[error("{name}=`{value}` is invalid: {reason}.")]
    Setting {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A worker that could not be started or died before `READY`.
    #[error(
        "worker `{command}` failed to start: {reason}{}",
        tail_suffix(stderr_tail)
    )]
    WorkerFailed {
        /// How the worker is named.
        command: String,
        /// What happened.
        reason: String,
        /// The last lines of its stderr.
        stderr_tail: Vec<String>,
    },
    /// A worker that reported `INIT_ERROR` (e.g. an adapter that could not load the handler).
    #[error("{}", .0.message)]
    WorkerInit(InvocationError),
}

/// `, which resolves to X,` when `..` or a symlink took `path` elsewhere.
fn resolves_to(path: &Path, resolved: &Path) -> String {
    if path == resolved {
        String::new()
    } else {
        format!(" resolves to {}, which", resolved.display())
    }
}

/// What to do about a missing interpreter: lamina's own layer where there is one, and for
/// Python why there is none (layers/README.md, "Interpreter layers").
fn missing_interpreter_advice(interpreter: &str, opt_bin: &Path) -> String {
    let wanted = opt_bin.join(interpreter);
    match interpreter {
        "perl" => format!(
            "provided.al2023 has no Perl: add lamina's perl layer (layers/perl: {} with its core modules), or another layer that provides it.",
            wanted.display()
        ),
        "python3" | "python" => format!(
            "provided.al2023 has no Python, and lamina has no Python layer (Debian 12's python3 needs glibc 2.35; Lambda has {glibc}): the function needs a Python layer of its own, providing {} built for glibc {glibc} or older.",
            wanted.display(),
            glibc = lamina_context::facts::GLIBC_VERSION
        ),
        _ => format!(
            "Add a layer that provides {}, or use a runtime image that has it.",
            wanted.display()
        ),
    }
}

fn env_file_message(path: &Path, line: usize, reason: &str) -> String {
    if line == 0 {
        format!("{}: {reason}.", path.display())
    } else {
        format!(
            "{}, line {line}: {reason}. Each line of an env file is NAME=VALUE (no quotes; ${{NAME}} expands a variable set before it), a # comment, or blank.",
            path.display()
        )
    }
}

impl InitError {
    /// The `errorType` reported to `/runtime/init/error`.
    pub fn error_type(&self) -> &str {
        match self {
            InitError::HandlerUnset
            | InitError::HandlerInvalid { .. }
            | InitError::OutsideTaskRoot { .. } => error_types::INVALID_HANDLER,
            InitError::NoSuchFile { .. }
            | InitError::NoFunctionFile { .. }
            | InitError::NoSuchProgram { .. }
            | InitError::NotAFile { .. } => error_types::HANDLER_NOT_FOUND,
            InitError::NotExecutable { .. } => error_types::HANDLER_NOT_EXECUTABLE,
            InitError::InterpreterMissing { .. } | InitError::ShebangInterpreterMissing { .. } => {
                lamina_context::facts::error_type::INTERPRETER_NOT_FOUND
            }
            InitError::AdapterMissing { .. } => error_types::ADAPTER_NOT_FOUND,
            InitError::EnvFile { .. }
            | InitError::EnvValue { .. }
            | InitError::EnvFileTooLarge { .. }
            | InitError::EnvironmentTooLarge { .. } => error_types::INVALID_ENV_FILE,
            InitError::Setting { .. } => error_types::INVALID_SETTING,
            InitError::WorkerFailed { .. } => error_types::WORKER_START,
            InitError::WorkerInit(error) => &error.error_type,
        }
    }

    /// The error as the body of `/runtime/init/error`.
    pub fn to_invocation_error(&self) -> InvocationError {
        InvocationError {
            error_type: self.error_type().to_owned(),
            message: self.to_string(),
            stack_trace: match self {
                InitError::WorkerInit(error) => error.stack_trace.clone(),
                _ => Vec::new(),
            },
        }
    }
}
