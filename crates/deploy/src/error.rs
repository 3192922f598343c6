//! One error type for every deploy step: each variant names the AWS error code (where AWS
//! gave one) and says in one line what to do.

use std::path::PathBuf;

use aws_sdk_lambda::error::{ProvideErrorMetadata, SdkError};

/// Why a deploy step failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// No region from `--region`, `AWS_REGION` or the profile.
    #[error("no AWS region: set AWS_REGION, put `region` in the AWS profile, or pass --region")]
    NoRegion,
    /// The credential chain found nothing.
    #[error(
        "no AWS credentials ({detail}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile with AWS_PROFILE, or run `aws sso login`"
    )]
    NoCredentials {
        /// What the credential chain said.
        detail: String,
    },
    /// Credentials were found but AWS does not accept them (bad key, expired session).
    #[error(
        "{operation} {resource}: AWS refused the credentials ({code}: {message}); refresh them (expired session? wrong key?)"
    )]
    BadCredentials {
        /// The Lambda API operation, e.g. `UpdateFunctionCode`.
        operation: &'static str,
        /// The function or layer it was about.
        resource: String,
        /// The AWS error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// The credentials' policy does not allow the call.
    #[error(
        "{operation} {resource}: access denied ({code}: {message}); allow {} for these credentials",
        iam_action(operation)
    )]
    AccessDenied {
        /// The Lambda API operation.
        operation: &'static str,
        /// The function or layer it was about.
        resource: String,
        /// The AWS error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// Lambda cannot assume the execution role (`InvalidParameterValueException`).
    #[error(
        "{operation} {resource}: Lambda cannot assume the role (InvalidParameterValueException: {message}); the role must exist and its trust policy must allow lambda.amazonaws.com (a role created seconds ago may need ~10 s: deploy again)"
    )]
    RoleCannotBeAssumed {
        /// The Lambda API operation.
        operation: &'static str,
        /// The function.
        resource: String,
        /// AWS's message.
        message: String,
    },
    /// The spec's tenant isolation differs from the deployed function's, which Lambda sets
    /// only at creation.
    #[error(
        "function {function}: tenant isolation is {deployed} deployed and {local} in the spec, and Lambda sets it only when it creates a function (CreateFunction's TenancyConfig; UpdateFunctionConfiguration has none): delete the function and deploy again, or deploy it under another name"
    )]
    TenancyChange {
        /// The function.
        function: String,
        /// The deployed `TenantIsolationMode`, or `none`.
        deployed: String,
        /// The spec's, or `none`.
        local: String,
    },
    /// A function to create has no role.
    #[error(
        "function {function} does not exist yet and no role is named: name an execution role ARN in the function spec (role = \"arn:aws:iam::ACCOUNT:role/NAME\")"
    )]
    NoRole {
        /// The function.
        function: String,
    },
    /// The function reached `State=Failed` or `LastUpdateStatus=Failed`.
    #[error(
        "function {function} is in a failed state ({what}, {reason_code}: {reason}); fix the cause, then deploy again"
    )]
    FunctionFailed {
        /// The function.
        function: String,
        /// `State=Failed` or `LastUpdateStatus=Failed`.
        what: String,
        /// Lambda's `StateReasonCode` / `LastUpdateStatusReasonCode`.
        reason_code: String,
        /// Lambda's `StateReason` / `LastUpdateStatusReason`.
        reason: String,
    },
    /// A layer name has no version in this account and region.
    #[error(
        "layer {name} not found in this account and region (ResourceNotFoundException): publish it first, check the region, or name it by its full ARN"
    )]
    LayerNotFound {
        /// The layer name (or `name:N`).
        name: String,
    },
    /// A layer reference in the spec is malformed.
    #[error("layer {text:?} is not a layer reference: {why}")]
    BadLayerRef {
        /// What was written.
        text: String,
        /// What is wrong with it.
        why: String,
    },
    /// The same local layer name is given with two different zips.
    #[error(
        "layer {name} is given twice with different zips ({first} and {second}): give each layer zip its own name"
    )]
    LayerConflict {
        /// The layer name.
        name: String,
        /// One zip.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The function zip is not built.
    #[error("function {function}: {path} is not built yet: build it first")]
    NotBuilt {
        /// The function.
        function: String,
        /// The zip that is missing.
        path: PathBuf,
    },
    /// A zip is too large to send in the request itself.
    #[error(
        "{path} is {size} bytes, over the {limit}-byte limit of a direct upload: upload it through an S3 bucket (--s3-bucket)"
    )]
    ZipTooLarge {
        /// The zip.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The direct upload limit.
        limit: u64,
    },
    /// Waiting for an update to settle took too long.
    #[error(
        "function {function}: still State={state}, LastUpdateStatus={status} after {waited_s} s of waiting for Active/Successful; look at the function in the Lambda console, then deploy again"
    )]
    WaitTimeout {
        /// The function.
        function: String,
        /// The last `State` seen.
        state: String,
        /// The last `LastUpdateStatus` seen.
        status: String,
        /// How long it waited.
        waited_s: u64,
    },
    /// The endpoint could not be reached (DNS, connection, TLS, timeout).
    #[error(
        "{operation} {resource}: could not reach the AWS endpoint ({detail}); check the network, the region and --endpoint-url"
    )]
    Unreachable {
        /// The Lambda API operation.
        operation: &'static str,
        /// The function or layer it was about.
        resource: String,
        /// What failed.
        detail: String,
    },
    /// A response stream ended without its `InvokeComplete` event.
    #[error(
        "function {function}: the response stream ended before Lambda said how the invocation ended (no InvokeComplete); the output above may be incomplete"
    )]
    StreamCut {
        /// The function.
        function: String,
    },
    /// Any other error AWS answered.
    #[error("{operation} {resource}: {code}: {message}")]
    Aws {
        /// The Lambda API operation.
        operation: &'static str,
        /// The function or layer it was about.
        resource: String,
        /// The AWS error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// Reading a local file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The IAM action of an operation: Lambda's unless it names its service (`iam:CreateRole`).
fn iam_action(operation: &str) -> String {
    if operation.contains(':') {
        operation.to_string()
    } else {
        format!("lambda:{operation}")
    }
}

/// Maps an SDK error of `operation` on `resource` to the [`DeployError`] that says what to do.
pub(crate) fn aws_error<E, R>(
    operation: &'static str,
    resource: &str,
    err: SdkError<E, R>,
) -> DeployError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let Some(detail) = credentials_error(&err) {
        return DeployError::NoCredentials { detail };
    }
    let resource = resource.to_string();
    let code = err.code().unwrap_or_default().to_string();
    let message = err.message().unwrap_or_default().to_string();
    match &err {
        SdkError::DispatchFailure(failure) => {
            return DeployError::Unreachable {
                operation,
                resource,
                detail: source_chain(
                    failure
                        .as_connector_error()
                        .map_or(&err as &(dyn std::error::Error + 'static), |e| {
                            e as &(dyn std::error::Error + 'static)
                        }),
                ),
            };
        }
        SdkError::TimeoutError(_) => {
            return DeployError::Unreachable {
                operation,
                resource,
                detail: "timed out".into(),
            };
        }
        _ => {}
    }
    if code.is_empty() {
        return DeployError::Aws {
            operation,
            resource,
            code: "(no error code)".into(),
            message: source_chain(&err),
        };
    }
    classify(operation, resource, code, message)
}

/// The error-code part of [`aws_error`], separate so that it is tested without a server.
fn classify(
    operation: &'static str,
    resource: String,
    code: String,
    message: String,
) -> DeployError {
    let lower = message.to_ascii_lowercase();
    match code.as_str() {
        "AccessDeniedException" | "AccessDenied" => DeployError::AccessDenied {
            operation,
            resource,
            code,
            message,
        },
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "ExpiredTokenException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch" => DeployError::BadCredentials {
            operation,
            resource,
            code,
            message,
        },
        "ResourceConflictException" => DeployError::Aws {
            operation,
            resource,
            code,
            message: format!(
                "{message}; another update is in progress: wait for it, then deploy again"
            ),
        },
        "InvalidParameterValueException" if lower.contains("role") && lower.contains("assume") => {
            DeployError::RoleCannotBeAssumed {
                operation,
                resource,
                message,
            }
        }
        _ => DeployError::Aws {
            operation,
            resource,
            code,
            message,
        },
    }
}

/// The credential chain's complaint, if that is why the call failed: the SDK wraps it
/// several levels deep, so the source chain is searched for its type.
fn credentials_error(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(cred) =
            e.downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
        {
            return Some(source_chain(cred));
        }
        next = e.source();
    }
    None
}

