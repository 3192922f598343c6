//! The function's configuration, from the environment Lambda gives the bootstrap.

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::str::FromStr;

use crate::{env, facts};

/// A variable of the environment that is missing or cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("environment variable {name} is not set")]
    Missing {
        /// Name of the variable.
        name: &'static str,
    },
    /// A variable is set to a value that cannot be parsed.
    #[error("environment variable {name} has invalid value {value:?}: {reason}")]
    Invalid {
        /// Name of the variable.
        name: &'static str,
        /// The value as found.
        value: String,
        /// What was expected instead.
        reason: String,
    },
}

/// How the execution environment was initialized (`AWS_LAMBDA_INITIALIZATION_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InitializationType {
    /// `on-demand`: started for an invocation (the default when unset).
    #[default]
    OnDemand,
    /// `provisioned-concurrency`: started ahead of invocations.
    ProvisionedConcurrency,
    /// `snap-start`: restored from a snapshot.
    SnapStart,
}

impl FromStr for InitializationType {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "on-demand" => Ok(Self::OnDemand),
            "provisioned-concurrency" => Ok(Self::ProvisionedConcurrency),
            "snap-start" => Ok(Self::SnapStart),
            _ => Err("expected on-demand, provisioned-concurrency or snap-start".into()),
        }
    }
}

/// Format of the function's log lines (`AWS_LAMBDA_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// `Text`: plain lines (the default when unset).
    #[default]
    Text,
    /// `JSON`: one JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    /// Accepts `Text` and `JSON`, ignoring ASCII case (Lambda's console writes them so).
    fn from_str(value: &str) -> Result<Self, String> {
        if value.eq_ignore_ascii_case("text") {
            Ok(Self::Text)
        } else if value.eq_ignore_ascii_case("json") {
            Ok(Self::Json)
        } else {
            Err("expected Text or JSON".into())
        }
    }
}

/// Lowest level of application log lines to keep (`AWS_LAMBDA_LOG_LEVEL`), ordered from the
/// most verbose (`Trace`) to the least (`Fatal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LogLevel {
    /// `TRACE`
    Trace,
    /// `DEBUG`
    Debug,
    /// `INFO` (the default when unset, as on Lambda)
    #[default]
    Info,
    /// `WARN`
    Warn,
    /// `ERROR`
    Error,
    /// `FATAL`
    Fatal,
}

impl LogLevel {
    /// The level as Lambda spells it in logs and settings (`INFO`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "TRACE",
            Self::Debug => "DEBUG",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Error => "ERROR",
            Self::Fatal => "FATAL",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = String;
    /// Accepts Lambda's names ignoring ASCII case; `WARNING` is taken as `WARN`.
    fn from_str(value: &str) -> Result<Self, String> {
        let levels = [
            ("TRACE", Self::Trace),
            ("DEBUG", Self::Debug),
            ("INFO", Self::Info),
            ("WARN", Self::Warn),
            ("WARNING", Self::Warn),
            ("ERROR", Self::Error),
            ("FATAL", Self::Fatal),
        ];
        levels
            .iter()
            .find(|(name, _)| value.eq_ignore_ascii_case(name))
            .map(|(_, level)| *level)
            .ok_or_else(|| "expected TRACE, DEBUG, INFO, WARN, ERROR or FATAL".into())
    }
}

