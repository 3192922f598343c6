//! `cargo lamina new NAME --template rust|python|perl|shell|lisp`: a function that builds, tests
//! and invokes at once.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::spec::valid_function_name;

/// The kinds of function `new` can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// A Rust handler on lamina-runtime.
    Rust,
    /// A Python `handler.handle` run by lamina's runtime layer.
    Python,
    /// A Perl `handler.handle` run by lamina's runtime layer.
    Perl,
    /// A shell script run once per event by lamina's runtime layer.
    Shell,
    /// A Common Lisp `handler.handle` run by lamina's runtime layer on SBCL.
    Lisp,
}

/// Where a new Rust function gets `lamina-runtime` from.
pub fn runtime_dependency() -> String {
    match crate::compile::lamina_source() {
        Ok(source) => format!(
            "{{ path = {:?} }}",
            source.join("crates/runtime").display().to_string()
        ),
        Err(_) => "{ git = \"https://github.com/lamina-rs/lamina\" }".to_owned(),
    }
}

/// Writes the template into `parent/name`; returns the folder.
pub fn create(parent: &Path, name: &str, template: Template) -> anyhow::Result<PathBuf> {
    if !valid_function_name(name) {
        bail!("`{name}` is not a Lambda function name: 1 to 64 letters, digits, `-` or `_`");
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists; pick another name", dir.display());
    }
    let files = files(name, template);
    // Written beside, then renamed into place: no half-made function on an error.
    let staging = tempfile::Builder::new()
        .prefix(".lamina-new-")
        .tempdir_in(parent)
        .with_context(|| format!("writing in {}", parent.display()))?;
    for (path, content, executable) in &files {
        let path = staging.path().join(path);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder)?;
        }
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        if *executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        }
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn files(name: &str, template: Template) -> Vec<(&'static str, String, bool)> {
    match template {
        Template::Rust => vec![
            (
                "Cargo.toml",
                format!(
                    r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
lamina-runtime = {dep}
serde = {{ version = "1", features = ["derive"] }}

# Settings of the function (lamina.toml beside this file works too).
[package.metadata.lamina]
memory = 128
timeout = 3
"#,
                    dep = runtime_dependency()
                ),
                false,
            ),
            ("src/main.rs", RUST_MAIN.to_owned(), false),
        ],
        Template::Python => vec![
            (
                "lamina.toml",
                script_spec("handler.handle", SCRIPT_NOTE_PYTHON),
                false,
            ),
            ("handler.py", PYTHON_HANDLER.to_owned(), false),
        ],
        Template::Perl => vec![
            (
                "lamina.toml",
                script_spec("handler.handle", SCRIPT_NOTE_PERL),
                false,
            ),
            ("handler.pl", PERL_HANDLER.to_owned(), false),
        ],
        Template::Shell => vec![
            ("lamina.toml", script_spec("handler.sh", ""), false),
            ("handler.sh", SHELL_HANDLER.to_owned(), true),
        ],
        Template::Lisp => vec![
            (
                "lamina.toml",
                script_spec("handler.handle", SCRIPT_NOTE_LISP),
                false,
            ),
            ("handler.lisp", LISP_HANDLER.to_owned(), false),
        ],
    }
}

fn script_spec(handler: &str, note: &str) -> String {
    format!(
        r#"# The function's spec: `cargo lamina build`, `invoke`, `serve` and `deploy` read it.
handler = "{handler}"
# lamina's runtime layer provides /opt/bootstrap, which runs the handler.
layers = ["runtime"]
memory = 128
timeout = 3
{note}
[environment]
GREETING = "Hello"
"#
    )
}

const SCRIPT_NOTE_PYTHON: &str = "# provided.al2023 has no python3: add a layer that provides one, built for glibc 2.34\n\
     # or older (lamina's layers/README.md, \"Interpreter layers\").\n";
const SCRIPT_NOTE_PERL: &str = "# provided.al2023 has no perl: add a layer that provides one, e.g. lamina's layers/perl\n\
     # (a folder with a layer.toml: list its path in `layers`).\n";

const SCRIPT_NOTE_LISP: &str = "# provided.al2023 has no Lisp: add a layer that provides /opt/bin/sbcl, e.g. lamina's layers/sbcl\n\
     # (a folder with a layer.toml: list its path in `layers`).\n";

const LISP_HANDLER: &str = r#";;;; Called once per event with the decoded event (a JSON object is an EQUAL hash table)
;;;; and the context; the returned alist is sent back as a JSON object.
(defun handle (event context)
  (declare (ignore context))
  (let ((greeting (or (sb-ext:posix-getenv "GREETING") "Hello"))
        (name (or (and (hash-table-p event) (gethash "name" event)) "world")))
    `(("message" . ,(format nil "~a, ~a!" greeting name)))))
"#;

const RUST_MAIN: &str = r#"use lamina_runtime::{Context, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    name: String,
}

#[derive(Serialize)]
struct Response {
    message: String,
}

fn greeting(name: &str) -> String {
    format!("Hello, {name}!")
}

fn main() {
    lamina_runtime::run(|event: Request, _ctx: &Context| -> Result<Response, Error> {
        Ok(Response {
            message: greeting(&event.name),
        })
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn greets_by_name() {
        assert_eq!(super::greeting("Ada"), "Hello, Ada!");
    }
}
"#;

const PYTHON_HANDLER: &str = r#"import os


def handle(event, context):
    """Called once per event; the return value is the response (JSON)."""
    greeting = os.environ.get("GREETING", "Hello")
    return {"message": f"{greeting}, {event.get('name', 'world')}!"}
"#;

const PERL_HANDLER: &str = r#"use strict;
use warnings;

# Called once per event with the decoded event and the context; returns the response.
sub handle {
    my ($event, $context) = @_;
    my $greeting = $ENV{GREETING} // 'Hello';
    my $name = $event->{name} // 'world';
    return { message => "$greeting, $name!" };
}

1;
"#;

const SHELL_HANDLER: &str = r#"#!/bin/bash
# Run once per event: the event is on stdin, the response goes to stdout, and what goes to
# stderr is the log. The context is in environment variables (see lamina's bootstrap README).
set -euo pipefail
event=$(cat)
name=$(printf '%s' "$event" | sed -n 's/.*"name" *: *"\([^"]*\)".*/\1/p')
printf '{"message":"%s, %s!"}\n' "${GREETING:-Hello}" "${name:-world}"
"#;
