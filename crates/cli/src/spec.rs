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
    /// A Rust function's Cargo package [default: the package the spec is in].
    pub package: Option<String>,
    /// A Rust function's binary [default: `bootstrap`, else the package's only binary].
    pub bin: Option<String>,
    /// What goes into the zip besides the binary, as a layer-builder spec.
    pub tree: Spec,
}

/// Lambda's memory range, in MB.
pub const MEMORY_MB: Range<u32> = 128..10_241;
/// Lambda's ephemeral storage range, in MB.
pub const EPHEMERAL_STORAGE_MB: Range<u32> = 512..10_241;
/// Lambda's longest timeout, in seconds.
pub const MAX_TIMEOUT_S: f64 = 900.0;
/// Lambda's most layers per function.
pub const MAX_LAYERS: usize = 5;

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
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_REGION",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
    "TZ",
];

/// Checks an instance's concurrency (`max-concurrency`, `--max-concurrency`) against Lambda
/// Managed Instances' range; the message is the same for the spec and the flag.
pub fn check_max_concurrency(slots: u64) -> Result<u32, String> {
    let range = lamina_context::facts::MAX_CONCURRENCY_RANGE;
    match u32::try_from(slots) {
        Ok(slots) if range.contains(&slots) => Ok(slots),
        _ => Err(format!(
            "{slots}: Lambda Managed Instances run {} to {} invocations at once in one \
             execution environment (PerExecutionEnvironmentMaxConcurrency)",
            range.start(),
            range.end()
        )),
    }
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
        lamina_context::facts::MAX_ENVIRONMENT_BYTES
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
        message.push_str(&crate::project::did_you_mean(unknown, &keys));
    }
    SpecError::Syntax {
        path: path.to_owned(),
        message,
    }
}

