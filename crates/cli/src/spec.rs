//! `lamina.toml`: one function's spec (or `[package.metadata.lamina]` in a Cargo.toml).
//!
//! Everything Lambda needs to know about a function in one file, as the Perl tooling's
//! `buildspec.yml` was: how its zip is made (`[[copy]]`, `[[elf]]`, the Rust binary), how it
//! runs (handler, memory, timeout, environment, layers) and how it is deployed (role, vpc,
//! tags). Unknown keys are refused and every value is checked against Lambda's limits, each
//! error naming the file, the line and the key.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use lamina_context::facts;
use lamina_layer_builder::{
    Architecture, CopySpec, DEFAULT_RUNTIME, ElfOptions, ElfSpec, GeneratedSpec, Spec, SymlinkSpec,
};
use serde::Deserialize;
use toml::Spanned;

/// The file name of a function spec.
pub const SPEC_FILE: &str = "lamina.toml";

/// A spec that could not be read or breaks a rule, with where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The spec file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Not TOML, a wrong type, or an unknown key (toml's message names line and column).
    #[error("{path}: {message}")]
    Syntax {
        /// The spec file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value Lambda would refuse.
    #[error("{path}:{line}: `{key}`: {message}")]
    Value {
        /// The spec file.
        path: PathBuf,
        /// 1-based line of the value.
        line: usize,
        /// The key, dotted (`vpc.subnet-ids`).
        key: String,
        /// What is wrong and what Lambda accepts.
        message: String,
    },
}

/// `[vpc]`: the subnets and security groups a deployed function runs in.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VpcSpec {
    /// Subnet ids (`subnet-...`).
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Security group ids (`sg-...`).
    #[serde(default)]
    pub security_group_ids: Vec<String>,
}

/// A function's spec as written, with the position of each checked value.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSpec {
    name: Option<Spanned<String>>,
    description: Option<String>,
    handler: Option<Spanned<String>>,
    runtime: Option<Spanned<String>>,
    architectures: Option<Spanned<Vec<Architecture>>>,
    memory: Option<Spanned<u32>>,
    timeout: Option<Spanned<f64>>,
    ephemeral_storage: Option<Spanned<u32>>,
    environment: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    layers: Option<Spanned<Vec<String>>>,
    role: Option<Spanned<String>>,
    vpc: Option<VpcSpec>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    invoke_mode: Option<Spanned<String>>,
    max_concurrency: Option<Spanned<u32>>,
    tenant_isolation_mode: Option<Spanned<String>>,
    package: Option<String>,
    bin: Option<String>,
    #[serde(default)]
    copy: Vec<CopySpec>,
    #[serde(default)]
    generated: Vec<GeneratedSpec>,
    #[serde(default)]
    symlink: Vec<SymlinkSpec>,
    #[serde(default)]
    elf: Vec<ElfSpec>,
    #[serde(default)]
    elf_options: ElfOptions,
}

/// A function's spec, checked: every value within Lambda's limits.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionSpec {
    /// The file it was read from (`lamina.toml` or a `Cargo.toml`), for messages.
    pub path: PathBuf,
    /// The function's name [default: the folder's or the package's name].
    pub name: Option<String>,
    /// Free text, Lambda's `Description`.
    pub description: Option<String>,
    /// `_HANDLER` [default `bootstrap`].
    pub handler: Option<String>,
    /// Always `provided.al2023` today.
    pub runtime: String,
    /// Architectures to build [default: both].
    pub architectures: Vec<Architecture>,
    /// Memory in MB, 128 to 10,240 [default 128].
    pub memory_mb: u32,
    /// Timeout in seconds, up to 900 [default 3].
    pub timeout_s: f64,
    /// `/tmp` size in MB, 512 to 10,240 [default 512].
    pub ephemeral_storage_mb: u32,
    /// Environment variables of the function.
    pub environment: BTreeMap<String, String>,
    /// Layers in order: a layer spec folder, a layer zip, a layer of the project
    /// (`layers/NAME`), lamina's `runtime`, or for deploy a layer name or ARN.
    pub layers: Vec<String>,
    /// The execution role's ARN (deploy).
    pub role: Option<String>,
    /// Subnets and security groups (deploy).
    pub vpc: Option<VpcSpec>,
    /// Tags of the deployed function.
    pub tags: BTreeMap<String, String>,
    /// `BUFFERED` (default) or `RESPONSE_STREAM`.
    pub invoke_mode: String,
    /// Invocations one instance serves at once (`AWS_LAMBDA_MAX_CONCURRENCY`, Lambda Managed
    /// Instances) [default 1].
    pub max_concurrency: u32,
    /// `tenant-isolation-mode = "PER_TENANT"` (AWS's `TenancyConfig.TenantIsolationMode`):
    /// every invocation names its tenant and an execution environment serves one tenant for
    /// life [default: no tenant isolation].
    pub per_tenant: bool,
    /// A Rust function's Cargo package [default: the package the spec is in].
    pub package: Option<String>,
    /// A Rust function's binary [default: `bootstrap`, else the package's only binary].
    pub bin: Option<String>,
    /// What goes into the zip besides the binary, as a layer-builder spec.
    pub tree: Spec,
}