/// The function's configuration, read once at init.
///
/// Only `AWS_LAMBDA_RUNTIME_API` is required: without it there is nobody to talk to. Every
/// other variable has a documented default, so a function also starts under local emulators
/// that set fewer variables than Lambda does. A variable set to the empty string counts as
/// unset. A variable that is set but malformed is an error, never silently defaulted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `AWS_LAMBDA_RUNTIME_API`, as given (required). The runtime decides which forms it accepts.
    pub runtime_api: String,
    /// `_HANDLER`; `None` when unset.
    pub handler: Option<String>,
    /// `LAMBDA_TASK_ROOT`; default `/var/task`.
    pub task_root: PathBuf,
    /// `AWS_LAMBDA_FUNCTION_NAME`; `None` when unset.
    pub function_name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_VERSION`; default `$LATEST`.
    pub function_version: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` in MB; default 128 (Lambda's default). Must be a
    /// positive integer.
    pub memory_mb: u32,
    /// `AWS_LAMBDA_LOG_GROUP_NAME`; `None` when unset.
    pub log_group_name: Option<String>,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`; `None` when unset.
    pub log_stream_name: Option<String>,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`; `None` when both are unset.
    pub region: Option<String>,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE`; default [`InitializationType::OnDemand`].
    pub initialization_type: InitializationType,
    /// `AWS_LAMBDA_LOG_FORMAT`; default [`LogFormat::Text`].
    pub log_format: LogFormat,
    /// `AWS_LAMBDA_LOG_LEVEL`; default [`LogLevel::Info`].
    pub log_level: LogLevel,
    /// `AWS_LAMBDA_MAX_CONCURRENCY`; default 1 (one invocation at a time).
    pub max_concurrency: NonZeroU32,
}

/// Default of [`Config::task_root`].
pub const DEFAULT_TASK_ROOT: &str = facts::TASK_ROOT;
/// Default of [`Config::function_version`].
pub const DEFAULT_FUNCTION_VERSION: &str = "$LATEST";
/// Default of [`Config::memory_mb`].
pub const DEFAULT_MEMORY_MB: u32 = 128;

impl Config {
    /// Reads the configuration from the process environment.
    ///
    /// A variable that is not valid Unicode is reported as invalid, not ignored.
    pub fn from_env() -> Result<Self, ConfigError> {
        let not_unicode: std::cell::RefCell<Option<ConfigError>> = Default::default();
        let config = Self::from_lookup(|name| match std::env::var(name) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(raw)) => {
                not_unicode
                    .borrow_mut()
                    .get_or_insert(ConfigError::Invalid {
                        name: static_name(name),
                        value: raw.to_string_lossy().into_owned(),
                        reason: "not valid UTF-8".into(),
                    });
                None
            }
        });
        match not_unicode.into_inner() {
            Some(error) => Err(error),
            None => config,
        }
    }

    /// Reads the configuration through `lookup`, which answers the value of a variable by
    /// name (`None` when unset). Pure: tests pass a map instead of the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
        let runtime_api = get(env::RUNTIME_API).ok_or(ConfigError::Missing {
            name: env::RUNTIME_API,
        })?;
        let memory_mb = match get(env::FUNCTION_MEMORY_SIZE) {
            None => DEFAULT_MEMORY_MB,
            Some(value) => match value.trim().parse::<u32>() {
                Ok(mb) if mb > 0 => mb,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: env::FUNCTION_MEMORY_SIZE,
                        value,
                        reason: "expected a positive whole number of MB".into(),
                    });
                }
            },
        };
        // Bounded by what Lambda Managed Instances accept, so that a runtime never tries to
        // start billions of slots (which aborted the bootstrap).
        let max_concurrency = match get(env::MAX_CONCURRENCY) {
            None => NonZeroU32::MIN,
            Some(value) => {
                let checked = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| "expected a whole number".to_string())
                    .and_then(|slots| {
                        facts::check_max_concurrency(slots).map_err(|refused| refused.allowed)
                    })
                    .and_then(|slots| {
                        NonZeroU32::new(slots).ok_or_else(|| "expected at least 1".to_string())
                    });
                match checked {
                    Ok(slots) => slots,
                    Err(reason) => {
                        return Err(ConfigError::Invalid {
                            name: env::MAX_CONCURRENCY,
                            value,
                            reason,
                        });
                    }
                }
            }
        };
        Ok(Self {
            runtime_api,
            handler: get(env::HANDLER),
            task_root: get(env::TASK_ROOT)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_TASK_ROOT)),
            function_name: get(env::FUNCTION_NAME),
            function_version: get(env::FUNCTION_VERSION)
                .unwrap_or_else(|| DEFAULT_FUNCTION_VERSION.into()),
            memory_mb,
            log_group_name: get(env::LOG_GROUP_NAME),
            log_stream_name: get(env::LOG_STREAM_NAME),
            region: get(env::REGION).or_else(|| get(env::DEFAULT_REGION)),
            initialization_type: parse_or_default(&get, env::INITIALIZATION_TYPE)?,
            log_format: parse_or_default(&get, env::LOG_FORMAT)?,
            log_level: parse_or_default(&get, env::LOG_LEVEL)?,
            max_concurrency,
        })
    }
}

fn parse_or_default<T: FromStr<Err = String> + Default>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(T::default()),
        Some(value) => value.trim().parse().map_err(|reason| ConfigError::Invalid {
            name,
            value,
            reason,
        }),
    }
}

/// Maps a looked-up name back to its `'static` constant, so errors can carry `&'static str`.
fn static_name(name: &str) -> &'static str {
    const ALL: &[&str] = &[
        env::RUNTIME_API,
        env::HANDLER,
        env::TASK_ROOT,
        env::FUNCTION_NAME,
        env::FUNCTION_VERSION,
        env::FUNCTION_MEMORY_SIZE,
        env::LOG_GROUP_NAME,
        env::LOG_STREAM_NAME,
        env::REGION,
        env::DEFAULT_REGION,
        env::INITIALIZATION_TYPE,
        env::LOG_FORMAT,
        env::LOG_LEVEL,
        env::MAX_CONCURRENCY,
    ];
    ALL.iter()
        .copied()
        .find(|known| *known == name)
        .unwrap_or("environment variable")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly on purpose.
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn full_lambda_environment_is_read() {
        let config = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("_HANDLER", "main.handler"),
            ("LAMBDA_TASK_ROOT", "/var/task"),
            ("AWS_LAMBDA_FUNCTION_NAME", "hello"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "7"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/hello"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2024/01/01/[7]abc"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "debug"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "8"),
        ])
        .unwrap();
        assert_eq!(
            config,
            Config {
                runtime_api: "127.0.0.1:9001".into(),
                handler: Some("main.handler".into()),
                task_root: "/var/task".into(),
                function_name: Some("hello".into()),
                function_version: "7".into(),
                memory_mb: 1024,
                log_group_name: Some("/aws/lambda/hello".into()),
                log_stream_name: Some("2024/01/01/[7]abc".into()),
                region: Some("eu-west-1".into()),
                initialization_type: InitializationType::ProvisionedConcurrency,
                log_format: LogFormat::Json,
                log_level: LogLevel::Debug,
                max_concurrency: NonZeroU32::new(8).unwrap(),
            }
        );
    }

    #[test]
    fn only_runtime_api_is_required_and_defaults_are_documented_ones() {
        let config = config(&[("AWS_LAMBDA_RUNTIME_API", "localhost:9001")]).unwrap();
        assert_eq!(config.handler, None);
        assert_eq!(config.task_root, PathBuf::from("/var/task"));
        assert_eq!(config.function_name, None);
        assert_eq!(config.function_version, "$LATEST");
        assert_eq!(config.memory_mb, 128);
        assert_eq!(config.region, None);
        assert_eq!(config.initialization_type, InitializationType::OnDemand);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.log_level, LogLevel::Info);
        assert_eq!(config.max_concurrency.get(), 1);
    }

    #[test]
    fn default_region_is_the_fallback() {
        let config = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "x:1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ])
        .unwrap();
        assert_eq!(config.region.as_deref(), Some("us-east-1"));
    }

    #[test]
    fn missing_or_empty_runtime_api_names_the_variable() {
        for vars in [&[][..], &[("AWS_LAMBDA_RUNTIME_API", "")][..]] {
            let error = config(vars).unwrap_err();
            assert_eq!(
                error,
                ConfigError::Missing {
                    name: "AWS_LAMBDA_RUNTIME_API"
                }
            );
            assert_eq!(
                error.to_string(),
                "environment variable AWS_LAMBDA_RUNTIME_API is not set"
            );
        }
    }

    #[test]
    fn empty_optional_variables_take_defaults() {
        let config = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "x:1"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", ""),
            ("AWS_LAMBDA_LOG_FORMAT", ""),
            ("_HANDLER", ""),
        ])
        .unwrap();
        assert_eq!(config.memory_mb, 128);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.handler, None);
    }

    #[test]
    fn every_malformed_variable_is_named() {
        let cases = [
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "-128"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "99999999999"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "0"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "two"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "1601"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "4294967295"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "eager"),
            ("AWS_LAMBDA_LOG_FORMAT", "XML"),
            ("AWS_LAMBDA_LOG_LEVEL", "LOUD"),
        ];
        for (name, value) in cases {
            let error = config(&[("AWS_LAMBDA_RUNTIME_API", "x:1"), (name, value)]).unwrap_err();
            match &error {
                ConfigError::Invalid {
                    name: named,
                    value: found,
                    ..
                } => {
                    assert_eq!(*named, name);
                    assert_eq!(found, value);
                }
                other => panic!("expected Invalid for {name}={value}, got {other:?}"),
            }
            assert!(error.to_string().contains(name), "{error}");
        }
    }

    #[test]
    fn invalid_error_message_quotes_value_and_expectation() {
        let error = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "x:1"),
            ("AWS_LAMBDA_LOG_FORMAT", "XML"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable AWS_LAMBDA_LOG_FORMAT has invalid value \"XML\": expected Text or JSON"
        );
    }

    #[test]
    fn log_levels_are_ordered_and_parsed_case_insensitively() {
        assert!(LogLevel::Trace < LogLevel::Debug && LogLevel::Error < LogLevel::Fatal);
        assert_eq!("warning".parse::<LogLevel>(), Ok(LogLevel::Warn));
        assert_eq!("Fatal".parse::<LogLevel>(), Ok(LogLevel::Fatal));
        assert_eq!(LogLevel::Warn.to_string(), "WARN");
    }

    #[test]
    fn a_max_concurrency_past_lambdas_limit_names_the_variable_and_the_limit() {
        let error = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "x:1"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "4294967295"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "environment variable AWS_LAMBDA_MAX_CONCURRENCY has invalid value \"4294967295\": Lambda Managed Instances run 1 to 1600 invocations at once in one execution environment (PerExecutionEnvironmentMaxConcurrency)"
        );
        let at_limit = config(&[
            ("AWS_LAMBDA_RUNTIME_API", "x:1"),
            ("AWS_LAMBDA_MAX_CONCURRENCY", "1600"),
        ])
        .unwrap();
        assert_eq!(at_limit.max_concurrency.get(), 1600);
    }
}
