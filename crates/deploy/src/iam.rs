//! `create_basic_role` (feature `iam`): a basic execution role for `--create-role`.

use serde::Serialize;

use crate::DeployError;
use crate::error::aws_error;

/// The managed policy that lets a function write its logs to CloudWatch, and nothing else.
pub const BASIC_EXECUTION_POLICY: &str =
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";

/// Lets Lambda assume the role.
const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The role `create_basic_role` made or found.
#[derive(Clone, Debug, Serialize)]
pub struct BasicRole {
    /// The role ARN, for `FunctionPlanInput::role`.
    pub arn: String,
    /// The role name.
    pub name: String,
    /// False when a role of that name already existed and was reused as it is.
    pub created: bool,
}

impl std::fmt::Display for BasicRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.created {
            write!(
                f,
                "created role {} (trusts lambda.amazonaws.com; policy {BASIC_EXECUTION_POLICY})",
                self.arn
            )
        } else {
            write!(f, "role {} exists: used as it is", self.arn)
        }
    }
}

/// The role name `--create-role` uses for a function.
pub fn basic_role_name(function: &str) -> String {
    // IAM role names are at most 64 characters.
    let mut name = format!("lamina-{function}");
    name.truncate(64);
    name
}

/// Creates role `name`, trusted by Lambda, with [`BASIC_EXECUTION_POLICY`] attached; an
/// existing role of that name is reused untouched. A new role takes some seconds before
/// Lambda can assume it: pass `ApplyOptions::new_role_grace` to `apply`.
pub async fn create_basic_role(
    iam: &aws_sdk_iam::Client,
    name: &str,
) -> Result<BasicRole, DeployError> {
    match iam
        .create_role()
        .role_name(name)
        .assume_role_policy_document(TRUST_POLICY)
        .description("Lambda execution role created by cargo lamina deploy --create-role")
        .send()
        .await
    {
        Ok(out) => {
            let arn = out.role().map(|r| r.arn().to_string()).unwrap_or_default();
            iam.attach_role_policy()
                .role_name(name)
                .policy_arn(BASIC_EXECUTION_POLICY)
                .send()
                .await
                .map_err(|e| aws_error("iam:AttachRolePolicy", name, e))?;
            Ok(BasicRole {
                arn,
                name: name.to_string(),
                created: true,
            })
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_entity_already_exists_exception()) =>
        {
            let out = iam
                .get_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| aws_error("iam:GetRole", name, e))?;
            Ok(BasicRole {
                arn: out.role().map(|r| r.arn().to_string()).unwrap_or_default(),
                name: name.to_string(),
                created: false,
            })
        }
        Err(e) => Err(aws_error("iam:CreateRole", name, e)),
    }
}
