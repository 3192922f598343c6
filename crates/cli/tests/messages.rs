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

/// Lambda's limits are checked where a value is given, in the same words: `max-concurrency`
/// (1 to 1600) in the spec and as a flag, the 4 KB environment with `--env`; and a flag that a
/// way of naming the function cannot honour is refused with the reason, never dropped (#19).
#[test]
fn flags_out_of_lambdas_limits_or_without_effect_are_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let executable = root.join("exe.sh");
    std::fs::write(&executable, "#!/bin/sh\nexit 3\n").unwrap();
    std::fs::set_permissions(&executable, std::fs::Permissions::from_mode(0o755)).unwrap();
    let big = format!(
        "BIG={}",
        "x".repeat(lamina_context::facts::MAX_ENVIRONMENT_BYTES)
    );
    let runs: [&[&str]; 15] = [
        &["serve", "--max-concurrency", "4294967295"],
        &["serve", "--max-concurrency", "0"],
        &["invoke", "--bootstrap", "exe.sh", "--env", &big],
        &["invoke", "--bootstrap", "exe.sh", "--layer", "runtime"],
        &["invoke", "--bootstrap", "exe.sh", "--arch", "arm64"],
        &[
            "invoke",
            "--bootstrap",
            "exe.sh",
            "--ephemeral-storage",
            "1024",
        ],
        &["invoke", "alpha", "--bootstrap", "exe.sh"],
        &["serve", "alpha", "--bootstrap", "exe.sh"],
        &["serve", "--bootstrap", "exe.sh", "--runtime-api-only"],
        &["serve", "--zip", "f.zip", "--watch"],
        &["invoke", "f", "--remote", "--timeout", "5"],
        &["invoke", "--bootstrap", "exe.sh", "--region", "eu-west-1"],
        // --env is checked as [environment] is (found re-attacking #19: it was passed on).
        &[
            "invoke",
            "--bootstrap",
            "exe.sh",
            "--env",
            "AWS_REGION=eu-west-1",
        ],
        &["serve", "--env", "AWS_LAMBDA_MAX_CONCURRENCY=1601"],
        &["invoke", "--bootstrap", "exe.sh", "--env", "A B=1"],
    ];
    let mut said = String::new();
    for args in runs {
        let shown: Vec<String> = args
            .iter()
            .map(|a| {
                if a.len() > 40 {
                    format!("{}...", &a[..10])
                } else {
                    (*a).to_string()
                }
            })
            .collect();
        said.push_str(&format!("$ cargo lamina {}\n", shown.join(" ")));
        said.push_str(&lamina(root, args));
    }
    insta::assert_snapshot!("flags_refused", said);

    let function = root.join("fn");
    std::fs::create_dir_all(&function).unwrap();
    std::fs::write(function.join("bootstrap"), "#!/bin/sh\n").unwrap();
    std::fs::write(
        function.join("lamina.toml"),
        "name = \"slots\"\nmax-concurrency = 4294967295\n",
    )
    .unwrap();
    insta::assert_snapshot!("spec_max_concurrency", lamina(&function, &["build"]));
}

/// A script function's symlink out of the project is named, with what to do (#19).
#[test]
fn a_symlink_out_of_the_project_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    std::fs::create_dir_all(root.join("outside")).unwrap();
    std::fs::write(root.join("outside/secret.txt"), "secret\n").unwrap();
    let function = root.join("project/fn");
    std::fs::create_dir_all(&function).unwrap();
    std::fs::write(function.join("lamina.toml"), "name = \"links\"\n").unwrap();
    std::fs::write(function.join("bootstrap"), "#!/bin/sh\n").unwrap();
    std::os::unix::fs::symlink("../../outside/secret.txt", function.join("creds.txt")).unwrap();
    insta::assert_snapshot!(lamina(
        &root,
        &["build", "--manifest-path", "project", "--arch", "x86_64"]
    ));
}
