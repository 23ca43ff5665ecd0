//! The lab's two isolations (`--isolation none` and `--isolation netns`)
//! behind one [`Backend`]: [`backend`] picks the implementation from the
//! lab's description, and no other code of the lab asks which isolation it
//! has; it asks the backend to do the thing.

mod backend;
mod loopback;
mod namespaces;

use std::ffi::OsStr;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::Command;

pub use backend::{Backend, BmcAddr, EngineNet, LiveNet};

use super::layout::{Isolation, LabSpec};
use super::netns::HostNs;

/// The backend of `mode`.
pub fn backend(mode: Isolation) -> &'static dyn Backend {
    match mode {
        Isolation::None => &loopback::Loopback,
        Isolation::Netns => &namespaces::Namespaces,
    }
}

/// A [`Command`] with the namespaces it enters (kept open until it spawns).
pub struct HostCommand {
    command: Command,
    _ns: Option<HostNs>,
}

impl Deref for HostCommand {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.command
    }
}

impl DerefMut for HostCommand {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.command
    }
}

/// A command as host `id`: its environment (`HE_CONFIG_ROOT` and the rest) and,
/// under netns, its namespaces with `cwd` kept.
pub fn host_command(
    spec: &LabSpec,
    id: u16,
    program: &OsStr,
    cwd: Option<&Path>,
) -> anyhow::Result<HostCommand> {
    anyhow::ensure!(
        (1..=spec.hosts).contains(&id),
        "host{id}: this lab has hosts 1..={}",
        spec.hosts
    );
    let mut command = Command::new(program);
    for var in crate::config::PATH_ENV_VARS {
        command.env_remove(var);
    }
    command.envs(spec.host_env(id));
    let ns = backend(spec.isolation).enter(spec, id, &mut command, cwd)?;
    Ok(HostCommand { command, _ns: ns })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::cluster::layout::{NetPlan, Profile, SPEC_VERSION};

    fn spec(isolation: Isolation, net: NetPlan) -> LabSpec {
        LabSpec {
            version: SPEC_VERSION,
            id: "abc123".into(),
            dir: "/lab".into(),
            hosts: 2,
            isolation,
            profile: Profile::Fast,
            lab_bin: "/usr/bin/he-lab".into(),
            agent_bin: "/usr/bin/ovirt-ha-agent".into(),
            sd_uuid: "sd".into(),
            bridge: "lo".into(),
            net,
            fencing: false,
        }
    }

    fn loopback_plan() -> NetPlan {
        NetPlan::Loopback {
            prefix: [120, 3],
            port: 31000,
        }
    }

    fn netns_plan() -> NetPlan {
        NetPlan::Netns {
            switch: "hel-abc123-sw".into(),
            hosts: vec!["hel-abc123-h1".into(), "hel-abc123-h2".into()],
        }
    }

    #[test]
    fn each_isolation_names_the_engine_and_the_gateway_its_own_way() {
        let lab = spec(Isolation::None, loopback_plan());
        let net = backend(lab.isolation).engine_net(&lab, 2).unwrap();
        assert_eq!(net.fqdn, "127.120.3.2:31000");
        assert_eq!(
            net.network_test,
            "network_test=tcp\ntcp_t_address=127.120.3.52\ntcp_t_port=31000\n"
        );
        assert_eq!(net.vm_args, " --listen 127.120.3.102:31000");
        assert_eq!(backend(lab.isolation).env_note(), None);

        let lab = spec(Isolation::Netns, netns_plan());
        let net = backend(lab.isolation).engine_net(&lab, 2).unwrap();
        assert_eq!(net.fqdn, "10.77.0.100");
        assert_eq!(net.network_test, "network_test=ping\ngateway=10.77.0.1\n");
        assert_eq!(
            net.vm_args,
            " --listen 0.0.0.0:80 --vm-address 10.77.0.100/24 --vm-bridge ovirtmgmt \
             --vm-port-lock /lab/host2/vm-port"
        );
        assert_eq!(
            backend(lab.isolation).env_note(),
            Some("# Under netns, the host's namespaces matter too: use `he-lab exec` instead.\n")
        );
        assert_eq!(backend(Isolation::Netns).bridge(), "ovirtmgmt");
    }

    #[test]
    fn a_plan_of_the_other_isolation_is_refused() {
        for lab in [
            spec(Isolation::None, netns_plan()),
            spec(Isolation::Netns, loopback_plan()),
        ] {
            let backend = backend(lab.isolation);
            let refused = backend.engine_net(&lab, 1).err().unwrap();
            assert_eq!(refused.to_string(), backend::PLAN_DISAGREES);
            let refused = backend.start(&lab).err().unwrap();
            assert_eq!(refused.to_string(), backend::PLAN_DISAGREES);
        }
    }

    #[test]
    fn only_netns_gives_one_host_a_read_only_view() {
        assert!(backend(Isolation::Netns).readonly_possible().is_ok());
        assert_eq!(
            backend(Isolation::None).readonly_possible(),
            Err(
                "storage-readonly needs --isolation netns: without a mount namespace one host \
                 cannot be given a read-only view of files the others keep writing"
                    .to_string()
            )
        );
    }
}
