//! A moto server (a real AWS API server, in Python) on a loopback port, one per test, and
//! what the tests need around it: a Lambda client that counts the operations it sends, an
//! IAM role, boto3 for changes made out of band, and small function and layer zips.
#![allow(clippy::unwrap_used, dead_code)] // Tests fail loudly on purpose.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_lambda::config::{ConfigBag, Credentials, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use lamina_deploy::aws_sdk_lambda;
use lamina_deploy::{
    ApplyOptions, ApplyReport, Arch, ClientOptions, FunctionPlanInput, LayerRef, LocalLayer, Plan,
};

pub const REGION: &str = "us-east-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

/// The venv `cargo xtask ci` installs moto into: `LAMINA_MOTO_VENV`, or
/// `target/tools/moto` in the workspace.
pub fn moto_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LAMINA_MOTO_VENV") {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap();
    workspace.join("target/tools/moto")
}

pub const INSTALL: &str =
    "python3 -m venv target/tools/moto && target/tools/moto/bin/pip install 'moto[server]==5.2.5'";

/// A running moto server (killed on drop) and a client for it.
pub struct Moto {
    _server: Server,
    pub url: String,
    pub ops: Arc<Mutex<Vec<String>>>,
    pub client: aws_sdk_lambda::Client,
    pub role_arn: String,
    pub dir: tempfile::TempDir,
}

/// The moto_server process, killed on drop: made right after the spawn, so that a failed
/// readiness check (a panic) does not leave the server running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts moto, or returns `None` (loudly) when LAMINA_SKIP_MOTO=1 and it is not installed.
pub async fn moto() -> Option<Moto> {
    let bin = moto_dir().join("bin/moto_server");
    if !bin.exists() {
        if std::env::var("LAMINA_SKIP_MOTO").as_deref() == Ok("1") {
            eprintln!(
                "SKIPPED: moto is not installed at {} and LAMINA_SKIP_MOTO=1",
                bin.display()
            );
            return None;
        }
        panic!(
            "moto is not installed at {}: from the workspace root run\n  {INSTALL}\n(or set LAMINA_SKIP_MOTO=1 to skip the AWS API tests)",
            bin.display()
        );
    }
    // moto cannot listen on port 0: take a free port from the kernel, free it, hand it over.
    // Another process could take it meanwhile; the readiness check below would then fail.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("moto.log")).unwrap();
    let server = Server(
        Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // AWS's managed IAM policies (AWSLambdaBasicExecutionRole) exist only when asked for,
            // and moto's config API does not take this one.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        // moto answers its config with 201.
        if let Ok((200..=299, _)) = http(port, "GET", "/moto-api/config", "") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "moto_server did not answer on {url} within 60 s; its log: {}",
            std::fs::read_to_string(dir.path().join("moto.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Invoke without Docker: moto's "simple" Lambda echoes the payload.
    let (status, body) = http(
        port,
        "POST",
        "/moto-api/config",
        r#"{"lambda":{"use_docker":false}}"#,
    )
    .unwrap();
    assert_eq!(status, 201, "{body}");
    // IAM's backend already exists by now: a reset makes it again, with the policies.
    let (status, body) = http(port, "POST", "/moto-api/reset", "").unwrap();
    assert_eq!(status, 200, "{body}");
    let ops = Arc::new(Mutex::new(Vec::new()));
    let client = client(&url, ops.clone()).await;
    let role_arn = boto3(
        &url,
        "print(c('iam').create_role(RoleName='lamina-test', AssumeRolePolicyDocument='{}')['Role']['Arn'])",
    );
    Some(Moto {
        _server: server,
        url,
        ops,
        client,
        role_arn,
        dir,
    })
}

/// A Lambda client for `url` with fixed test credentials, recording each operation's name.
pub async fn client(url: &str, ops: Arc<Mutex<Vec<String>>>) -> aws_sdk_lambda::Client {
    let config = lamina_deploy::config_loader(&ClientOptions {
        region: Some(REGION.into()),
        endpoint_url: Some(url.into()),
        profile: None,
    })
    .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
    .load()
    .await;
    let conf = aws_sdk_lambda::config::Builder::from(&config)
        .interceptor(CountOps(ops))
        .build();
    aws_sdk_lambda::Client::from_conf(conf)
}

/// Records the name of every operation the client starts: the count of calls moto received.
#[derive(Debug)]
struct CountOps(Arc<Mutex<Vec<String>>>);

impl Intercept for CountOps {
    fn name(&self) -> &'static str {
        "CountOps"
    }

    // Just before the request goes out: a retried request counts again, as moto sees it.
    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            self.0.lock().unwrap().push(meta.name().to_string());
        }
        Ok(())
    }
}

