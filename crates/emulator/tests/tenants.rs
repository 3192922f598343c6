//! Tenant isolation (`Tenancy::PerTenant`, AWS's `TenantIsolationMode: PER_TENANT`): every
//! invocation names its tenant (`X-Amz-Tenant-Id`), the runtime reads it on `/next`
//! (`Lambda-Runtime-Aws-Tenant-Id`), and an execution environment serves one tenant for life.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{agent, post, script, wait_until};
use lamina_emulator::{Emulator, EmulatorConfig, FunctionConfig, Tenancy};

/// Answers each event with its process id and the tenant `/next` named, and logs both.
const TENANT_ECHO: &str = r#"while true; do
  next
  TENANT=
  while IFS=': ' read -r name value; do
    case "$name" in
      [Ll]ambda-[Rr]untime-[Aa]ws-[Tt]enant-[Ii]d) TENANT=${value%"$CR"} ;;
    esac
  done < "$HDRS"
  echo "pid=$$ tenant=$TENANT"
  respond "{\"pid\":$$,\"tenant\":\"$TENANT\",\"event\":$EVENT}"
done"#;

fn per_tenant(dir: &Path, concurrency: usize) -> FunctionConfig {
    let mut function = FunctionConfig::new("tenanted", script(dir, "bootstrap", TENANT_ECHO));
    function.tenancy = Tenancy::PerTenant;
    function.concurrency = concurrency;
    function.timeout = Duration::from_secs(30);
    function
}

/// `(pid, tenant)` of one answer.
fn pid_and_tenant(body: &str) -> (u64, String) {
    let answer: serde_json::Value = serde_json::from_str(body).expect("JSON answer");
    (
        answer["pid"].as_u64().expect("pid"),
        answer["tenant"].as_str().expect("tenant").to_string(),
    )
}

/// Every `pid=N tenant=T` line the function logged: which tenants each process served.
fn tenants_per_pid(logs: &str) -> BTreeMap<u64, BTreeSet<String>> {
    let mut seen: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
    for line in logs.lines() {
        let Some(rest) = line.strip_prefix("pid=") else {
            continue;
        };
        let Some((pid, tenant)) = rest.split_once(" tenant=") else {
            continue;
        };
        seen.entry(pid.parse().expect("pid"))
            .or_default()
            .insert(tenant.to_string());
    }
    seen
}