/// An error and its causes on one line: the SDK's own Display often says only "dispatch failure".
fn source_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_error_codes_become_advice() {
        let cases = [
            (
                "AccessDeniedException",
                "User: arn:aws:iam::1:user/ci is not authorized to perform: lambda:UpdateFunctionCode",
            ),
            (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            (
                "InvalidParameterValueException",
                "The role defined for the function cannot be assumed by Lambda.",
            ),
            (
                "InvalidParameterValueException",
                "Unzipped size must be smaller than 262144000 bytes",
            ),
            ("TooManyRequestsException", "Rate exceeded"),
            (
                "ResourceConflictException",
                "The operation cannot be performed at this time. An update is in progress for resource: arn:aws:lambda:us-east-1:1:function:hello",
            ),
        ];
        let text: Vec<String> = cases
            .iter()
            .map(|(code, message)| {
                classify(
                    "UpdateFunctionCode",
                    "hello".into(),
                    code.to_string(),
                    message.to_string(),
                )
                .to_string()
            })
            .collect();
        insta::assert_snapshot!(text.join("\n"));
    }

    #[test]
    fn local_errors_say_what_to_do() {
        let errors = [
            DeployError::NoRegion,
            DeployError::NoCredentials {
                detail: "no providers in chain provided credentials".into(),
            },
            DeployError::LayerNotFound {
                name: "tools".into(),
            },
            DeployError::NoRole {
                function: "hello".into(),
            },
            DeployError::FunctionFailed {
                function: "hello".into(),
                what: "LastUpdateStatus=Failed".into(),
                reason_code: "SubnetOutOfIPAddresses".into(),
                reason: "no free IP address in subnet-1".into(),
            },
            DeployError::WaitTimeout {
                function: "hello".into(),
                state: "Active".into(),
                status: "InProgress".into(),
                waited_s: 300,
            },
        ];
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        insta::assert_snapshot!(text.join("\n"));
    }
}
