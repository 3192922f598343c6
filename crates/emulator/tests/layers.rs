//! Functions run from a function zip and layer zips, laid out as Lambda lays them out.

mod common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use common::{agent, post};
use lamina_emulator::layout::{FunctionLayout, LayoutError, namespaces_available};
use lamina_emulator::{Emulator, EmulatorConfig};
use zip::write::SimpleFileOptions;

enum Entry<'a> {
    File(&'a str, u32, &'a str),
    Dir(&'a str),
    Link(&'a str, &'a str),
}

fn write_zip(path: &Path, entries: &[Entry]) -> PathBuf {
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).expect("create zip"));
    for entry in entries {
        match entry {
            Entry::File(name, mode, text) => {
                let options = SimpleFileOptions::default().unix_permissions(*mode);
                writer.start_file(*name, options).expect("start file");
                writer.write_all(text.as_bytes()).expect("write");
            }
            Entry::Dir(name) => {
                writer
                    .add_directory(*name, SimpleFileOptions::default())
                    .expect("dir");
            }
            Entry::Link(name, target) => {
                writer
                    .add_symlink(*name, *target, SimpleFileOptions::default())
                    .expect("link");
            }
        }
    }
    writer.finish().expect("finish zip");
    path.to_path_buf()
}

const BOOTSTRAP: &str = r#"#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  curl -sS -D ./.h "$API/invocation/next" > /dev/null 2>&1 || curl -sS -D /tmp/.lamina-h "$API/invocation/next" > /dev/null
  H=./.h; [ -f ./.h ] || H=/tmp/.lamina-h
  ID=$(sed -n 's/^lambda-runtime-aws-request-id: *//Ip' "$H" | tr -d '\r')
  OUT=$(hello)
  curl -sS -o /dev/null -X POST --data-binary "\"$OUT|$(pwd)|$LAMBDA_TASK_ROOT|$_HANDLER\"" "$API/invocation/$ID/response"
done
"#;

/// Two layers: the first brings an interpreter at /opt/bin/interp, a tool whose shebang is
/// `#!/opt/bin/interp`, a link to it and a message; the second replaces the message.
fn layers(dir: &Path) -> Vec<PathBuf> {
    let first = write_zip(
        &dir.join("layer1.zip"),
        &[
            Entry::Dir("bin/"),
            Entry::File("bin/interp", 0o755, "#!/bin/sh\nexec /bin/sh \"$@\"\n"),
            Entry::File(
                "bin/greet",
                0o755,
                "#!/opt/bin/interp\necho \"greetings from $(cat /opt/share/msg)\"\n",
            ),
            Entry::Link("bin/hello", "greet"),
            Entry::File("share/msg", 0o644, "layer one"),
        ],
    );
    let second = write_zip(
        &dir.join("layer2.zip"),
        &[Entry::File("share/msg", 0o644, "layer two")],
    );
    vec![first, second]
}

#[test]
fn a_function_zip_with_layers_runs_at_lambdas_paths() {
    if !namespaces_available() {
        eprintln!("skipped: this machine does not allow user and mount namespaces");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let function_zip = write_zip(
        &dir.path().join("function.zip"),
        &[
            Entry::File("bootstrap", 0o755, BOOTSTRAP),
            Entry::File("data.txt", 0o640, "d"),
        ],
    );
    let layout = FunctionLayout::unpack(
        &function_zip,
        &layers(dir.path()),
        &dir.path().join("unpacked"),
    )
    .expect("unpack");
    // Modes and links are kept; the later layer wins.
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&layout.task.join("bootstrap")), 0o755);
    assert_eq!(mode(&layout.task.join("data.txt")), 0o640);
    assert_eq!(
        std::fs::read_link(layout.opt.join("bin/hello")).expect("link"),
        Path::new("greet")
    );
    assert_eq!(
        std::fs::read_to_string(layout.opt.join("share/msg")).expect("msg"),
        "layer two"
    );

    let mut config = layout.function_config("layered", true).expect("config");
    config.handler = "app.handler".into();
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).expect("start");
    let answer = post(&agent(), &emulator.invoke_url("layered"), &[], b"{}");
    assert_eq!(
        answer.header("X-Amz-Function-Error"),
        None,
        "{}\n{}",
        answer.body,
        emulator.logs("layered")
    );
    assert_eq!(
        answer.body,
        "\"greetings from layer two|/var/task|/var/task|app.handler\""
    );
    assert!(
        !Path::new("/var/task/bootstrap").exists(),
        "the host's view is untouched"
    );
}

#[test]
fn without_namespaces_the_layers_are_on_path_from_their_host_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bootstrap = BOOTSTRAP.replace("OUT=$(hello)", "OUT=$(plain)");
    let function_zip = write_zip(
        &dir.path().join("function.zip"),
        &[Entry::File("bootstrap", 0o755, &bootstrap)],
    );
    let layer = write_zip(
        &dir.path().join("layer.zip"),
        &[Entry::File(
            "bin/plain",
            0o755,
            "#!/bin/sh\necho plain tool\n",
        )],
    );
    let layout = FunctionLayout::unpack(&function_zip, &[layer], &dir.path().join("unpacked"))
        .expect("unpack");
    let config = layout.function_config("fallback", false).expect("config");
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).expect("start");
    let answer = post(&agent(), &emulator.invoke_url("fallback"), &[], b"{}");
    let task = layout.task.display().to_string();
    assert_eq!(
        answer.body,
        format!("\"plain tool|{task}|{task}|bootstrap\""),
        "{}",
        emulator.logs("fallback")
    );
}

