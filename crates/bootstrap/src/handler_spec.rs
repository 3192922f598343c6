//! Reading `_HANDLER`: which convention, which files, and every way that can be wrong.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::environment::{ChildEnvironment, Settings, is_executable_file, is_identifier};
use crate::executable::{ExecutableHandler, tail_suffix};
use crate::invocation::{Handler, InvocationError};
use crate::log::Log;
use crate::worker::{WorkerCommand, WorkerHandler};

/// Prefix of `_HANDLER` that selects the worker convention: `worker:PROGRAM [ARGS...]`.
pub const WORKER_PREFIX: &str = "worker:";

/// A language whose functions run through an adapter shipped in the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `FILE.pl`, run by `perl <adapters>/perl.pl`.
    Perl,
    /// `FILE.py`, run by `python3 <adapters>/python.py`.
    Python,
    /// `FILE.sh`, run by `bash <adapters>/shell.sh`.
    Shell,
}

impl Language {
    /// The order in which `FILE.pl`, `FILE.py` and `FILE.sh` are looked for: the first that
    /// exists wins.
    pub const PRECEDENCE: [Language; 3] = [Language::Perl, Language::Python, Language::Shell];

    /// File extension of handler files, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Language::Perl => "pl",
            Language::Python => "py",
            Language::Shell => "sh",
        }
    }

    /// The interpreter, looked up on the handlers' `PATH` (`/opt/bin` first).
    pub fn interpreter(self) -> &'static str {
        match self {
            Language::Perl => "perl",
            Language::Python => "python3",
            Language::Shell => "bash",
        }
    }

    /// File name of the adapter in the adapters folder.
    pub fn adapter(self) -> &'static str {
        match self {
            Language::Perl => "perl.pl",
            Language::Python => "python.py",
            Language::Shell => "shell.sh",
        }
    }

    /// Name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Language::Perl => "Perl",
            Language::Python => "Python",
            Language::Shell => "shell",
        }
    }
}

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
        "_HANDLER=`{handler}` is not a handler lamina understands: {reason}. Use the name of an executable in the task root (e.g. handler.sh), worker:PROGRAM [ARGS...], or FILE.FUNCTION (e.g. handler.handle)."
    )]
    HandlerInvalid {
        /// The value.
        handler: String,
        /// What is wrong with it.
        reason: String,
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
            InitError::HandlerUnset | InitError::HandlerInvalid { .. } => "Runtime.InvalidHandler",
            InitError::NoSuchFile { .. }
            | InitError::NoFunctionFile { .. }
            | InitError::NoSuchProgram { .. }
            | InitError::NotAFile { .. } => "Runtime.HandlerNotFound",
            InitError::NotExecutable { .. } => "Runtime.HandlerNotExecutable",
            InitError::InterpreterMissing { .. } | InitError::ShebangInterpreterMissing { .. } => {
                "Runtime.InterpreterNotFound"
            }
            InitError::AdapterMissing { .. } => "Runtime.AdapterNotFound",
            InitError::EnvFile { .. } => "Runtime.InvalidEnvFile",
            InitError::Setting { .. } => "Runtime.InvalidSetting",
            InitError::WorkerFailed { .. } => "Runtime.WorkerStartError",
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

/// A `_HANDLER` value resolved against the task root, the layers and `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerSpec {
    /// Run this file once per invocation.
    Executable {
        /// The file.
        path: PathBuf,
    },
    /// Start this command once and serve invocations through it (also used for adapters).
    Worker(WorkerCommand),
}

