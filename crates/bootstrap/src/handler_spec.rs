//! Reading `_HANDLER`: which convention, which files, and every way that can be wrong.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::environment::{ChildEnvironment, Settings, is_executable_file, is_identifier};
use crate::executable::ExecutableHandler;
use crate::init_error::InitError;
use crate::invocation::Handler;
use crate::language::Language;
use crate::log::Log;
use crate::web::{HTTP_PREFIX, WebCommand, WebHandler};
use crate::worker::{WorkerCommand, WorkerHandler};

/// Prefix of `_HANDLER` that selects the worker convention: `worker:PROGRAM [ARGS...]`.
pub const WORKER_PREFIX: &str = "worker:";
/// Prefix of `_HANDLER` that streams an executable's stdout as it is produced: `stream:FILE`.
pub const STREAM_PREFIX: &str = "stream:";
/// Function variable naming the content type of a `stream:` executable's response
/// (default `application/octet-stream`; `application/vnd.awslambda.http-integration-response`
/// for a Function URL response that opens with its prelude).
pub const STREAM_CONTENT_TYPE: &str = "LAMINA_STREAM_CONTENT_TYPE";

/// A `_HANDLER` value resolved against the task root, the layers and `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerSpec {
    /// Run this file once per invocation.
    Executable {
        /// The file.
        path: PathBuf,
        /// Its stdout is streamed as produced (`stream:`), with this content type; `None`:
        /// stdout is the whole response, posted when it exits.
        stream: Option<String>,
    },
    /// Start this command once and serve invocations through it (also used for adapters).
    Worker(WorkerCommand),
    /// Start this web server once and forward each event to it over HTTP (`http:`).
    Web(WebCommand),
}

impl HandlerSpec {
    /// Decides the convention and checks everything that can be checked before running it:
    /// files exist and are executable, `#!` interpreters and adapters are present.
    ///
    /// Rules, in order: `http:PORT[/READY]:COMMAND` is a web server; `worker:PROGRAM [ARGS...]`
    /// is a worker; `stream:FILE` is an executable whose stdout is streamed; a file named
    /// exactly like `_HANDLER` in the task root is an executable; `FILE.FUNCTION` is a
    /// function of the first of `FILE.pl`, `FILE.py`, `FILE.sh` that exists.
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
        if let Some(spec) = handler.strip_prefix(HTTP_PREFIX) {
            let (port, ready_path, words) = WebCommand::parse(spec).map_err(|r| invalid(&r))?;
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            return Ok(HandlerSpec::Web(WebCommand {
                port,
                ready_path,
                command: program_command(handler, &words, settings, environment)?,
            }));
        }
        if let Some(command) = handler.strip_prefix(WORKER_PREFIX) {
            let words: Vec<&str> = command.split_whitespace().collect();
            if words.is_empty() {
                return Err(invalid("`worker:` must be followed by the program to run"));
            }
            return Ok(HandlerSpec::Worker(program_command(
                handler,
                &words,
                settings,
                environment,
            )?));
        }
        if handler.chars().any(char::is_whitespace) {
            return Err(invalid(
                "it contains spaces, and only worker: and http: handlers take arguments",
            ));
        }
        if let Some(file) = handler.strip_prefix(STREAM_PREFIX) {
            if file.is_empty() {
                return Err(invalid("`stream:` must be followed by the file to run"));
            }
            let path = settings.task_root.join(file.trim_start_matches("./"));
            check_inside(handler, &path, settings)?;
            check_runnable(handler, &path, environment, &settings.opt_dir)?;
            let stream = stream_content_type(environment).map_err(|r| invalid(&r))?;
            return Ok(HandlerSpec::Executable {
                path,
                stream: Some(stream),
            });
        }
        let path = settings.task_root.join(handler);
        if path.exists() {
            check_inside(handler, &path, settings)?;
            check_runnable(handler, &path, environment, &settings.opt_dir)?;
            return Ok(HandlerSpec::Executable { path, stream: None });
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
        check_inside(handler, &source, settings)?;
        if found.len() > 1 {
            let names: Vec<String> = found.iter().map(|(_, p)| p.display().to_string()).collect();
            log.note(&format!(
                "_HANDLER={handler}: found {}; using {} (precedence: .pl, .py, .sh, .lisp)",
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
            args: language
                .interpreter_args()
                .iter()
                .map(Into::into)
                .chain([
                    adapter.into_os_string(),
                    source.into_os_string(),
                    function.into(),
                ])
                .collect(),
            display: format!("{handler} ({} adapter)", language.name()),
        }))
    }
}

/// The content type a `stream:` executable's response is sent with.
fn stream_content_type(environment: &ChildEnvironment) -> Result<String, String> {
    let Some(value) = environment.get(STREAM_CONTENT_TYPE) else {
        return Ok("application/octet-stream".to_owned());
    };
    match value.to_str() {
        Some(text)
            if !text.is_empty()
                && text.len() <= 256
                && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ') =>
        {
            Ok(text.to_owned())
        }
        _ => Err(format!(
            "{STREAM_CONTENT_TYPE}=`{}` is not a content type (visible ASCII and spaces, 1 to 256 bytes)",
            value.to_string_lossy()
        )),
    }
}