#[test]
fn the_bootstrap_may_come_from_a_layer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let function_zip = write_zip(
        &dir.path().join("function.zip"),
        &[Entry::File("handler.sh", 0o644, "x")],
    );
    let layer = write_zip(
        &dir.path().join("runtime.zip"),
        &[Entry::File("bootstrap", 0o755, BOOTSTRAP)],
    );
    let layout = FunctionLayout::unpack(&function_zip, &[layer], &dir.path().join("unpacked"))
        .expect("unpack");
    let (host, seen) = layout.bootstrap().expect("bootstrap");
    assert_eq!(host, layout.opt.join("bootstrap"));
    assert_eq!(seen, Path::new("/opt/bootstrap"));
}

#[test]
fn unsafe_or_misshapen_zips_are_refused_with_the_entry_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let into = dir.path().join("unpacked");
    let mut report = String::new();
    let mut outcome = |what: &str, result: Result<FunctionLayout, LayoutError>| {
        let text = match result {
            Ok(layout) => match layout.bootstrap() {
                Ok(_) => "ok".to_string(),
                Err(err) => err.to_string(),
            },
            Err(err) => err.to_string(),
        };
        let text = text.replace(&*dir.path().to_string_lossy(), "[dir]");
        report.push_str(&format!("{what}: {text}\n"));
    };

    let escaping = write_zip(
        &dir.path().join("escaping.zip"),
        &[Entry::File("../evil", 0o644, "x")],
    );
    outcome(
        "parent escape",
        FunctionLayout::unpack(&escaping, &[], &into),
    );
    let absolute = write_zip(
        &dir.path().join("absolute.zip"),
        &[Entry::File("/etc/evil", 0o644, "x")],
    );
    outcome(
        "absolute name",
        FunctionLayout::unpack(&absolute, &[], &into),
    );
    let through_link = write_zip(
        &dir.path().join("through.zip"),
        &[
            Entry::Link("out", "/tmp"),
            Entry::File("out/evil", 0o644, "x"),
        ],
    );
    outcome(
        "through a link",
        FunctionLayout::unpack(&through_link, &[], &into),
    );
    let wrapped = write_zip(
        &dir.path().join("wrapped.zip"),
        &[Entry::File("my-function/bootstrap", 0o755, BOOTSTRAP)],
    );
    outcome(
        "wrapper folder",
        FunctionLayout::unpack(&wrapped, &[], &into),
    );
    let not_executable = write_zip(
        &dir.path().join("mode.zip"),
        &[Entry::File("bootstrap", 0o644, BOOTSTRAP)],
    );
    outcome(
        "not executable",
        FunctionLayout::unpack(&not_executable, &[], &into),
    );
    std::fs::write(dir.path().join("junk.zip"), b"not a zip").expect("write");
    outcome(
        "not a zip",
        FunctionLayout::unpack(&dir.path().join("junk.zip"), &[], &into),
    );
    // A link to a host folder, then a folder entry of the same name with mode 0777: the
    // host folder must keep its mode (the layout used to chmod it through the link).
    let host = dir.path().join("host");
    std::fs::create_dir(&host).expect("host folder");
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(host.join("kept"), "host file").expect("host file");
    let link_then_dir = dir.path().join("link-then-dir.zip");
    {
        let mut writer =
            zip::ZipWriter::new(std::fs::File::create(&link_then_dir).expect("create zip"));
        let exec = SimpleFileOptions::default().unix_permissions(0o755);
        writer.start_file("bootstrap", exec).expect("file");
        writer.write_all(BOOTSTRAP.as_bytes()).expect("write");
        writer
            .add_symlink("evil", host.to_string_lossy(), SimpleFileOptions::default())
            .expect("link");
        writer
            .add_directory(
                "evil/",
                SimpleFileOptions::default().unix_permissions(0o777),
            )
            .expect("dir");
        writer
            .start_file("evil/planted", SimpleFileOptions::default())
            .expect("file");
        writer.write_all(b"x").expect("write");
        writer.finish().expect("finish");
    }
    outcome(
        "link then folder",
        FunctionLayout::unpack(&link_then_dir, &[], &into),
    );
    let mode = std::fs::metadata(&host).expect("host").permissions().mode() & 0o7777;
    assert_eq!(
        mode, 0o755,
        "the host folder's mode was changed through the link"
    );
    assert!(
        !host.join("planted").exists(),
        "a file was planted through the link"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("kept")).expect("kept"),
        "host file"
    );
    insta::assert_snapshot!("refused_zips", report);
    for escaped in [
        dir.path().join("evil"),
        PathBuf::from("/tmp/evil"),
        PathBuf::from("/etc/evil"),
    ] {
        assert!(!escaped.exists(), "{} was written", escaped.display());
    }
}
