//! `cargo lamina invoke`: what the command line asks for, decided apart from doing it. The
//! binary parses the flags into an [`InvokeRequest`], asks [`plan`] what to run (a function of
//! the project, a zip, an executable or the function deployed on AWS) and which flags it
//! refuses, runs it, then prints as [`printing`] says.

use std::path::PathBuf;

use crate::local::Overrides;

/// What `cargo lamina invoke` was given, as parsed.
#[derive(Clone, Debug, Default)]
pub struct InvokeRequest {
    /// The first positional argument: a function's name, or (alone, when it is JSON) the
    /// payload.
    pub name: Option<String>,
    /// The second positional argument: the payload.
    pub payload: Option<String>,
    /// `--data-file`: the payload from a file.
    pub data_file: Option<PathBuf>,
    /// `--remote`: the function deployed on AWS.
    pub remote: bool,
    /// `--region`, `--endpoint-url` or `--profile` was given.
    pub aws_given: bool,
    /// The first flag given that only a local run uses ([`local_flag`]).
    pub local_flag: Option<&'static str>,
    /// `--zip`: a function zip from any tool.
    pub zip: Option<PathBuf>,
    /// `--bootstrap`: an executable run as the function, as it is.
    pub bootstrap: Option<PathBuf>,
}

/// Where the payload comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Given on the command line.
    Text(String),
    /// Read from this file (`--data-file`).
    File(PathBuf),
    /// Nothing given: `{}`.
    Empty,
}

impl Payload {
    /// The payload's bytes; only [`Payload::File`] reads anything.
    pub fn read(self) -> anyhow::Result<Vec<u8>> {
        use anyhow::Context as _;
        Ok(match self {
            Payload::Text(text) => text.into_bytes(),
            Payload::File(path) => std::fs::read(&path)
                .with_context(|| format!("reading the payload file {}", path.display()))?,
            Payload::Empty => b"{}".to_vec(),
        })
    }
}

/// What runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The function deployed on AWS: this one, or the project's only one.
    Remote(Option<String>),
    /// A function zip from any tool.
    Zip(PathBuf),
    /// An executable, as it is.
    Bootstrap(PathBuf),
    /// A function of the project: this one, or its only one.
    Project(Option<String>),
}

/// What [`plan`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvokePlan {
    /// What runs.
    pub target: Target,
    /// What it is given.
    pub payload: Payload,
}

/// A combination of flags `invoke` refuses, in the words it prints.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

/// Decides what `request` runs and with what, or which flags do not go together. Pure: no
/// file is read and nothing is started.
pub fn plan(request: InvokeRequest) -> Result<InvokePlan, Refused> {
    let InvokeRequest {
        name,
        payload,
        data_file,
        remote,
        aws_given,
        local_flag,
        zip,
        bootstrap,
    } = request;
    // A lone argument that is JSON is the payload of the only function.
    let (name, payload) = match (name, payload) {
        (Some(first), None) if serde_json::from_str::<serde::de::IgnoredAny>(&first).is_ok() => {
            (None, Some(first))
        }
        other => other,
    };
    let payload = match (payload, data_file) {
        (Some(text), _) => Payload::Text(text),
        (None, Some(path)) => Payload::File(path),
        (None, None) => Payload::Empty,
    };
    if let Some(flag) = local_flag.filter(|_| remote) {
        return Err(Refused(format!(
            "{flag} sets up the local run; --remote invokes the function deployed on AWS as \
             it is configured there (change it with the spec and `cargo lamina deploy`)"
        )));
    }
    if !remote && aws_given {
        return Err(Refused(
            "--region, --endpoint-url and --profile say how to reach AWS: add --remote".into(),
        ));
    }
    let target = if remote {
        Target::Remote(name)
    } else if let Some(zip) = zip {
        if name.is_some() {
            return Err(Refused(
                "give either a function name or --zip, not both".into(),
            ));
        }
        Target::Zip(zip)
    } else if let Some(bootstrap) = bootstrap {
        if name.is_some() {
            return Err(Refused(
                "give either a function name or --bootstrap, not both".into(),
            ));
        }
        Target::Bootstrap(bootstrap)
    } else {
        Target::Project(name)
    };
    Ok(InvokePlan { target, payload })
}

/// The first flag given that only a local run uses, if any, in the order `--help` lists
/// them.
pub fn local_flag(overrides: &Overrides, zip: bool, bootstrap: bool) -> Option<&'static str> {
    [
        (overrides.timeout_s.is_some(), "--timeout"),
        (overrides.memory_mb.is_some(), "--memory"),
        (!overrides.env.is_empty(), "--env"),
        (overrides.handler.is_some(), "--handler"),
        (overrides.layers.is_some(), "--layer"),
        (overrides.arch.is_some(), "--arch"),
        (zip, "--zip"),
        (bootstrap, "--bootstrap"),
        (overrides.host_view, "--host-view"),
        (
            overrides.ephemeral_storage_mb.is_some(),
            "--ephemeral-storage",
        ),
    ]
    .into_iter()
    .find_map(|(given, flag)| given.then_some(flag))
}