/// The memory a function gets when its spec says none, in MB: Lambda's default.
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// The timeout a function gets when its spec says none, in seconds: Lambda's default.
pub const DEFAULT_TIMEOUT_S: f64 = 3.0;
/// The `/tmp` a function gets when its spec says none, in MB: Lambda's default.
pub const DEFAULT_EPHEMERAL_STORAGE_MB: u32 = 512;

/// The variables Lambda sets itself and refuses in a function's configuration ("Defined
/// runtime environment variables", Lambda developer guide: the reserved keys). `_HANDLER` and
/// `_X_AMZN_TRACE_ID` are refused already as names: they start with `_`.
pub const RESERVED_ENV_NAMES: &[&str] = &[
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    // Set by Lambda Managed Instances; lamina sets it from `max-concurrency`.
    "AWS_LAMBDA_MAX_CONCURRENCY",
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
    "TZ",
];

/// Checks an instance's concurrency (`max-concurrency`, `--max-concurrency`) against Lambda
/// Managed Instances' range ([`facts::check_max_concurrency`]); the message is the same for
/// the spec and the flag.
pub fn check_max_concurrency(slots: u64) -> Result<u32, String> {
    facts::check_max_concurrency(slots).map_err(|refused| refused.to_string())
}

/// Whether Lambda would take `key=value` in a function's environment: a name it accepts
/// (`[a-zA-Z]([a-zA-Z0-9_])+`), not one it sets itself, and no NUL. The same words for
/// `[environment]` and `--env`.
pub fn check_environment_variable(key: &str, value: &str) -> Result<(), String> {
    if !valid_env_name(key) {
        return Err(
            "not an environment variable name: a letter, then at least one more \
                    letter, digit or `_`"
                .into(),
        );
    }
    if RESERVED_ENV_NAMES.contains(&key) {
        return Err(if key == "AWS_LAMBDA_MAX_CONCURRENCY" {
            "reserved: Lambda sets this variable itself; set `max-concurrency` (or \
             --max-concurrency) instead"
                .into()
        } else {
            "reserved: Lambda sets this variable itself and refuses it in a function's \
             configuration"
                .into()
        });
    }
    if value.contains('\0') {
        return Err(nul_refused());
    }
    Ok(())
}

/// The size of an environment as Lambda counts it against its 4 KB: every key's and value's
/// bytes; a key set twice counts once, with its last value.
pub fn environment_bytes<'a>(variables: impl IntoIterator<Item = (&'a str, &'a str)>) -> usize {
    let last: BTreeMap<&str, &str> = variables.into_iter().collect();
    last.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// What Lambda says of an environment over its limit, `bytes` counted by
/// [`environment_bytes`].
pub fn environment_too_large(bytes: usize) -> String {
    format!(
        "the variables take {bytes} bytes (keys and values): Lambda allows {} bytes (4 KB) in \
         all; put larger settings in a file of the function or layer",
        facts::MAX_ENVIRONMENT_BYTES
    )
}

impl FunctionSpec {
    /// True when the function streams its response (`invoke-mode = "RESPONSE_STREAM"`).
    pub fn streams(&self) -> bool {
        self.invoke_mode == "RESPONSE_STREAM"
    }