impl HandlerSpec {
    /// Decides the convention and checks everything that can be checked before running it:
    /// files exist and are executable, `#!` interpreters and adapters are present.
    ///
    /// Rules, in order: `worker:PROGRAM [ARGS...]` is a worker; a file named exactly like
    /// `_HANDLER` in the task root is an executable; `FILE.FUNCTION` is a function of the first
    /// of `FILE.pl`, `FILE.py`, `FILE.sh` that exists.
    pub fn resolve(
        handler: Option<&str>,
        settings: &Settings,
        environment: &ChildEnvironment,
        log: &Log,
    ) -> Result<Self, InitError> {
        let handler = handler.map(str::trim).unwrap_or_default();
        if handler.is_empty() {
            return Err(InitError::HandlerUnset);
        }
        let invalid = |reason: &str| InitError::HandlerInvalid {
            handler: handler.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(command) = handler.strip_prefix(WORKER_PREFIX) {
            let mut words = command.split_whitespace();
            let Some(program) = words.next() else {
                return Err(invalid("`worker:` must be followed by the program to run"));
            };
            let args = words.map(OsString::from).collect();
            let path = find_worker_program(handler, program, settings, environment)?;
            check_runnable(handler, &path, environment, &settings.opt_dir)?;
            return Ok(HandlerSpec::Worker(WorkerCommand {
                program: path,
                args,
                display: handler.to_owned(),
            }));
        }
        if handler.chars().any(char::is_whitespace) {
            return Err(invalid(
                "it contains spaces, and only worker: handlers take arguments",
            ));
        }
        let path = settings.task_root.join(handler);
        if path.exists() {
            check_runnable(handler, &path, environment, &settings.opt_dir)?;
            return Ok(HandlerSpec::Executable { path });
        }
        let Some((file, function)) = handler.rsplit_once('.') else {
            return Err(InitError::NoSuchFile {
                handler: handler.to_owned(),
                path,
            });
        };
        if file.is_empty() || !is_identifier(function) {
            return Err(invalid(&format!(
                "there is no file {}, and `{function}` is not a function name (letters, digits and _), so it is not FILE.FUNCTION either",
                path.display()
            )));
        }
        let found: Vec<(Language, PathBuf)> = Language::PRECEDENCE
            .into_iter()
            .map(|language| {
                let name = format!("{file}.{}", language.extension());
                (language, settings.task_root.join(name))
            })
            .filter(|(_, path)| path.is_file())
            .collect();
        let Some((language, source)) = found.first().cloned() else {
            return Err(InitError::NoFunctionFile {
                handler: handler.to_owned(),
                file: file.to_owned(),
                function: function.to_owned(),
                task_root: settings.task_root.clone(),
            });
        };
        if found.len() > 1 {
            let names: Vec<String> = found.iter().map(|(_, p)| p.display().to_string()).collect();
            log.note(&format!(
                "_HANDLER={handler}: found {}; using {} (precedence: .pl, .py, .sh)",
                names.join(" and "),
                source.display()
            ));
        }
        let adapter = settings.adapters_dir.join(language.adapter());
        if !adapter.is_file() {
            return Err(InitError::AdapterMissing {
                handler: handler.to_owned(),
                language,
                path: adapter,
            });
        }
        let interpreter = environment
            .find_program(language.interpreter())
            .ok_or_else(|| InitError::InterpreterMissing {
                interpreter: language.interpreter().to_owned(),
                needed_by: source.display().to_string(),
                search_path: environment.search_path(),
                opt_bin: settings.opt_dir.join("bin"),
            })?;
        Ok(HandlerSpec::Worker(WorkerCommand {
            program: interpreter,
            args: vec![
                adapter.into_os_string(),
                source.into_os_string(),
                function.into(),
            ],
            display: format!("{handler} ({} adapter)", language.name()),
        }))
    }
}

fn find_worker_program(
    handler: &str,
    program: &str,
    settings: &Settings,
    environment: &ChildEnvironment,
) -> Result<PathBuf, InitError> {
    if program.contains('/') {
        // `./serve.pl` and `serve.pl` name the same file; messages show the plain path.
        let program = program.trim_start_matches("./");
        return Ok(settings.task_root.join(program));
    }
    let in_task_root = settings.task_root.join(program);
    if in_task_root.exists() {
        return Ok(in_task_root);
    }
    environment
        .find_program(program)
        .ok_or_else(|| InitError::NoSuchProgram {
            handler: handler.to_owned(),
            program: program.to_owned(),
            task_root: settings.task_root.clone(),
            search_path: environment.search_path(),
        })
}

/// Checks that `path` is an executable file whose `#!` interpreter (if any) exists.
fn check_runnable(
    handler: &str,
    path: &Path,
    environment: &ChildEnvironment,
    opt_dir: &Path,
) -> Result<(), InitError> {
    let metadata = std::fs::metadata(path).map_err(|_| InitError::NoSuchFile {
        handler: handler.to_owned(),
        path: path.to_path_buf(),
    })?;
    if metadata.is_dir() {
        return Err(InitError::NotAFile {
            handler: handler.to_owned(),
            path: path.to_path_buf(),
        });
    }
    if !is_executable_file(path) {
        return Err(InitError::NotExecutable {
            handler: handler.to_owned(),
            path: path.to_path_buf(),
        });
    }
    let Some((interpreter, argument)) = read_shebang(path) else {
        return Ok(());
    };
    if interpreter == "/usr/bin/env" || interpreter == "/bin/env" {
        // `#!/usr/bin/env -S perl -w` or `#!/usr/bin/env perl`: the program is the first word
        // that is not an option.
        let program = argument
            .split_whitespace()
            .find(|word| !word.starts_with('-') && !word.contains('='));
        if let Some(program) = program
            && !program.contains('/')
            && environment.find_program(program).is_none()
        {
            return Err(InitError::InterpreterMissing {
                interpreter: program.to_owned(),
                needed_by: path.display().to_string(),
                search_path: environment.search_path(),
                opt_bin: opt_dir.join("bin"),
            });
        }
    }
    if interpreter.starts_with('/') && !Path::new(&interpreter).exists() {
        return Err(InitError::ShebangInterpreterMissing {
            script: path.to_path_buf(),
            interpreter,
        });
    }
    Ok(())
}

/// The interpreter and the rest of a `#!` line, if the file starts with one.
fn read_shebang(path: &Path) -> Option<(String, String)> {
    let mut head = [0u8; 256];
    let mut file = std::fs::File::open(path).ok()?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => filled += n,
        }
    }
    let head = head[..filled].strip_prefix(b"#!")?;
    let line = head.split(|&b| b == b'\n').next()?;
    let line = String::from_utf8_lossy(line);
    let line = line.trim();
    let (interpreter, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
    Some((interpreter.to_owned(), rest.trim().to_owned()))
}

