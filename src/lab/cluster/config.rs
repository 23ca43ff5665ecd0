//! Each lab host's configuration, written as an operator would read it:
//! `hosted-engine.conf`, `agent.conf` (the profile's timings), `ha.conf`,
//! `broker.conf`, plus an `env` file to source.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::isolation::{self, EngineNet};
use super::layout::{LabSpec, STORAGE_SPEC, VM_ID};
use crate::config::{ConfFile, Config, Timings, format_secs};
use crate::lab::engine::EPOCH_VAR;

/// The engine VM's memory as the agents' free-memory check sees it.
const ENGINE_MEMORY_MIB: u64 = 1024;

/// Writes host `id`'s files; checks that the agent will accept them.
pub fn write_host(spec: &LabSpec, id: u16) -> anyhow::Result<()> {
    prepare_host(spec, id)?;
    let paths = spec.paths(id);
    write(&paths.he_conf, &hosted_engine_conf(spec, id)?)?;
    write(&paths.agent_conf, &agent_conf(spec))?;
    write(&paths.ha_conf, HA_CONF)?;
    write(&paths.broker_conf, BROKER_CONF)?;
    check_host(spec, id)
}

/// Host `id`'s directories and the lab's own files (watchdog, control, env):
/// everything but the configuration.
pub fn prepare_host(spec: &LabSpec, id: u16) -> anyhow::Result<()> {
    let paths = spec.paths(id);
    for dir in [
        paths.he_conf.parent(),
        paths.agent_conf.parent(),
        Some(paths.state_dir.as_path()),
        Some(paths.runtime_dir.as_path()),
        Some(spec.mnt_root(id).as_path()),
    ]
    .into_iter()
    .flatten()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write(&spec.watchdog(id), "")?;
    write(&spec.control(id), "")?;
    write(&spec.env_file(id), &env_file(spec, id))
}

/// `hosted-engine --deploy`'s answers for host `id`: what [`hosted_engine_conf`]
/// writes (but `host_id`, which deploy chooses), mail off, the agent not
/// enabled (the lab's supervisor runs it).
pub fn deploy_answers(spec: &LabSpec, id: u16) -> anyhow::Result<String> {
    let path = spec.paths(id).he_conf;
    let conf = crate::config::HostedEngineConf::parse(&path, &hosted_engine_conf(spec, id)?)
        .map_err(|e| anyhow::anyhow!("host{id}: {e}"))?;
    let mut text = format!("# he-lab host{id}: answers for hosted-engine --deploy.\n");
    for entry in conf.document().entries() {
        if entry.key != "host_id" {
            let _ = writeln!(text, "{}={}", entry.key, entry.value);
        }
    }
    text.push_str(
        "enable_agent=no\nbroker.email.smtp-server=localhost\nbroker.email.smtp-port=25\n\
         broker.notify.state_transition=^$\n",
    );
    Ok(text)
}