impl Moto {
    /// Operation names since the last call, and forgets them.
    pub fn take_ops(&self) -> Vec<String> {
        std::mem::take(&mut *self.ops.lock().unwrap())
    }

    /// A zip holding an executable `bootstrap` with `body`, at `name` under the test's folder.
    pub fn zip(&self, name: &str, body: &str) -> (PathBuf, String) {
        let path = self.dir.path().join(name);
        write_zip(&path, "bootstrap", body);
        let sha = lamina_deploy::code_sha256(&path).unwrap();
        (path, sha)
    }

    /// A local layer `name` whose zip holds `bin/tool` with `body`.
    pub fn layer(&self, name: &str, body: &str) -> LayerRef {
        let path = self.dir.path().join(format!("{name}-{}.zip", body.len()));
        write_zip(&path, "bin/tool", body);
        LayerRef::Local(LocalLayer {
            name: name.into(),
            code_sha256: lamina_deploy::code_sha256(&path).unwrap(),
            zip_path: path,
            compatible_runtimes: vec!["provided.al2023".into()],
            compatible_architectures: vec![Arch::X86_64],
            description: String::new(),
        })
    }

    /// A function spec with everything set, its code `body`.
    pub fn function(&self, name: &str, body: &str, layers: Vec<LayerRef>) -> FunctionPlanInput {
        let (zip_path, sha) = self.zip(&format!("{name}-{}.zip", body.len()), body);
        FunctionPlanInput {
            name: name.into(),
            zip_path,
            code_sha256: Some(sha),
            handler: "handler.main".into(),
            runtime: "provided.al2023".into(),
            architectures: vec![Arch::X86_64],
            memory_mb: 128,
            timeout_s: 10,
            ephemeral_storage_mb: 512,
            environment: BTreeMap::from([("GREETING".into(), "hello".into())]),
            layers,
            role: Some(self.role_arn.clone()),
            vpc: None,
            description: "a lamina test function".into(),
            tags: BTreeMap::from([("team".into(), "lamina".into())]),
            per_tenant: false,
        }
    }

    /// Runs Python with boto3 against this server; `c(service)` is a client for it.
    pub fn boto3(&self, code: &str) -> String {
        boto3(&self.url, code)
    }
}

fn boto3(url: &str, code: &str) -> String {
    let prelude = format!(
        "import boto3\ndef c(s): return boto3.client(s, endpoint_url='{url}', region_name='{REGION}', aws_access_key_id='testing', aws_secret_access_key='testing')\n"
    );
    let out = Command::new(moto_dir().join("bin/python"))
        .args(["-c", &format!("{prelude}{code}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn write_zip(path: &Path, entry: &str, body: &str) {
    use zip::write::SimpleFileOptions;
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o755)
        .last_modified_time(zip::DateTime::default());
    w.start_file(entry, options).unwrap();
    w.write_all(body.as_bytes()).unwrap();
    w.finish().unwrap();
}

/// One HTTP/1.1 request to moto's own API (no SDK for it): status and body.
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Plans and applies, returning the plan, the report and the operations sent.
pub async fn deploy(
    m: &Moto,
    inputs: &[FunctionPlanInput],
    options: &ApplyOptions,
) -> (Plan, ApplyReport, Vec<String>) {
    m.take_ops();
    let p = lamina_deploy::plan(&m.client, inputs).await.unwrap();
    let report = lamina_deploy::apply(&m.client, &p, options).await.unwrap();
    (p, report, m.take_ops())
}

/// The operations that change something.
pub fn changing(ops: &[String]) -> Vec<&str> {
    ops.iter()
        .map(String::as_str)
        .filter(|op| {
            ["Create", "Update", "Publish", "Tag", "Untag", "Delete"]
                .iter()
                .any(|p| op.starts_with(p))
        })
        .collect()
}

/// Polls every 50 ms instead of every second.
pub fn fast() -> ApplyOptions {
    ApplyOptions {
        poll_interval: std::time::Duration::from_millis(50),
        ..ApplyOptions::default()
    }
}

/// The ARN moto gives `name:version`.
pub fn layer_arn(name: &str, version: u32) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:{version}")
}