/// Where a worker's program is, and whether it was found on `PATH` (a bare name that is not
/// in the task root).
fn find_worker_program(
    handler: &str,
    program: &str,
    settings: &Settings,
    environment: &ChildEnvironment,
) -> Result<(PathBuf, bool), InitError> {
    if program.contains('/') {
        // `./serve.pl` and `serve.pl` name the same file; messages show the plain path.
        let program = program.trim_start_matches("./");
        return Ok((settings.task_root.join(program), false));
    }
    let in_task_root = settings.task_root.join(program);
    if in_task_root.exists() {
        return Ok((in_task_root, false));
    }
    environment
        .find_program(program)
        .map(|path| (path, true))
        .ok_or_else(|| InitError::NoSuchProgram {
            handler: handler.to_owned(),
            program: program.to_owned(),
            task_root: settings.task_root.clone(),
            search_path: environment.search_path(),
        })
}

/// Checks that `path`, once `..` and symlinks are resolved, is in the task root or in the
/// layers' `bin` folder: `_HANDLER` picks code of the function (or a layer's tool), never
/// any program of the image (`/usr/bin/id`, `../../../usr/bin/id`, a symlink to it). A path
/// that does not exist passes: the checks after this one say so.
fn check_inside(handler: &str, path: &Path, settings: &Settings) -> Result<(), InitError> {
    let Ok(resolved) = path.canonicalize() else {
        return Ok(());
    };
    let opt_bin = settings.opt_dir.join("bin");
    let inside = [&settings.task_root, &opt_bin]
        .into_iter()
        .filter_map(|root| root.canonicalize().ok())
        .any(|root| resolved.starts_with(root));
    if inside {
        return Ok(());
    }
    Err(InitError::OutsideTaskRoot {
        handler: handler.to_owned(),
        path: path.to_path_buf(),
        resolved,
        task_root: settings.task_root.clone(),
        opt_bin,
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

/// The program `words[0]` (with `words[1..]` as its arguments) of a `worker:` or `http:`
/// handler: found in the task root or on `PATH`, inside the task root or `/opt/bin` unless a
/// bare name found on `PATH` (a tool, such as an interpreter), and runnable.
fn program_command(
    handler: &str,
    words: &[&str],
    settings: &Settings,
    environment: &ChildEnvironment,
) -> Result<WorkerCommand, InitError> {
    let program = words.first().copied().unwrap_or_default();
    let (path, on_path) = find_worker_program(handler, program, settings, environment)?;
    if !on_path {
        check_inside(handler, &path, settings)?;
    }
    check_runnable(handler, &path, environment, &settings.opt_dir)?;
    Ok(WorkerCommand {
        program: path,
        args: words.iter().skip(1).map(OsString::from).collect(),
        display: handler.to_owned(),
    })
}

/// Resolves `_HANDLER` and gets it ready to serve: an executable is checked, a worker (or
/// adapter) is started and has sent `READY`, a web server listens.
pub fn load_handler(
    handler: Option<&str>,
    settings: &Settings,
    environment: Arc<ChildEnvironment>,
    log: &Log,
) -> Result<Box<dyn Handler>, InitError> {
    let mut handlers = load_handlers(handler, settings, environment, log, 1)?;
    handlers.pop().ok_or(InitError::HandlerUnset)
}

/// [`load_handler`] for `slots` invocations at once: one handler per slot, each with its own
/// worker (or adapter), except that an `http:` server is started once and shared by all, as
/// it owns its port.
pub fn load_handlers(
    handler: Option<&str>,
    settings: &Settings,
    environment: Arc<ChildEnvironment>,
    log: &Log,
    slots: usize,
) -> Result<Vec<Box<dyn Handler>>, InitError> {
    let spec = HandlerSpec::resolve(handler, settings, &environment, log)?;
    let slots = slots.max(1);
    let mut handlers: Vec<Box<dyn Handler>> = Vec::with_capacity(slots);
    match spec {
        HandlerSpec::Executable { path, stream } => {
            for _ in 0..slots {
                handlers.push(Box::new(
                    ExecutableHandler::new(
                        path.clone(),
                        handler.unwrap_or_default().trim().to_owned(),
                        settings.task_root.clone(),
                        environment.clone(),
                        log.clone(),
                        settings.timeout_margin,
                    )
                    .streaming(stream.clone()),
                ));
            }
        }
        HandlerSpec::Worker(command) => {
            for _ in 0..slots {
                handlers.push(Box::new(WorkerHandler::start(
                    command.clone(),
                    settings.task_root.clone(),
                    environment.clone(),
                    log.clone(),
                    settings.timeout_margin,
                )?));
            }
        }
        HandlerSpec::Web(web) => {
            let shared = WebHandler::start(
                web,
                settings.task_root.clone(),
                environment,
                log.clone(),
                settings.timeout_margin,
                slots,
            )?;
            for _ in 0..slots {
                handlers.push(Box::new(shared.clone()));
            }
        }
    }
    Ok(handlers)
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
    fn a_stream_content_type_is_one_header_value() {
        let mut environment = ChildEnvironment::default();
        assert_eq!(
            stream_content_type(&environment).unwrap(),
            "application/octet-stream"
        );
        environment.set(STREAM_CONTENT_TYPE, "text/plain; charset=utf-8");
        assert_eq!(
            stream_content_type(&environment).unwrap(),
            "text/plain; charset=utf-8"
        );
        for bad in ["", "text/plain\r\nx-injected: 1", "caf\u{e9}"] {
            environment.set(STREAM_CONTENT_TYPE, bad);
            assert!(stream_content_type(&environment).is_err(), "{bad:?}");
        }
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