/// Checks each value of `raw` against Lambda's rules.
fn check(raw: RawSpec, text: &str, path: &Path) -> Result<FunctionSpec, SpecError> {
    let refuse = |span: Range<usize>, key: &str, message: String| SpecError::Value {
        path: path.to_owned(),
        line: line_of(text, span.start),
        key: key.to_owned(),
        message,
    };
    if let Some(name) = &raw.name
        && !valid_function_name(name.get_ref())
    {
        return Err(refuse(
            name.span(),
            "name",
            format!(
                "`{}` is not a Lambda function name: 1 to 64 letters, digits, `-` or `_`",
                name.get_ref()
            ),
        ));
    }
    if let Some(handler) = &raw.handler {
        if handler.get_ref().is_empty() || handler.get_ref().len() > 128 {
            return Err(refuse(
                handler.span(),
                "handler",
                "Lambda's handler is 1 to 128 characters".into(),
            ));
        }
        if handler.get_ref().contains('\0') {
            return Err(refuse(handler.span(), "handler", nul_refused()));
        }
    }
    let runtime = match raw.runtime {
        Some(runtime) if runtime.get_ref() != DEFAULT_RUNTIME => {
            return Err(refuse(
                runtime.span(),
                "runtime",
                format!(
                    "`{}`: lamina builds for `{DEFAULT_RUNTIME}` (the OS-only runtime)",
                    runtime.get_ref()
                ),
            ));
        }
        _ => DEFAULT_RUNTIME.to_owned(),
    };
    let architectures = match raw.architectures {
        Some(archs) if archs.get_ref().is_empty() => {
            return Err(refuse(
                archs.span(),
                "architectures",
                "is empty: name x86_64, arm64 or both".into(),
            ));
        }
        Some(archs) => archs.into_inner(),
        None => Architecture::all(),
    };
    let memory_mb = match raw.memory {
        Some(memory) if !MEMORY_MB.contains(memory.get_ref()) => {
            return Err(refuse(
                memory.span(),
                "memory",
                format!("{} MB: Lambda allows 128 to 10240 MB", memory.get_ref()),
            ));
        }
        Some(memory) => memory.into_inner(),
        None => 128,
    };
    let timeout_s = match raw.timeout {
        Some(timeout)
            if !(timeout.get_ref().is_finite()
                && *timeout.get_ref() >= 1.0
                && *timeout.get_ref() <= MAX_TIMEOUT_S) =>
        {
            return Err(refuse(
                timeout.span(),
                "timeout",
                format!("{} s: Lambda allows 1 to 900 seconds", timeout.get_ref()),
            ));
        }
        Some(timeout) => timeout.into_inner(),
        None => 3.0,
    };
    let ephemeral_storage_mb = match raw.ephemeral_storage {
        Some(storage) if !EPHEMERAL_STORAGE_MB.contains(storage.get_ref()) => {
            return Err(refuse(
                storage.span(),
                "ephemeral-storage",
                format!("{} MB: Lambda allows 512 to 10240 MB", storage.get_ref()),
            ));
        }
        Some(storage) => storage.into_inner(),
        None => 512,
    };
    let (layers_span, layers) = match raw.layers {
        Some(layers) => (layers.span(), layers.into_inner()),
        None => (0..0, Vec::new()),
    };
    if layers.len() > MAX_LAYERS {
        return Err(refuse(
            layers_span,
            "layers",
            format!(
                "{} layers: Lambda allows at most {MAX_LAYERS}",
                layers.len()
            ),
        ));
    }
    if let Some(empty) = layers.iter().find(|l| l.trim().is_empty()) {
        return Err(refuse(
            layers_span,
            "layers",
            format!("`{empty}`: give a layer folder, zip, name or ARN"),
        ));
    }
    let (environment_span, environment) = match raw.environment {
        Some(table) => (table.span(), table.into_inner()),
        None => (0..0, BTreeMap::new()),
    };
    for (key, value) in &environment {
        let refuse_key = |message: String| {
            // The table's keys carry no span: the value's line is the key's.
            refuse(value.span(), &format!("environment.{key}"), message)
        };
        if !valid_env_name(key) {
            return Err(refuse_key(
                "not an environment variable name: a letter, then at least one more letter, \
                 digit or `_`"
                    .into(),
            ));
        }
        if RESERVED_ENV_NAMES.contains(&key.as_str()) {
            return Err(refuse_key(
                "reserved: Lambda sets this variable itself and refuses it in a function's \
                 configuration"
                    .into(),
            ));
        }
        if value.get_ref().contains('\0') {
            return Err(refuse_key(nul_refused()));
        }
    }
    let bytes = environment_bytes(
        environment
            .iter()
            .map(|(k, v)| (k.as_str(), v.get_ref().as_str())),
    );
    if bytes > lamina_context::facts::MAX_ENVIRONMENT_BYTES {
        return Err(refuse(
            environment_span,
            "environment",
            environment_too_large(bytes),
        ));
    }
    let environment: BTreeMap<String, String> = environment
        .into_iter()
        .map(|(k, v)| (k, v.into_inner()))
        .collect();
    if let Some(role) = &raw.role
        && !role.get_ref().starts_with("arn:")
    {
        return Err(refuse(
            role.span(),
            "role",
            format!(
                "`{}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                role.get_ref()
            ),
        ));
    }
    let invoke_mode = match raw.invoke_mode {
        Some(mode) if !matches!(mode.get_ref().as_str(), "BUFFERED" | "RESPONSE_STREAM") => {
            return Err(refuse(
                mode.span(),
                "invoke-mode",
                format!("`{}`: BUFFERED or RESPONSE_STREAM", mode.get_ref()),
            ));
        }
        Some(mode) => mode.into_inner(),
        None => "BUFFERED".into(),
    };
    let max_concurrency = match raw.max_concurrency {
        Some(slots) => match check_max_concurrency(u64::from(*slots.get_ref())) {
            Ok(slots) => slots,
            Err(message) => return Err(refuse(slots.span(), "max-concurrency", message)),
        },
        None => 1,
    };
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
        package: raw.package,
        bin: raw.bin,
        tree,
    })
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
        let value = "v".repeat(lamina_context::facts::MAX_ENVIRONMENT_BYTES - 3);
        let spec = FunctionSpec::parse(
            &format!("[environment]\nBIG = \"{value}\"\n"),
            Path::new("f"),
        )
        .unwrap();
        assert_eq!(spec.environment["BIG"].len(), 4093);
        let spec = FunctionSpec::parse("max-concurrency = 1600\n", Path::new("f")).unwrap();
        assert_eq!(spec.max_concurrency, 1600);
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
