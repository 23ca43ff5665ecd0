//! `--check-fencing`: every host's fence device (the cluster's `fencing.conf`,
//! beside the metadata volume) asked for its power state from this host
//! (`action=status`), all at once, each call bounded by the file's
//! `timeout-secs`. What an operator runs after setting fencing up, and again
//! whenever a BMC's address or password changes: a device that does not
//! answer here would not answer when this host has to fence.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use super::ctx::Ctx;
use super::failure::{EXIT_FAILURE, EXIT_OK, Failure, FailureKind, Outcome};
use super::render::TableLayout;
use super::spec::Invocation;
use crate::config::{ConfFile, FenceDevice, FencingConf};
use crate::shell::fence::{self, FenceAction, FenceRun};

/// Fence agents run at once at most; the rest wait for a free one.
const PARALLEL_MAX: usize = 16;

/// `--check-fencing [--json]`: exit 0 when every device answered, 1 when one
/// did not (or none is configured), 2 when the file does not read or a device
/// may not be run (an untrusted agent or password file).
pub fn check_fencing(ctx: &Ctx, inv: &Invocation, layout: TableLayout) -> Outcome {
    let path = fencing_conf_path(ctx)?;
    let secrets_dir = ctx.paths.fencing_secrets_dir();
    let conf = load(&path)?.in_secrets_dir(&secrets_dir);
    // Fence agents run as root with a password on their stdin: nothing runs
    // while the file, an agent or a password file is not what it must be.
    let problems = conf.agent_errors(&secrets_dir);
    if !problems.is_empty() {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(Failure::config(format!(
            "{}\nno fence agent was run",
            text.join("\n")
        )));
    }
    let timeout = Duration::from_millis(conf.timeout_ms);
    let devices: Vec<&FenceDevice> = conf.devices.values().collect();
    let runs = status_all(&devices, timeout);
    let out = match inv.flag("json") {
        true => json_text(&runs),
        false => table_text(&runs, layout),
    };
    super::super::write_stdout(&out)
        .map_err(|e| Failure::new(FailureKind::Io, format!("stdout: {e}")))?;
    let all_answered = runs.iter().all(|run| run.outcome.is_ok());
    Ok(if all_answered { EXIT_OK } else { EXIT_FAILURE })
}

/// The cluster's `fencing.conf`: beside the metadata volume.
fn fencing_conf_path(ctx: &Ctx) -> Result<PathBuf, Failure> {
    let he = ctx.deployed_conf()?;
    he.fencing_conf_path()
        .map_err(|e| Failure::config(e.to_string()))
}

/// The file, with at least one device in it.
fn load(path: &Path) -> Result<FencingConf, Failure> {
    if !path.exists() {
        return Err(Failure::new(
            FailureKind::NotFound,
            format!(
                "{}: no such file: no fence devices are configured (see the operator's \
                 guide, \"Power fencing\")",
                path.display()
            ),
        ));
    }
    let conf = FencingConf::load(path).map_err(|e| Failure::config(e.to_string()))?;
    if conf.devices.is_empty() {
        return Err(Failure::new(
            FailureKind::NotFound,
            format!("{}: no [host N] section: no fence devices", path.display()),
        ));
    }
    Ok(conf)
}

/// `status` of every device, [`PARALLEL_MAX`] at a time, in host id order.
fn status_all(devices: &[&FenceDevice], timeout: Duration) -> Vec<FenceRun> {
    let mut runs = Vec::with_capacity(devices.len());
    for batch in devices.chunks(PARALLEL_MAX) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|device| scope.spawn(move || fence::run(device, FenceAction::Status, timeout)))
                .collect();
            for (device, handle) in batch.iter().zip(handles) {
                // A panic in the runner is a bug; say which device, keep the others.
                runs.push(handle.join().unwrap_or_else(|_| panicked(device)));
            }
        });
    }
    runs
}

/// The run of a device whose call panicked.
fn panicked(device: &FenceDevice) -> FenceRun {
    FenceRun {
        program: device.program().to_string(),
        host_id: device.host_id,
        action: FenceAction::Status,
        outcome: Err(fence::FenceError::Failed {
            code: None,
            message: "the call panicked (a bug: see stderr)".into(),
        }),
        took: Duration::ZERO,
    }
}

/// The table: one row a device.
fn table_text(runs: &[FenceRun], layout: TableLayout) -> String {
    let mut table = layout.table(["ID", "Agent", "Reachable", "Power", "Took", "Error"]);
    for run in runs {
        let (reachable, power, error) = match &run.outcome {
            Ok(power) => ("yes", power.as_str().to_owned(), "-".to_owned()),
            Err(e) => ("no", "?".to_owned(), e.to_string()),
        };
        table.add_row([
            run.host_id.to_string(),
            run.program.clone(),
            reachable.to_owned(),
            power,
            fence::took_text(run.took),
            error,
        ]);
    }
    let mut out = String::new();
    let _ = writeln!(out, "{table}");
    out
}

/// One JSON object: `hosts`, each with `host-id`, `agent`, `reachable`,
/// `power` (`on`, `off`, or null when unreachable), `took-ms` and `error`
/// (null when reachable).
fn json_text(runs: &[FenceRun]) -> String {
    let hosts: Vec<Value> = runs
        .iter()
        .map(|run| {
            let (power, error) = match &run.outcome {
                Ok(power) => (Value::from(power.as_str()), Value::Null),
                Err(e) => (Value::Null, Value::from(e.to_string())),
            };
            json!({
                "host-id": run.host_id,
                "agent": run.program,
                "reachable": run.outcome.is_ok(),
                "power": power,
                "took-ms": u64::try_from(run.took.as_millis()).unwrap_or(u64::MAX),
                "error": error,
            })
        })
        .collect();
    let mut text = json!({ "hosts": hosts }).to_string();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::fence::{FenceError, Power};

    fn run(host_id: u16, outcome: Result<Power, FenceError>) -> FenceRun {
        FenceRun {
            program: "fence_ipmilan".into(),
            host_id,
            action: FenceAction::Status,
            outcome,
            took: Duration::from_millis(80),
        }
    }

    fn runs() -> Vec<FenceRun> {
        vec![
            run(1, Ok(Power::On)),
            run(
                2,
                Err(FenceError::Failed {
                    code: Some(1),
                    message: "Connection timed out".into(),
                }),
            ),
        ]
    }

    #[test]
    fn the_table_says_who_answered_and_why_not() {
        let wide = TableLayout {
            width: 120,
            unicode: false,
        };
        let text = table_text(&runs(), wide);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].contains("| ID | Agent"), "{text}");
        let one = lines.iter().find(|l| l.starts_with("| 1 ")).unwrap();
        assert!(one.contains("| yes ") && one.contains("| on ") && one.contains("0.08 s"));
        let two = lines.iter().find(|l| l.starts_with("| 2 ")).unwrap();
        assert!(two.contains("| no ") && two.contains("| ? "), "{text}");
        assert!(text.contains("failed: Connection timed out"), "{text}");
    }

    #[test]
    fn the_json_has_one_object_a_host() {
        let value: Value = serde_json::from_str(&json_text(&runs())).unwrap();
        assert_eq!(
            value["hosts"][0],
            json!({"host-id": 1, "agent": "fence_ipmilan", "reachable": true,
                   "power": "on", "took-ms": 80, "error": null})
        );
        assert_eq!(value["hosts"][1]["reachable"], json!(false));
        assert_eq!(value["hosts"][1]["power"], Value::Null);
        assert_eq!(
            value["hosts"][1]["error"],
            json!("failed: Connection timed out")
        );
    }
}
