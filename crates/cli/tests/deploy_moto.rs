//! `cargo lamina deploy / state / invoke --remote / prune-layers` against moto's AWS API
//! server on loopback: a script function with lamina's runtime layer, created with a role
//! the CLI creates, then unchanged, then changed. lamina-deploy's own tests count every AWS
//! call; these prove the CLI's wiring from `lamina.toml` to them.

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn moto_bin() -> PathBuf {
    let venv = std::env::var_os("LAMINA_MOTO_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/moto"),
        PathBuf::from,
    );
    venv.join("bin/moto_server")
}

struct Moto(Child, String);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build(),
    )
}

fn start_moto() -> Option<Moto> {
    let bin = moto_bin();
    if !bin.exists() {
        if std::env::var("LAMINA_SKIP_MOTO").as_deref() == Ok("1") {
            eprintln!("SKIPPED: moto is not installed at {}", bin.display());
            return None;
        }
        panic!(
            "moto is not installed at {}: python3 -m venv target/tools/moto && \
             target/tools/moto/bin/pip install 'moto[server]==5.2.5' (cargo xtask ci does it)",
            bin.display()
        );
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let moto = Moto(child, url.clone());
    let start = Instant::now();
    while agent()
        .get(format!("{url}/moto-api/config"))
        .call()
        .is_err()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "moto did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Invoke without Docker (moto echoes the event); the managed policies loaded by a reset.
    agent()
        .post(format!("{url}/moto-api/config"))
        .send(r#"{"lambda":{"use_docker":false}}"#)
        .unwrap();
    agent()
        .post(format!("{url}/moto-api/reset"))
        .send("")
        .unwrap();
    Some(moto)
}

fn lamina(dir: &Path, target: &Path, moto: &str, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .arg("lamina")
        .args(args)
        .args(["--endpoint-url", moto, "--region", "us-east-1"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo lamina {args:?}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_function_and_its_layer_are_created_then_left_alone_then_updated() {
    let Some(moto) = start_moto() else { return };
    let url = moto.1.clone();
    let project = tempfile::tempdir().unwrap();
    let target =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/scratch-projects/scripts");
    std::fs::create_dir_all(&target).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_cargo-lamina"))
        .args(["lamina", "new", "greet", "--template", "shell"])
        .current_dir(project.path())
        .status()
        .unwrap();
    assert!(status.success());
    let dir = project.path().join("greet");

    let dry = text(&lamina(
        &dir,
        &target,
        &url,
        &["deploy", "--arch", "x86_64", "--dry-run", "--create-role"],
    ));
    assert!(dry.contains("--dry-run: nothing changed"), "{dry}");
    let first = text(&lamina(
        &dir,
        &target,
        &url,
        &["deploy", "--arch", "x86_64", "--create-role"],
    ));
    assert!(first.contains("created"), "{first}");
    assert!(
        first.contains("published layer"),
        "the runtime layer is published: {first}"
    );

    // Nothing changed: nothing to do.
    let second = text(&lamina(
        &dir,
        &target,
        &url,
        &["deploy", "--arch", "x86_64"],
    ));
    assert!(!second.contains("published layer"), "{second}");
    assert!(second.contains("unchanged"), "{second}");
    let state = text(&lamina(
        &dir,
        &target,
        &url,
        &["state", "--arch", "x86_64", "--json"],
    ));
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert!(state["functions"][0]["code_drift"].is_null(), "{state}");

    // A changed memory setting is a configuration update, named.
    let spec = std::fs::read_to_string(dir.join("lamina.toml")).unwrap();
    std::fs::write(
        dir.join("lamina.toml"),
        spec.replace("memory = 128", "memory = 256"),
    )
    .unwrap();
    let third = text(&lamina(
        &dir,
        &target,
        &url,
        &["deploy", "--arch", "x86_64"],
    ));
    assert!(third.contains("configuration updated"), "{third}");

    // The deployed function answers (moto's Docker-free invoke echoes the event).
    let invoked = text(&lamina(
        &dir,
        &target,
        &url,
        &["invoke", "--remote", r#"{"name":"Ada"}"#],
    ));
    assert!(invoked.contains("Ada"), "{invoked}");

    let pruned = text(&lamina(
        &dir,
        &target,
        &url,
        &["prune-layers", "--keep", "1", "--dry-run"],
    ));
    assert!(!pruned.is_empty());
}