    /// Reads `lamina.toml`.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = read(path)?;
        Self::parse(&text, path)
    }

    /// Parses `lamina.toml` text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SpecError> {
        let raw: RawSpec = toml::from_str(text).map_err(|e| syntax(path, e))?;
        check(raw, text, path)
    }

    /// Reads `[package.metadata.lamina]` of a Cargo.toml, if it has one.
    pub fn from_cargo_manifest(path: &Path) -> Result<Option<Self>, SpecError> {
        #[derive(Deserialize)]
        struct Manifest {
            package: Option<Package>,
        }
        #[derive(Deserialize)]
        struct Package {
            metadata: Option<Metadata>,
        }
        #[derive(Deserialize)]
        struct Metadata {
            lamina: Option<RawSpec>,
        }
        let text = read(path)?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| syntax(path, e))?;
        match manifest
            .package
            .and_then(|p| p.metadata)
            .and_then(|m| m.lamina)
        {
            Some(raw) => check(raw, &text, path).map(Some),
            None => Ok(None),
        }
    }

    /// The spec of a function that has none: Lambda's defaults.
    pub fn defaults(path: &Path) -> Self {
        let raw: RawSpec = toml::from_str("").unwrap_or_else(|_| unreachable!("empty TOML"));
        match check(raw, "", path) {
            Ok(spec) => spec,
            Err(_) => unreachable!("the defaults are within Lambda's limits"),
        }
    }
}

fn read(path: &Path) -> Result<String, SpecError> {
    std::fs::read_to_string(path).map_err(|source| SpecError::Io {
        path: path.to_owned(),
        source,
    })
}

fn syntax(path: &Path, error: toml::de::Error) -> SpecError {
    let mut message = error.to_string().trim_end().replace('\n', "\n  ");
    // A typo of a key is the most common mistake: name the key meant.
    if let Some(rest) = error.message().strip_prefix("unknown field `")
        && let Some((unknown, expected)) = rest.split_once('`')
    {
        let keys: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        message.push_str(&crate::suggest::did_you_mean(unknown, &keys));
    }
    SpecError::Syntax {
        path: path.to_owned(),
        message,
    }
}

/// Checks each value of `raw` against Lambda's rules; a refusal names the file, the line and
/// the key.
fn check(raw: RawSpec, text: &str, path: &Path) -> Result<FunctionSpec, SpecError> {
    decide(raw, path).map_err(|refusal| SpecError::Value {
        path: path.to_owned(),
        line: line_of(text, refusal.span.start),
        key: refusal.key,
        message: refusal.message,
    })
}

/// A value refused: where it is written (bytes of the text), its key, and why.
#[derive(Debug, PartialEq)]
struct Refusal {
    span: Range<usize>,
    key: String,
    message: String,
}

fn refuse<T>(span: Range<usize>, key: &str, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal {
        span,
        key: key.to_owned(),
        message: message.into(),
    })
}

/// The checked spec of `raw`, each key by its own rule, in the order a reader meets them.
fn decide(raw: RawSpec, path: &Path) -> Result<FunctionSpec, Refusal> {
    check_name(raw.name.as_ref())?;
    check_handler(raw.handler.as_ref())?;
    let runtime = runtime_of(raw.runtime)?;
    let architectures = architectures_of(raw.architectures)?;
    let memory_mb = memory_of(raw.memory)?;
    let timeout_s = timeout_of(raw.timeout)?;
    let ephemeral_storage_mb = ephemeral_storage_of(raw.ephemeral_storage)?;
    let layers = layers_of(raw.layers)?;
    let environment = environment_of(raw.environment)?;
    check_role(raw.role.as_ref())?;
    let invoke_mode = invoke_mode_of(raw.invoke_mode)?;
    let max_concurrency = max_concurrency_of(raw.max_concurrency)?;
    let per_tenant = per_tenant_of(raw.tenant_isolation_mode)?;
    let tree = Spec {
        description: raw.description.clone(),
        architectures: architectures.clone(),
        copy: raw.copy,
        generated: raw.generated,
        symlink: raw.symlink,
        elf: raw.elf,
        elf_options: raw.elf_options,
        ..Spec::default()
    };
    Ok(FunctionSpec {
        path: path.to_owned(),
        name: raw.name.map(Spanned::into_inner),
        description: raw.description,
        handler: raw.handler.map(Spanned::into_inner),
        runtime,
        architectures,
        memory_mb,
        timeout_s,
        ephemeral_storage_mb,
        environment,
        layers,
        role: raw.role.map(Spanned::into_inner),
        vpc: raw.vpc,
        tags: raw.tags,
        invoke_mode,
        max_concurrency,
        per_tenant,
        package: raw.package,
        bin: raw.bin,
        tree,
    })
}