/// Checks that the agent will accept host `id`'s configuration, with the
/// profile's timings.
pub fn check_host(spec: &LabSpec, id: u16) -> anyhow::Result<()> {
    let paths = spec.paths(id);
    Config::load_for_agent(&paths).map_err(|errors| {
        anyhow::anyhow!("host{id}: the lab wrote a configuration the agent refuses: {errors}")
    })?;
    crate::config::AgentConf::load(&paths.agent_conf)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .and_then(|conf| {
            anyhow::ensure!(
                conf.timings == spec.profile.timings(),
                "{}: does not read back as the {} profile",
                paths.agent_conf.display(),
                spec.profile.as_str()
            );
            Ok(())
        })
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// `hosted-engine.conf` of host `id`; errs on a `lab.json` whose isolation
/// and network plan disagree.
pub fn hosted_engine_conf(spec: &LabSpec, id: u16) -> anyhow::Result<String> {
    let mut text = format!(
        "# he-lab host{id} of the lab in {} (isolation {}, profile {}).\n\
         # Written by `he-lab up`; the lab's layout is described in lab.json.\n",
        spec.dir.display(),
        spec.isolation.as_str(),
        spec.profile.as_str()
    );
    let lab = spec.lab_bin.display();
    let mut vm_command = format!(
        "{lab} engine --lab-id {} --host host{id} --canary {} --control {} --shutdown-secs {}",
        spec.id,
        spec.host_canary(id).display(),
        spec.control(id).display(),
        format_secs(spec.profile.guest_shutdown_ms())
    );
    let EngineNet {
        fqdn,
        network_test: network,
        vm_args,
    } = isolation::backend(spec.isolation).engine_net(spec, id)?;
    vm_command.push_str(&vm_args);
    let _ = write!(
        text,
        "fqdn={fqdn}\nvmid={VM_ID}\nhost_id={id}\nhostname=host{id}\n\
         storage={STORAGE_SPEC}\ndomainType=nfs\nsdUUID={}\nmnt_root={}\n\
         {network}bridge={}\n\
         # The engine VM: the lab's payload ({EPOCH_VAR} comes from the agent).\n\
         vm_command={vm_command}\n\
         engine_memory_mib={ENGINE_MEMORY_MIB}\n\
         # Mounts the storage again after a loss, unless a fault forbids it.\n\
         storage_connect_command={lab} storage-connect --dir {} --host {id}\n\
         # A stand-in the lab's supervisor watches as a hardware watchdog, with\n\
         # the timeout it emulates (a plain file has none to ask).\n\
         watchdog_device={}\nwatchdog_timeout_secs={}\n",
        spec.sd_uuid,
        spec.mnt_root(id).display(),
        spec.bridge,
        spec.dir.display(),
        spec.watchdog(id).display(),
        spec.profile.watchdog_timeout_ms() / 1000
    );
    Ok(text)
}

/// `agent.conf`: the profile's `[timing]`, every key written out.
pub fn agent_conf(spec: &LabSpec) -> String {
    let t = spec.profile.timings();
    let mut text = format!(
        "# he-lab: the {} profile's timings.\n[timing]\n",
        spec.profile.as_str()
    );
    for (key, value) in timing_lines(&t) {
        let _ = writeln!(text, "{key} = {value}");
    }
    text
}

fn timing_lines(t: &Timings) -> Vec<(&'static str, String)> {
    let s = format_secs;
    vec![
        ("loop-secs", s(t.loop_ms)),
        ("host-alive-timeout-secs", s(t.host_alive_timeout_ms)),
        ("storage-timeout-secs", s(t.storage_timeout_ms)),
        ("lease-settle-secs", s(t.lease_settle_ms)),
        ("lease-fail-secs", s(t.lease_fail_ms)),
        ("poweroff-timeout-secs", s(t.poweroff_timeout_ms)),
        ("lease-margin-secs", s(t.lease_margin_ms)),
        ("lease-dead-secs", s(t.lease_dead_ms)),
        (
            "engine-starting-timeout-secs",
            s(t.engine_starting_timeout_ms),
        ),
        (
            "engine-maybe-away-timeout-secs",
            s(t.engine_maybe_away_timeout_ms),
        ),
        (
            "engine-unexpectedly-down-secs",
            s(t.engine_unexpectedly_down_ms),
        ),
        ("engine-stop-timeout-secs", s(t.engine_stop_timeout_ms)),
        ("bad-health-timeout-secs", s(t.bad_health_timeout_ms)),
        ("retry-window-secs", s(t.retry_window_ms)),
        ("start-retries-max", t.start_retries_max.to_string()),
        (
            "local-restart-attempts",
            t.local_restart_attempts_max.to_string(),
        ),
        ("vm-shutdown-grace-secs", s(t.vm_shutdown_grace_ms)),
        ("liveliness-timeout-secs", s(t.liveliness_timeout_ms)),
        ("gateway-probes", t.gateway_probe_count.to_string()),
        (
            "gateway-probe-interval-secs",
            s(t.gateway_probe_interval_ms),
        ),
    ]
}

const HA_CONF: &str = "local_maintenance=False\nlocal_maintenance_manual=False\n";

/// Notifications off: no mail server in the lab, and a lost mail per
/// transition would only fill the logs.
const BROKER_CONF: &str = "# he-lab: no mail server; state_transition matches nothing.\n\
[email]\nsmtp-server=localhost\nsmtp-port=25\n\
[notify]\nstate_transition=^$\n";

/// `env`: `. <lab>/hostN/env` makes `hosted-engine` talk to host N.
fn env_file(spec: &LabSpec, id: u16) -> String {
    let mut text = format!("# Source this to run hosted-engine as host{id} of the lab.\n");
    for (name, value) in spec.host_env(id) {
        let _ = writeln!(text, "export {name}='{value}'");
    }
    if let Some(note) = isolation::backend(spec.isolation).env_note() {
        text.push_str(note);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AgentConf;
    use crate::lab::cluster::layout::{Isolation, NetPlan, Profile, SPEC_VERSION};

    fn spec(dir: &Path, profile: Profile) -> LabSpec {
        LabSpec {
            version: SPEC_VERSION,
            id: "abc123".into(),
            dir: dir.to_path_buf(),
            hosts: 2,
            isolation: Isolation::None,
            profile,
            lab_bin: "/usr/bin/he-lab".into(),
            agent_bin: "/usr/bin/ovirt-ha-agent".into(),
            sd_uuid: "0c5d1d4e-lab".into(),
            bridge: "lo".into(),
            net: NetPlan::Loopback {
                prefix: [120, 3],
                port: 31000,
            },
            fencing: false,
        }
    }

    #[test]
    fn written_configurations_load_as_the_agent_reads_them() {
        for profile in [Profile::Fast, Profile::Default] {
            let dir = tempfile::tempdir().unwrap();
            let spec = spec(dir.path(), profile);
            write_host(&spec, 2).unwrap();
            let config = Config::load_for_agent(&spec.paths(2)).unwrap();
            let he = &config.hosted_engine;
            assert_eq!(he.host_id, 2);
            // The stand-in watchdog, with the timeout the supervisor emulates.
            assert_eq!(
                he.watchdog_device,
                Some(crate::config::WatchdogSetting::Device(spec.watchdog(2)))
            );
            assert_eq!(
                he.watchdog_timeout_secs.map(|s| u64::from(s) * 1000),
                Some(profile.watchdog_timeout_ms())
            );
            assert_eq!(he.fqdn, "127.120.3.2:31000");
            let volume = he.metadata_volume_path().unwrap();
            assert_eq!(
                volume,
                spec.mount_point(2)
                    .join(&spec.sd_uuid)
                    .join("ha_agent/hosted-engine.metadata")
            );
            let argv = he.vm_command.clone().unwrap();
            assert!(
                argv.contains(&"127.120.3.102:31000".to_string()),
                "{argv:?}"
            );
            let agent = AgentConf::load(&spec.paths(2).agent_conf).unwrap();
            assert_eq!(agent.timings, profile.timings());
        }
    }
}
