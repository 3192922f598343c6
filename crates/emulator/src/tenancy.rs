//! The tenant of an invocation (`X-Amz-Tenant-Id`), checked against the function's tenancy
//! as AWS checks it. Pure: the Invoke API and the front door share it.

use hyper::StatusCode;
use hyper::header::HeaderValue;

use crate::config::Tenancy;
use crate::refusal::Refusal;

/// The header naming an invocation's tenant (the SDKs' `TenantId`).
pub(crate) const TENANT_ID_HEADER: &str = "X-Amz-Tenant-Id";

/// AWS's words when the tenant and the function's tenancy disagree (a function with tenant
/// isolation invoked without a tenant, or one without it invoked with one): one message for
/// both, as AWS's tenant isolation troubleshooting guide gives it.
const TENANCY_MISMATCH: &str = "Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled.";

/// The longest tenant id (the Lambda API model's `TenantId`: 1 to 256 characters).
const MAX_TENANT_ID_CHARS: usize = 256;

/// The Lambda API model's pattern of a tenant id, as AWS's validation message quotes it.
const TENANT_ID_PATTERN: &str = r"[a-zA-Z0-9\._:\/=+\-@ ]+";

/// A tenant id within the API model's `TenantId` constraints, else AWS's 400
/// `ValidationException` in the words of AWS's model validation.
fn check_tenant_id(value: &HeaderValue) -> Result<String, Refusal> {
    let text = String::from_utf8_lossy(value.as_bytes());
    let refused = |constraint: String| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            format!(
                "1 validation error detected: Value '{text}' at 'tenantId' failed to satisfy constraint: {constraint}"
            ),
        )
    };
    if text.chars().count() > MAX_TENANT_ID_CHARS {
        return Err(refused(format!(
            "Member must have length less than or equal to {MAX_TENANT_ID_CHARS}"
        )));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._:/=+-@ ".contains(c);
    if text.is_empty() || !text.chars().all(allowed) {
        return Err(refused(format!(
            "Member must satisfy regular expression pattern: {TENANT_ID_PATTERN}"
        )));
    }
    Ok(text.into_owned())
}

/// The tenant `headers` name, checked against the function's `tenancy` as AWS checks it:
/// required with [`Tenancy::PerTenant`], refused without (400 `InvalidParameterValueException`
/// either way). A value outside the API model's `TenantId` is refused as AWS refuses it.
/// Pure; the Invoke API's [`options`] and the front door share it.
pub(crate) fn tenant_id(
    headers: &hyper::HeaderMap,
    tenancy: Tenancy,
) -> Result<Option<String>, Refusal> {
    let given = match headers.get(TENANT_ID_HEADER) {
        None => None,
        Some(value) => Some(check_tenant_id(value)?),
    };
    match (tenancy, given) {
        (Tenancy::PerTenant, Some(tenant)) => Ok(Some(tenant)),
        (Tenancy::PerTenant, None) | (_, Some(_)) => Err(Refusal::bad_parameter(TENANCY_MISMATCH)),
        (_, None) => Ok(None),
    }
}