/// Resolves `_HANDLER` and gets it ready to serve: an executable is checked, a worker (or
/// adapter) is started and has sent `READY`.
pub fn load_handler(
    handler: Option<&str>,
    settings: &Settings,
    environment: Arc<ChildEnvironment>,
    log: &Log,
) -> Result<Box<dyn Handler>, InitError> {
    match HandlerSpec::resolve(handler, settings, &environment, log)? {
        HandlerSpec::Executable { path } => Ok(Box::new(ExecutableHandler::new(
            path,
            handler.unwrap_or_default().trim().to_owned(),
            settings.task_root.clone(),
            environment,
            log.clone(),
            settings.timeout_margin,
        ))),
        HandlerSpec::Worker(command) => Ok(Box::new(WorkerHandler::start(
            command,
            settings.task_root.clone(),
            environment,
            log.clone(),
            settings.timeout_margin,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shebang_of(text: &str) -> Option<(String, String)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script");
        std::fs::write(&path, text).unwrap();
        read_shebang(&path)
    }

    #[test]
    fn shebang_lines() {
        assert_eq!(
            shebang_of("#!/bin/bash\necho\n"),
            Some(("/bin/bash".into(), String::new()))
        );
        assert_eq!(
            shebang_of("#! /usr/bin/env -S perl -w\n"),
            Some(("/usr/bin/env".into(), "-S perl -w".into()))
        );
        assert_eq!(shebang_of("echo no shebang\n"), None);
        assert_eq!(shebang_of(""), None);
    }

    #[test]
    fn env_shebang_programs_are_looked_up_on_the_handlers_path() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("serve");
        std::fs::write(&script, "#!/usr/bin/env -S no-such-interpreter --flag\n").unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let mut environment = ChildEnvironment::default();
        environment.set("PATH", "/usr/bin:/bin");
        let error = check_runnable("serve", &script, &environment, Path::new("/opt")).unwrap_err();
        assert!(
            matches!(&error, InitError::InterpreterMissing { interpreter, .. } if interpreter == "no-such-interpreter"),
            "{error}"
        );
        std::fs::write(&script, "#!/usr/bin/env -S sh -e\n").unwrap();
        check_runnable("serve", &script, &environment, Path::new("/opt")).unwrap();
    }
}
