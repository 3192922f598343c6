//! What `cargo lamina` says: its help texts and its errors, each a snapshot. An error says
//! what is wrong and what to do, in one line where it can.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::Path;
use std::process::Command;

/// `cargo lamina ARGS` in `dir`: exit code and what it printed, with `dir` as `$DIR`.
fn lamina(dir: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .arg("lamina")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .unwrap();
    let text = format!(
        "exit {}\n{}{}",
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.replace(&dir.display().to_string(), "$DIR")
}

#[test]
fn help_texts() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["", "new", "build", "layer", "check", "invoke", "serve"] {
        let mut args: Vec<&str> = command.split_whitespace().collect();
        args.push("--help");
        insta::assert_snapshot!(
            format!("help_{}", if command.is_empty() { "main" } else { command }),
            lamina(dir.path(), &args)
        );
    }
}

#[test]
fn typos_get_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    insta::assert_snapshot!(lamina(dir.path(), &["buidl"]));
    insta::assert_snapshot!(lamina(dir.path(), &["build", "--arhc", "arm64"]));
    insta::assert_snapshot!(lamina(dir.path(), &["build", "--arch", "x86"]));
}

#[test]
fn errors_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // An empty folder: no function.
    insta::assert_snapshot!("no_function", lamina(root, &["build"]));

    // A typo in a spec names file, line and key.
    let typo = root.join("typo");
    std::fs::create_dir_all(&typo).unwrap();
    std::fs::write(
        typo.join("lamina.toml"),
        "handler = \"h.sh\"\nmemroy = 256\n",
    )
    .unwrap();
    insta::assert_snapshot!("spec_typo", lamina(&typo, &["build"]));
    std::fs::write(
        typo.join("lamina.toml"),
        "handler = \"h.sh\"\ntimeout = 1000\n",
    )
    .unwrap();
    insta::assert_snapshot!("spec_value", lamina(&typo, &["build"]));

    // Two functions: a name that is not one of them; an architecture the spec leaves out.
    std::fs::remove_dir_all(&typo).unwrap();
    for name in ["alpha", "beta"] {
        let function = root.join(name);
        std::fs::create_dir_all(&function).unwrap();
        std::fs::write(
            function.join("lamina.toml"),
            "handler = \"run.sh\"\narchitectures = [\"x86_64\"]\n",
        )
        .unwrap();
        std::fs::write(function.join("bootstrap"), "#!/bin/sh\n").unwrap();
    }
    insta::assert_snapshot!("unknown_function", lamina(root, &["invoke", "alpah", "{}"]));
    insta::assert_snapshot!("which_function", lamina(root, &["invoke", "{}"]));
    insta::assert_snapshot!(
        "arch_not_listed",
        lamina(root, &["build", "alpha", "--arch", "arm64"])
    );
    insta::assert_snapshot!("no_such_layer", lamina(root, &["layer", "runtme"]));
    insta::assert_snapshot!(
        "layer_folder_without_spec",
        lamina(root, &["layer", "./alpha"])
    );
    insta::assert_snapshot!("not_a_zip", lamina(root, &["check", "alpha/bootstrap"]));

    // A Cargo package: no such binary, no such package.
    let cargo = root.join("crate");
    std::fs::create_dir_all(cargo.join("src")).unwrap();
    std::fs::write(
        cargo.join("Cargo.toml"),
        "[package]\nname = \"crate-fn\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[package.metadata.lamina]\nmemory = 256\n",
    )
    .unwrap();
    std::fs::write(cargo.join("src/main.rs"), "fn main() {}\n").unwrap();
    insta::assert_snapshot!(
        "no_such_bin",
        lamina(&cargo, &["build", "--bin", "bootstrp"])
    );
    insta::assert_snapshot!(
        "no_such_package",
        lamina(&cargo, &["build", "-p", "crate-fun"])
    );
}