/// How the answer of a local invocation is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Printing {
    /// End the streamed chunks (already printed as they came) with a newline, so that the
    /// error, if any, is on a line of its own.
    pub end_stream_line: bool,
    /// Print the answer's payload on stdout: a buffered answer, or a streamed one's error.
    pub payload: bool,
    /// Fail the command: the function failed (its error is on stdout).
    pub failed: bool,
}

/// What is printed after an invocation, streamed or not, that failed or not.
pub fn printing(streamed: bool, function_failed: bool) -> Printing {
    Printing {
        end_stream_line: streamed,
        payload: !streamed || function_failed,
        failed: function_failed,
    }
}

/// Writes one chunk of a streamed answer to stdout at once. A closed stdout (`| head`) only
/// stops the printing: the invocation still runs to its end, as on Lambda.
pub fn print_chunk(chunk: &[u8]) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout();
    let _ = stdout.write_all(chunk).and_then(|()| stdout.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(name: Option<&str>, payload: Option<&str>) -> InvokeRequest {
        InvokeRequest {
            name: name.map(Into::into),
            payload: payload.map(Into::into),
            ..InvokeRequest::default()
        }
    }

    fn refusal(request: InvokeRequest) -> String {
        plan(request).unwrap_err().to_string()
    }

    #[test]
    fn a_lone_json_argument_is_the_payload_of_the_only_function() {
        assert_eq!(
            plan(request(Some("{\"a\":1}"), None)).unwrap(),
            InvokePlan {
                target: Target::Project(None),
                payload: Payload::Text("{\"a\":1}".into()),
            }
        );
        // A name, even one that is also JSON, when a payload follows.
        assert_eq!(
            plan(request(Some("alpha"), Some("[]"))).unwrap(),
            InvokePlan {
                target: Target::Project(Some("alpha".into())),
                payload: Payload::Text("[]".into()),
            }
        );
        assert_eq!(
            plan(request(Some("alpha"), None)).unwrap().payload,
            Payload::Empty
        );
    }

    #[test]
    fn the_payload_given_wins_over_the_data_file() {
        let file = InvokeRequest {
            data_file: Some("event.json".into()),
            ..request(Some("alpha"), None)
        };
        assert_eq!(
            plan(file.clone()).unwrap().payload,
            Payload::File("event.json".into())
        );
        let both = InvokeRequest {
            payload: Some("{}".into()),
            ..file
        };
        assert_eq!(plan(both).unwrap().payload, Payload::Text("{}".into()));
    }

    #[test]
    fn remote_refuses_local_flags_and_aws_flags_need_remote() {
        let remote = InvokeRequest {
            remote: true,
            local_flag: Some("--timeout"),
            ..request(Some("f"), None)
        };
        assert!(refusal(remote.clone()).starts_with("--timeout sets up the local run;"));
        assert_eq!(
            plan(InvokeRequest {
                local_flag: None,
                aws_given: true,
                ..remote
            })
            .unwrap()
            .target,
            Target::Remote(Some("f".into()))
        );
        assert_eq!(
            refusal(InvokeRequest {
                aws_given: true,
                ..request(None, None)
            }),
            "--region, --endpoint-url and --profile say how to reach AWS: add --remote"
        );
    }

    #[test]
    fn a_zip_or_an_executable_takes_no_function_name() {
        let zip = InvokeRequest {
            zip: Some("f.zip".into()),
            ..request(None, None)
        };
        assert_eq!(
            plan(zip.clone()).unwrap().target,
            Target::Zip("f.zip".into())
        );
        assert_eq!(
            refusal(InvokeRequest {
                name: Some("alpha".into()),
                ..zip
            }),
            "give either a function name or --zip, not both"
        );
        let exe = InvokeRequest {
            bootstrap: Some("exe.sh".into()),
            ..request(Some("alpha"), None)
        };
        assert_eq!(
            refusal(exe),
            "give either a function name or --bootstrap, not both"
        );
    }

    #[test]
    fn the_first_local_flag_is_named_in_helps_order() {
        assert_eq!(local_flag(&Overrides::default(), false, false), None);
        let overrides = Overrides {
            host_view: true,
            memory_mb: Some(256),
            ..Overrides::default()
        };
        assert_eq!(local_flag(&overrides, true, false), Some("--memory"));
        let overrides = Overrides {
            host_view: true,
            ..Overrides::default()
        };
        assert_eq!(local_flag(&overrides, false, true), Some("--bootstrap"));
        assert_eq!(local_flag(&overrides, false, false), Some("--host-view"));
    }

    #[test]
    fn a_streamed_answer_is_printed_as_it_comes_and_an_error_after_it() {
        assert_eq!(
            printing(false, false),
            Printing {
                end_stream_line: false,
                payload: true,
                failed: false
            }
        );
        assert_eq!(
            printing(true, false),
            Printing {
                end_stream_line: true,
                payload: false,
                failed: false
            }
        );
        assert_eq!(
            printing(true, true),
            Printing {
                end_stream_line: true,
                payload: true,
                failed: true
            }
        );
    }
}
