//! What follows `http:` in `_HANDLER`: the port, the ready path and the server's command.

use crate::worker::WorkerCommand;

/// A web server to run: where it listens and the command that starts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebCommand {
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// A path that answers below 500 once the server is ready; by default, an accepted
    /// connection is enough.
    pub ready_path: Option<String>,
    /// The program and its arguments.
    pub command: WorkerCommand,
}

impl WebCommand {
    /// Splits `PORT[/READY_PATH]:COMMAND ARGS` (what follows `http:`) into the port, the ready
    /// path and the command's words.
    pub fn parse(spec: &str) -> Result<(u16, Option<String>, Vec<String>), String> {
        let Some((address, command)) = spec.split_once(':') else {
            return Err("`http:` must be followed by PORT:COMMAND, e.g. http:8080:./app.py".into());
        };
        let (port, ready_path) = match address.split_once('/') {
            Some((port, path)) => (port, Some(format!("/{path}"))),
            None => (address, None),
        };
        let port =
            port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                format!("`{port}` is not a port (1-65535): use http:PORT:COMMAND")
            })?;
        let words: Vec<String> = command.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return Err(
                "`http:PORT:` must be followed by the command that starts the server".into(),
            );
        }
        Ok((port, ready_path, words))
    }
}
