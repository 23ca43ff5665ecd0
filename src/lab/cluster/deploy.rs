//! A lab configured the way an operator configures real hosts: through
//! `hosted-engine --deploy` on host 1 and `--deploy --add-host` on the others,
//! one after the other so that lab host N gets host id N (`he-lab up
//! --deploy`), instead of the lab's own writer. Hosts added at once are
//! tested in tests/cli_deploy.rs.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::config;
use super::isolation::host_command;
use super::layout::LabSpec;
use crate::config::ConfFile as _;

/// Bound on one host's deploy.
const DEPLOY_TIMEOUT: Duration = Duration::from_secs(60);

/// The `hosted-engine` program beside the agent.
pub fn hosted_engine_bin(spec: &LabSpec) -> std::path::PathBuf {
    spec.agent_bin.with_file_name("hosted-engine")
}

/// Deploys every host: host 1 first (it initialises the metadata volume and
/// stores the profile's `agent.conf` for the cluster), then the others in
/// order. Each host's configuration is then checked as the lab's own would be,
/// its host id included.
pub fn deploy_hosts(spec: &LabSpec) -> anyhow::Result<()> {
    let agent_conf = spec.dir.join("agent.conf");
    std::fs::write(&agent_conf, config::agent_conf(spec))
        .with_context(|| format!("writing {}", agent_conf.display()))?;
    let first = spawn(spec, 1, &[format!("--agent-conf={}", agent_conf.display())])?;
    finish(1, first)?;
    for id in 2..=spec.hosts {
        finish(id, spawn(spec, id, &["--add-host".to_owned()])?)?;
    }
    for id in spec.host_ids() {
        config::check_host(spec, id)?;
        let he = crate::config::HostedEngineConf::load(&spec.paths(id).he_conf)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(
            he.host_id == id,
            "host{id}: hosted-engine --deploy gave it host id {}",
            he.host_id
        );
    }
    Ok(())
}

/// Starts `hosted-engine --deploy <extra> --answer-file=...` as host `id`.
fn spawn(spec: &LabSpec, id: u16, extra: &[String]) -> anyhow::Result<Child> {
    let answers = spec.host_root(id).join("deploy-answers.conf");
    std::fs::write(&answers, config::deploy_answers(spec, id)?)
        .with_context(|| format!("writing {}", answers.display()))?;
    let program = hosted_engine_bin(spec);
    let mut command = host_command(spec, id, program.as_os_str(), Some(Path::new("/")))?;
    command
        .arg("--deploy")
        .args(extra)
        .arg(format!("--answer-file={}", answers.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
        .spawn()
        .with_context(|| format!("host{id}: running {}", program.display()))
}

/// Waits for host `id`'s deploy, at most [`DEPLOY_TIMEOUT`].
fn finish(id: u16, mut child: Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + DEPLOY_TIMEOUT;
    while child.try_wait()?.is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "host{id}: hosted-engine --deploy did not finish within {} s",
                DEPLOY_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output()?;
    if !status.success() {
        bail!(
            "host{id}: hosted-engine --deploy failed ({status}): {}{}",
            String::from_utf8_lossy(&stderr).trim(),
            String::from_utf8_lossy(&stdout).trim()
        );
    }
    Ok(())
}