#[test]
fn two_tenants_invoking_concurrently_never_share_a_process() {
    const PER_CALLER: usize = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = Arc::new(
        Emulator::start(EmulatorConfig::new(vec![per_tenant(dir.path(), 4)])).expect("start"),
    );
    // Two callers per tenant, all at once: each tenant has work queued while the other's runs.
    let callers: Vec<_> = ["blue", "blue", "green", "green"]
        .into_iter()
        .enumerate()
        .map(|(caller, tenant)| {
            let url = emulator.invoke_url("tenanted");
            thread::spawn(move || {
                let agent = agent();
                (0..PER_CALLER)
                    .map(|n| {
                        let payload = format!(r#"{{"caller":{caller},"n":{n}}}"#);
                        let answer = post(
                            &agent,
                            &url,
                            &[("X-Amz-Tenant-Id", tenant)],
                            payload.as_bytes(),
                        );
                        assert_eq!(answer.status, 200, "{tenant} {n}: {}", answer.body);
                        let (pid, seen) = pid_and_tenant(&answer.body);
                        assert_eq!(seen, tenant, "the runtime was told another tenant");
                        (tenant, pid)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut pids: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for caller in callers {
        for (tenant, pid) in caller.join().expect("caller") {
            pids.entry(tenant).or_default().insert(pid);
        }
    }
    assert!(
        pids["blue"].is_disjoint(&pids["green"]),
        "a process served both tenants: {pids:?}"
    );
    // The function's own log says the same: each process logged one tenant only.
    let logged = tenants_per_pid(&emulator.logs("tenanted"));
    assert_eq!(
        logged.values().map(BTreeSet::len).sum::<usize>(),
        logged.len(),
        "{logged:?}"
    );
    assert_eq!(
        logged.len(),
        pids["blue"].len() + pids["green"].len(),
        "{logged:?}"
    );
}

#[test]
fn at_concurrency_1_another_tenant_gets_a_new_instance_and_the_old_one_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator =
        Emulator::start(EmulatorConfig::new(vec![per_tenant(dir.path(), 1)])).expect("start");
    let invoke = |tenant: &str| {
        let invoked = emulator
            .invoke_tenant("tenanted", Some(tenant), b"{}")
            .expect("invoke");
        let (pid, seen) = pid_and_tenant(&String::from_utf8_lossy(&invoked.payload));
        assert_eq!(seen, tenant);
        pid
    };
    let blue = invoke("blue");
    assert_eq!(invoke("blue"), blue, "blue's instance is reused for blue");
    // Blue's instance is idle, but never green's: at the concurrency of 1 it is spun down
    // and green gets its own.
    let green = invoke("green");
    assert_ne!(green, blue, "blue's process was handed green");
    wait_until("blue's process to end", || {
        !Path::new(&format!("/proc/{blue}")).exists()
    });
    // And after green's spin-down, blue gets a new instance, not green's.
    let blue_again = invoke("blue");
    assert_ne!(blue_again, green, "green's process was handed blue");
    assert_ne!(blue_again, blue);
    let logged = tenants_per_pid(&emulator.logs("tenanted"));
    assert!(logged.values().all(|t| t.len() == 1), "{logged:?}");
    assert_eq!(logged.len(), 3, "{logged:?}");
}

#[test]
fn a_tenant_waits_for_a_busy_other_tenant_at_concurrency_1_and_is_then_served_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator = Arc::new(
        Emulator::start(EmulatorConfig::new(vec![per_tenant(dir.path(), 1)])).expect("start"),
    );
    let calls: Vec<_> = ["blue", "green", "blue", "green"]
        .into_iter()
        .map(|tenant| {
            let emulator = Arc::clone(&emulator);
            thread::spawn(move || {
                let invoked = emulator
                    .invoke_tenant("tenanted", Some(tenant), b"{}")
                    .expect("invoke");
                let (pid, seen) = pid_and_tenant(&String::from_utf8_lossy(&invoked.payload));
                assert_eq!(seen, tenant);
                pid
            })
        })
        .collect();
    for call in calls {
        call.join().expect("call");
    }
    let logged = tenants_per_pid(&emulator.logs("tenanted"));
    assert!(logged.values().all(|t| t.len() == 1), "{logged:?}");
}

#[test]
fn a_missing_or_unexpected_tenant_is_awss_400() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = FunctionConfig::new("shared", script(dir.path(), "echo", common::ECHO));
    let emulator = Emulator::start(EmulatorConfig::new(vec![per_tenant(dir.path(), 1), shared]))
        .expect("start");
    let agent = agent();
    let missing = post(&agent, &emulator.invoke_url("tenanted"), &[], b"{}");
    assert_eq!(missing.status, 400);
    insta::assert_snapshot!(missing.body, @r#"{"Type":"User","message":"Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled."}"#);
    let unexpected = post(
        &agent,
        &emulator.invoke_url("shared"),
        &[("X-Amz-Tenant-Id", "blue")],
        b"{}",
    );
    assert_eq!(unexpected.status, 400);
    assert_eq!(
        unexpected.header("X-Amzn-ErrorType"),
        Some("InvalidParameterValueException")
    );
    // The streaming Invoke checks the same header.
    let streamed = post(
        &agent,
        &format!(
            "{}/2021-11-15/functions/tenanted/response-streaming-invocations",
            emulator.endpoint_url()
        ),
        &[],
        b"{}",
    );
    assert_eq!(streamed.status, 400, "{}", streamed.body);
    // The library says which way round and what to do.
    let refused = emulator.invoke("tenanted", b"{}").expect_err("refused");
    insta::assert_snapshot!(refused.to_string(), @"function `tenanted`: it has tenant isolation (PER_TENANT): every invocation names its tenant (Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled.)");
    let refused = emulator
        .invoke_tenant("shared", Some("blue"), b"{}")
        .expect_err("refused");
    insta::assert_snapshot!(refused.to_string(), @"function `shared`: it has no tenant isolation, so an invocation names no tenant (Tenant ID configuration not specified or passed to a function when tenant isolation is not enabled.)");
    // Nothing was started for the refused invocations.
    assert_eq!(emulator.logs("tenanted"), "");
}

#[test]
fn the_front_door_passes_the_tenant_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let emulator =
        Emulator::start(EmulatorConfig::new(vec![per_tenant(dir.path(), 2)])).expect("start");
    let agent = agent();
    let url = format!("{}/lambda-url/tenanted/path", emulator.endpoint_url());
    let answer = post(&agent, &url, &[("X-Amz-Tenant-Id", "blue")], b"hi");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let (_, tenant) = pid_and_tenant(&answer.body);
    assert_eq!(tenant, "blue");
    let missing = post(&agent, &url, &[], b"hi");
    assert_eq!(missing.status, 400, "{}", missing.body);
}

#[test]
fn an_instance_failing_its_init_fails_its_own_tenants_invocation_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first-started");
    // The first process (green's) is slow to start and then serves; every later one (blue's)
    // exits during its init.
    let body = format!(
        r#"if [ -e {first} ]; then exit 3; fi
touch {first}
sleep 1
{TENANT_ECHO}"#,
        first = first.display()
    );
    let mut function = FunctionConfig::new("tenanted", script(dir.path(), "bootstrap", &body));
    function.tenancy = Tenancy::PerTenant;
    function.concurrency = 2;
    let emulator = Arc::new(Emulator::start(EmulatorConfig::new(vec![function])).expect("start"));
    let green = {
        let emulator = Arc::clone(&emulator);
        thread::spawn(move || {
            emulator
                .invoke_tenant("tenanted", Some("green"), b"{}")
                .expect("green")
        })
    };
    wait_until("green's process to start", || first.exists());
    let blue = emulator
        .invoke_tenant("tenanted", Some("blue"), b"{}")
        .expect("blue");
    assert_eq!(blue.function_error.as_deref(), Some("Unhandled"));
    assert!(
        String::from_utf8_lossy(&blue.payload).contains("Runtime.ExitError"),
        "{}",
        String::from_utf8_lossy(&blue.payload)
    );
    let green = green.join().expect("green");
    assert_eq!(green.function_error, None, "green got blue's init failure");
    let (_, tenant) = pid_and_tenant(&String::from_utf8_lossy(&green.payload));
    assert_eq!(tenant, "green");
}
