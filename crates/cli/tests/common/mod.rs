//! Shared by the tests that run `cargo lamina` on this repository's own samples.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The repository's root.
pub fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The target folder these tests build in: shared with the scratch-project tests, so the
/// runtime layer and the samples are compiled once.
pub fn target() -> PathBuf {
    let dir = repository().join("target/scratch-projects/repository-runtime");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `cargo lamina serve`: its Invoke API base URL and the first function's own URL.
pub struct Served {
    child: Child,
    /// The Invoke API's base URL.
    pub base: String,
    /// The first function's own URL (`--http-port`), when asked for.
    pub own: Option<String>,
}

impl Drop for Served {
    /// Stops serve as Ctrl-C would, so it stops its functions (a SIGKILL would leave them
    /// frozen until the next emulator starts).
    fn drop(&mut self) {
        let stopped = libc::pid_t::try_from(self.child.id()).is_ok_and(|pid| {
            // SAFETY: kill(2) takes plain integers; the pid is our own child, not yet reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) == 0 }
        });
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts `cargo lamina serve --port 0` with `args` on this repository and waits until it
/// serves.
pub fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .args(["lamina", "serve", "--port", "0"])
        .args(args)
        .current_dir(repository())
        .env("CARGO_TARGET_DIR", target())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut own) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(url) = line.strip_prefix("Invoke API: ") {
            base = Some(url.trim().to_string());
        }
        if let Some((_, url)) = line.split_once("at its own URL: curl -s ") {
            own = Some(url.trim().trim_end_matches('/').to_string());
        }
        if line.starts_with("Function logs follow") {
            break;
        }
    }
    // Keep reading stdout so serve never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Served {
        child,
        base: base.expect("serve printed its Invoke API"),
        own,
    }
}

/// Runs `command` (`cargo lamina invoke ...` of `sample-stream-shell` with `{"steps":4}`),
/// asserts that it succeeds and that its four steps reach stdout as they are printed (the
/// first line at least 0.6 s before the end, as the script sleeps 0.3 s between lines), and
/// returns its stderr.
pub fn assert_steps_stream(command: &mut Command) -> String {
    use std::time::{Duration, Instant};
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let first_at = Instant::now();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let end_at = Instant::now();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert_eq!(first, "step 1 of 4\n");
    assert_eq!(
        rest.trim_end(),
        "step 2 of 4\nstep 3 of 4\nstep 4 of 4\ndone"
    );
    assert!(
        end_at - first_at >= Duration::from_millis(600),
        "first line {:?} before the end: buffered",
        end_at - first_at
    );
    stderr
}