fn check_name(name: Option<&Spanned<String>>) -> Result<(), Refusal> {
    match name {
        Some(name) if !valid_function_name(name.get_ref()) => refuse(
            name.span(),
            "name",
            format!(
                "`{}` is not a Lambda function name: 1 to 64 letters, digits, `-` or `_`",
                name.get_ref()
            ),
        ),
        _ => Ok(()),
    }
}

fn check_handler(handler: Option<&Spanned<String>>) -> Result<(), Refusal> {
    let Some(handler) = handler else {
        return Ok(());
    };
    if handler.get_ref().is_empty() || handler.get_ref().len() > 128 {
        return refuse(
            handler.span(),
            "handler",
            "Lambda's handler is 1 to 128 characters",
        );
    }
    if handler.get_ref().contains('\0') {
        return refuse(handler.span(), "handler", nul_refused());
    }
    Ok(())
}

fn runtime_of(runtime: Option<Spanned<String>>) -> Result<String, Refusal> {
    match runtime {
        Some(runtime) if runtime.get_ref() != DEFAULT_RUNTIME => refuse(
            runtime.span(),
            "runtime",
            format!(
                "`{}`: lamina builds for `{DEFAULT_RUNTIME}` (the OS-only runtime)",
                runtime.get_ref()
            ),
        ),
        _ => Ok(DEFAULT_RUNTIME.to_owned()),
    }
}

fn architectures_of(
    archs: Option<Spanned<Vec<Architecture>>>,
) -> Result<Vec<Architecture>, Refusal> {
    match archs {
        Some(archs) if archs.get_ref().is_empty() => refuse(
            archs.span(),
            "architectures",
            "is empty: name x86_64, arm64 or both",
        ),
        Some(archs) => Ok(archs.into_inner()),
        None => Ok(Architecture::all()),
    }
}

fn memory_of(memory: Option<Spanned<u32>>) -> Result<u32, Refusal> {
    match memory {
        Some(memory) => facts::check_memory_mb(u64::from(*memory.get_ref()))
            .or_else(|refused| refuse(memory.span(), "memory", refused.to_string())),
        None => Ok(DEFAULT_MEMORY_MB),
    }
}

fn timeout_of(timeout: Option<Spanned<f64>>) -> Result<f64, Refusal> {
    match timeout {
        Some(timeout) => match facts::check_timeout(*timeout.get_ref()) {
            Ok(_) => Ok(timeout.into_inner()),
            Err(refused) => refuse(timeout.span(), "timeout", refused.to_string()),
        },
        None => Ok(DEFAULT_TIMEOUT_S),
    }
}

fn ephemeral_storage_of(storage: Option<Spanned<u32>>) -> Result<u32, Refusal> {
    match storage {
        Some(storage) => facts::check_ephemeral_storage_mb(u64::from(*storage.get_ref()))
            .or_else(|refused| refuse(storage.span(), "ephemeral-storage", refused.to_string())),
        None => Ok(DEFAULT_EPHEMERAL_STORAGE_MB),
    }
}

fn layers_of(layers: Option<Spanned<Vec<String>>>) -> Result<Vec<String>, Refusal> {
    let Some(layers) = layers else {
        return Ok(Vec::new());
    };
    let span = layers.span();
    let layers = layers.into_inner();
    if layers.len() > facts::MAX_LAYERS {
        return refuse(
            span,
            "layers",
            format!(
                "{} layers: Lambda allows at most {}",
                layers.len(),
                facts::MAX_LAYERS
            ),
        );
    }
    if let Some(empty) = layers.iter().find(|l| l.trim().is_empty()) {
        return refuse(
            span,
            "layers",
            format!("`{empty}`: give a layer folder, zip, name or ARN"),
        );
    }
    Ok(layers)
}

