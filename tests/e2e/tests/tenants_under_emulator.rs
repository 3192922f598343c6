//! Tenant isolation as AWS's own client and lamina's runtime see it: boto3's `invoke` with
//! `TenantId` (sent as `X-Amz-Tenant-Id`) reaches a per-tenant function whose
//! `Context::tenant_id` (read from `Lambda-Runtime-Aws-Tenant-Id`) names it, each tenant in
//! its own process; without `TenantId` boto3 raises AWS's `InvalidParameterValueException`.
//! boto3 comes from the moto venv `cargo xtask ci` installs (`LAMINA_SKIP_MOTO=1` skips).

#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::path::Path;
use std::time::Duration;

use lamina_e2e::boto3_lines;
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig, Tenancy};
use serde_json::Value;

const FUNCTION: &str = env!("CARGO_BIN_EXE_e2e-function");

/// Invokes `sys.argv[2]` three times (blue, green, blue) and once without a tenant; prints
/// each answer, then the error code boto3 raised.
const BOTO3_TENANTS: &str = r#"
import json, sys, boto3
from botocore.config import Config
client = boto3.client("lambda", endpoint_url=sys.argv[1], region_name="us-east-1",
    aws_access_key_id="x", aws_secret_access_key="x", config=Config(retries={"max_attempts": 1}))
for tenant in ["blue", "green", "blue"]:
    answer = client.invoke(FunctionName=sys.argv[2], TenantId=tenant, Payload=b'{"do":"context"}')
    print(json.dumps({"asked": tenant, "body": json.loads(answer["Payload"].read())}))
try:
    client.invoke(FunctionName=sys.argv[2], Payload=b'{"do":"context"}')
    print(json.dumps({"error": None}))
except client.exceptions.InvalidParameterValueException as err:
    print(json.dumps({"error": err.response["Error"]["Code"], "message": err.response["Error"]["Message"]}))
"#;

#[test]
fn boto3_invokes_a_per_tenant_function_as_each_tenant_in_its_own_process() {
    let mut config = FunctionConfig::new("tenanted", Path::new(FUNCTION));
    config.timeout = Duration::from_secs(20);
    config.tenancy = Tenancy::PerTenant;
    config.concurrency = 2;
    let emulator = Emulator::start(EmulatorConfig::new(vec![config])).unwrap();
    let Some(lines) = boto3_lines(BOTO3_TENANTS, &[&emulator.endpoint_url(), "tenanted"]) else {
        return;
    };
    let answers: Vec<&Value> = lines.iter().take(3).collect();
    for answer in &answers {
        assert_eq!(answer["body"]["tenant_id"], answer["asked"], "{answer}");
    }
    let pid = |n: usize| answers[n]["body"]["pid"].as_u64().unwrap();
    assert_eq!(pid(0), pid(2), "blue's instance serves blue again");
    assert_ne!(pid(0), pid(1), "blue and green shared a process");
    assert_eq!(
        lines[3],
        serde_json::json!({
            "error": "InvalidParameterValueException",
            "message": "Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled."
        })
    );
}