fn environment_of(
    table: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
) -> Result<BTreeMap<String, String>, Refusal> {
    let Some(table) = table else {
        return Ok(BTreeMap::new());
    };
    let span = table.span();
    let environment = table.into_inner();
    for (key, value) in &environment {
        // The table's keys carry no span: the value's line is the key's.
        if let Err(message) = check_environment_variable(key, value.get_ref()) {
            return refuse(value.span(), &format!("environment.{key}"), message);
        }
    }
    let bytes = environment_bytes(
        environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.get_ref().as_str())),
    );
    if bytes > facts::MAX_ENVIRONMENT_BYTES {
        return refuse(span, "environment", environment_too_large(bytes));
    }
    Ok(environment
        .into_iter()
        .map(|(k, v)| (k, v.into_inner()))
        .collect())
}

fn check_role(role: Option<&Spanned<String>>) -> Result<(), Refusal> {
    match role {
        Some(role) if !role.get_ref().starts_with("arn:") => refuse(
            role.span(),
            "role",
            format!(
                "`{}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                role.get_ref()
            ),
        ),
        _ => Ok(()),
    }
}

fn invoke_mode_of(mode: Option<Spanned<String>>) -> Result<String, Refusal> {
    match mode {
        Some(mode) if !matches!(mode.get_ref().as_str(), "BUFFERED" | "RESPONSE_STREAM") => refuse(
            mode.span(),
            "invoke-mode",
            format!("`{}`: BUFFERED or RESPONSE_STREAM", mode.get_ref()),
        ),
        Some(mode) => Ok(mode.into_inner()),
        None => Ok("BUFFERED".into()),
    }
}

fn max_concurrency_of(slots: Option<Spanned<u32>>) -> Result<u32, Refusal> {
    match slots {
        Some(slots) => check_max_concurrency(u64::from(*slots.get_ref()))
            .or_else(|message| refuse(slots.span(), "max-concurrency", message)),
        None => Ok(1),
    }
}

/// `tenant-isolation-mode`: AWS's one mode, `PER_TENANT`, or none.
fn per_tenant_of(mode: Option<Spanned<String>>) -> Result<bool, Refusal> {
    match mode {
        None => Ok(false),
        Some(mode) if mode.get_ref() == "PER_TENANT" => Ok(true),
        Some(mode) => refuse(
            mode.span(),
            "tenant-isolation-mode",
            format!(
                "`{}`: PER_TENANT (AWS's only TenantIsolationMode), or leave the key out for no tenant isolation",
                mode.get_ref()
            ),
        ),
    }
}

/// Lambda hands the environment and the handler to the runtime as C strings, which end at the
/// first NUL: refused here rather than failing at every start.
fn nul_refused() -> String {
    "contains a NUL byte (\\0): Lambda passes it to the runtime as a C string, which ends \
     there"
        .into()
}

/// 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// Lambda's function names: 1 to 64 of letters, digits, `-` and `_`.
pub fn valid_function_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Lambda's key pattern, `[a-zA-Z]([a-zA-Z0-9_])+`: at least two characters.
fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;

    fn error_of(text: &str) -> String {
        FunctionSpec::parse(text, Path::new("fn/lamina.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn every_key_is_read() {
        let spec = FunctionSpec::parse(
            r#"
name = "hello"
description = "greets"
handler = "handler.handle"
runtime = "provided.al2023"
architectures = ["arm64"]
memory = 256
timeout = 10
ephemeral-storage = 1024
layers = ["runtime", "../layers/tools", "arn:aws:lambda:eu-west-1:123456789012:layer:x:3"]
role = "arn:aws:iam::123456789012:role/lambda"
invoke-mode = "RESPONSE_STREAM"
tenant-isolation-mode = "PER_TENANT"

[environment]
GREETING = "hi"

[vpc]
subnet-ids = ["subnet-1"]
security-group-ids = ["sg-1"]

[tags]
team = "a"

[[copy]]
from = "handler.py"
to = "handler.py"
"#,
            Path::new("lamina.toml"),
        )
        .unwrap();
        assert_eq!(spec.name.as_deref(), Some("hello"));
        assert_eq!(spec.architectures, vec![Architecture::Arm64]);
        assert_eq!(spec.tree.architectures, vec![Architecture::Arm64]);
        assert_eq!((spec.memory_mb, spec.timeout_s), (256, 10.0));
        assert_eq!(spec.ephemeral_storage_mb, 1024);
        assert_eq!(spec.layers.len(), 3);
        assert_eq!(spec.environment["GREETING"], "hi");
        assert_eq!(spec.vpc.unwrap().subnet_ids, vec!["subnet-1"]);
        assert_eq!(spec.tags["team"], "a");
        assert_eq!(spec.tree.copy.len(), 1);
        assert_eq!(spec.invoke_mode, "RESPONSE_STREAM");
        assert!(spec.per_tenant);
    }

    #[test]
    fn defaults_are_lambdas() {
        let spec = FunctionSpec::defaults(Path::new("lamina.toml"));
        assert_eq!((spec.memory_mb, spec.timeout_s), (128, 3.0));
        assert_eq!(spec.ephemeral_storage_mb, 512);
        assert_eq!(spec.architectures, Architecture::all());
        assert_eq!(spec.runtime, "provided.al2023");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        insta::assert_snapshot!(
            [
                error_of("memory = 64\n"),
                error_of("name = \"ok\"\n\ntimeout = 901\n"),
                error_of("ephemeral-storage = 100\n"),
                error_of("name = \"a b\"\n"),
                error_of("runtime = \"python3.12\"\n"),
                error_of("architectures = []\n"),
                error_of("layers = [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\"]\n"),
                error_of("role = \"lambda-role\"\n"),
                error_of("[environment]\n1BAD = \"x\"\n"),
                error_of("invoke-mode = \"STREAM\"\n"),
                error_of("memroy = 256\n"),
                error_of("memory = \"lots\"\n"),
                error_of("architectures = [\"x86\"]\n"),
            ]
            .join("\n")
        );
    }

    #[test]
    fn tenant_isolation_is_awss_per_tenant_named_with_file_line_and_key() {
        insta::assert_snapshot!(
            error_of("name = \"ok\"\ntenant-isolation-mode = \"per-tenant\"\n"),
            @"fn/lamina.toml:2: `tenant-isolation-mode`: `per-tenant`: PER_TENANT (AWS's only TenantIsolationMode), or leave the key out for no tenant isolation"
        );
    }

    /// Values that pass the spec today and fail on Lambda (or only at run time): refused with
    /// file, line and key (#19).
    #[test]
    fn environment_handler_and_concurrency_are_lambdas() {
        let many: String = (0..500).map(|i| format!("VAR_{i:04} = \"x\"\n")).collect();
        let errors = [
            error_of("max-concurrency = 4294967295\n"),
            error_of("max-concurrency = 1601\n"),
            error_of("max-concurrency = 0\n"),
            error_of("name = \"f\"\n[environment]\nOK = \"yes\"\nBAD = \"a\\u0000b\"\n"),
            error_of("handler = \"handler.handle\\u0000x\"\n"),
            error_of("[environment]\nAWS_REGION = \"eu-west-1\"\n"),
            error_of("[environment]\nAWS_LAMBDA_RUNTIME_API = \"127.0.0.1:1\"\n"),
            error_of("[environment]\nX = \"1\"\n"),
            error_of(&format!("name = \"f\"\n\n[environment]\n{many}")),
        ];
        insta::assert_snapshot!(errors.join("\n"));
        // Just under the limit passes: 4096 bytes of keys and values.
        let value = "v".repeat(facts::MAX_ENVIRONMENT_BYTES - 3);
        let spec = FunctionSpec::parse(
            &format!("[environment]\nBIG = \"{value}\"\n"),
            Path::new("f"),
        )
        .unwrap();
        assert_eq!(spec.environment["BIG"].len(), 4093);
        let spec = FunctionSpec::parse("max-concurrency = 1600\n", Path::new("f")).unwrap();
        assert_eq!(spec.max_concurrency, 1600);
    }

    fn at<T>(value: T) -> Option<Spanned<T>> {
        Some(Spanned::new(3..5, value))
    }

    fn refused<T: std::fmt::Debug>(decided: Result<T, Refusal>) -> (Range<usize>, String, String) {
        let refusal = decided.unwrap_err();
        (refusal.span, refusal.key, refusal.message)
    }

    /// Each key's rule alone: Lambda's defaults when left out, its range's ends accepted, one
    /// past them refused at the value's place in the facts' words.
    #[test]
    fn each_rule_decides_alone() {
        assert_eq!(memory_of(None), Ok(DEFAULT_MEMORY_MB));
        assert_eq!(memory_of(at(10_240)), Ok(10_240));
        assert_eq!(
            refused(memory_of(at(127))),
            (
                3..5,
                "memory".into(),
                "127 MB: Lambda allows 128 to 10240 MB".into()
            )
        );
        assert_eq!(timeout_of(None), Ok(DEFAULT_TIMEOUT_S));
        assert_eq!(timeout_of(at(1.5)), Ok(1.5));
        assert_eq!(
            refused(timeout_of(at(f64::INFINITY))).2,
            "inf s: Lambda allows 1 to 900 seconds"
        );
        assert_eq!(ephemeral_storage_of(None), Ok(DEFAULT_EPHEMERAL_STORAGE_MB));
        assert_eq!(
            refused(ephemeral_storage_of(at(10_241))).2,
            "10241 MB: Lambda allows 512 to 10240 MB"
        );
        assert_eq!(layers_of(at(vec!["a".into(); 5])).unwrap().len(), 5);
        assert_eq!(
            refused(layers_of(at(vec!["a".into(); 6]))).2,
            "6 layers: Lambda allows at most 5"
        );
        assert_eq!(
            refused(layers_of(at(vec![" ".into()]))).2,
            "` `: give a layer folder, zip, name or ARN"
        );
        assert_eq!(max_concurrency_of(None), Ok(1));
        assert_eq!(refused(max_concurrency_of(at(0))).1, "max-concurrency");
        assert_eq!(invoke_mode_of(None), Ok("BUFFERED".into()));
        assert_eq!(
            refused(invoke_mode_of(at("stream".into()))).1,
            "invoke-mode"
        );
        assert_eq!(per_tenant_of(None), Ok(false));
        assert_eq!(per_tenant_of(at("PER_TENANT".into())), Ok(true));
        insta::assert_snapshot!(
            refused(per_tenant_of(at("per-tenant".into()))).2,
            @"`per-tenant`: PER_TENANT (AWS's only TenantIsolationMode), or leave the key out for no tenant isolation"
        );
        assert_eq!(runtime_of(None), Ok(DEFAULT_RUNTIME.into()));
        assert_eq!(architectures_of(None), Ok(Architecture::all()));
        assert_eq!(refused(architectures_of(at(vec![]))).1, "architectures");
        assert!(check_name(at("a".repeat(64)).as_ref()).is_ok());
        assert!(check_name(at("a".repeat(65)).as_ref()).is_err());
        assert!(check_handler(at("h".repeat(128)).as_ref()).is_ok());
        assert!(check_handler(at(String::new()).as_ref()).is_err());
        assert!(check_role(at("role".into()).as_ref()).is_err());
    }

    #[test]
    fn environment_keys_are_refused_at_their_values_line() {
        let table = |pairs: &[(&str, &str)]| {
            at(pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| {
                    (
                        k.to_string(),
                        Spanned::new(10 * i..10 * i + 1, v.to_string()),
                    )
                })
                .collect::<BTreeMap<_, _>>())
        };
        assert_eq!(environment_of(None), Ok(BTreeMap::new()));
        assert_eq!(environment_of(table(&[("OK", "1")])).unwrap()["OK"], "1");
        let (span, key, message) = refused(environment_of(table(&[("AB", "1"), ("TZ", "UTC")])));
        assert_eq!((span, key.as_str()), (10..11, "environment.TZ"));
        assert!(message.starts_with("reserved:"), "{message}");
        let big = "v".repeat(facts::MAX_ENVIRONMENT_BYTES - 1);
        assert_eq!(
            refused(environment_of(table(&[("AB", &big)]))).1,
            "environment"
        );
    }

    #[test]
    fn cargo_metadata_table_is_a_spec() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            "[package]\nname = \"f\"\nversion = \"0.1.0\"\n\n[package.metadata.lamina]\nmemory = 512\ntimeout = 0\n",
        )
        .unwrap();
        let error = FunctionSpec::from_cargo_manifest(&manifest)
            .unwrap_err()
            .to_string();
        assert!(
            error.ends_with("Cargo.toml:7: `timeout`: 0 s: Lambda allows 1 to 900 seconds"),
            "{error}"
        );
        std::fs::write(&manifest, "[package]\nname = \"f\"\nversion = \"0.1.0\"\n").unwrap();
        assert!(
            FunctionSpec::from_cargo_manifest(&manifest)
                .unwrap()
                .is_none()
        );
    }
}
