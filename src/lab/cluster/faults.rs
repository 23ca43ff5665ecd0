//! The fault verbs: one per case of the test plan, plus more (the lease's
//! enemies of issue 13 among them), and `heal`.
//!
//! | verb | test plan | none (no root) | netns (root) |
//! |---|---|---|---|
//! | `engine-network-down` | 1 | the payload stops listening | the payload's link goes down |
//! | `engine-stop` | 2 | health page answers 503 (engine service stopped) | same |
//! | `engine-db-down` | | health page answers `DB Down` | same |
//! | `vm-kill` | 3 | SIGKILL of the payload | same |
//! | `host-network-down` | 4 | the host's gateway refuses, its engine relay holds connections, and a VM on it is unreachable | the host's uplink and bridge go down |
//! | `storage-unmount` | 5 | the host's storage symlink is removed (the agent's connect command puts it back) | `umount -l` in the host's mount namespace (the agent mounts it again) |
//! | `storage-lost` | | as `storage-unmount`, and reconnecting is refused until heal | same |
//! | `storage-readonly` | | not available (no per-host read-only view without a mount) | the mount point becomes a read-only overlay of the storage |
//! | `host-crash` | 6 | agent and payload SIGKILLed; the host stays off until heal | same |
//! | `agent-kill` | 7 | SIGKILL of the agent; the supervisor restarts it | same |
//! | `all-network-down` | 8 | `host-network-down` on every host | same |
//! | `agent-pause SECS` | | SIGSTOP, SIGCONT after SECS (the watchdog may fire) | same |
//! | `agent-pause-unfenced SECS` | | as `agent-pause`, the host's emulated watchdog suspended until the SIGCONT (then it counts afresh): a host without a watchdog | same |
//! | `agent-stop` | | SIGTERM, as `systemctl stop`: the agent publishes AgentStopped and, holding the lease with its engine VM running, leaves its lease keeper (`--keep-lease`); not restarted until `agent-start` or heal | same |
//! | `agent-start` | | starts an agent `agent-stop` stopped (it takes the lease back from its keeper) | same |
//! | `partition HOSTS` | | the listed hosts lose the gateway and reach only each other | their switch ports move to a bridge without the gateway |
//! | `vm-manager-wedge` | | the engine VM ignores SIGTERM and its state file becomes a directory: an agent started from now on cannot find or act on the VM; the running agent, which read the file at its start, still can (no mount namespace to hide the VM in) | the same, and the VM's `/proc/<pid>/stat` is masked (`/dev/null` bind-mounted) in the host's mount namespace: the running agent can neither query nor signal the VM (state unknown, power-off fails); only the watchdog ends it |
//! | `slot-garbage SECS` | | the lab writes garbage (never a valid slot) over the host's metadata slot at once and every 100 ms for SECS | same (the lab writes through its own view of the storage) |
//! | `slot-wipe` | | the host's slot zeroed once (the host's next write restores it) | same |
//! | `slot-hostile` | | a forged copy of the host's slot with valid checksums, as its next publish (host-ts and write sequence one further), with `lease-epoch-seen=18446744073709551615` | same |
//! | `late-write SECS` | | the host's slot bytes as they are now are written back SECS later, over newer writes | same |
//! | `bmc-unreachable` | | (`--fencing`) the host's BMC (`ipmi_sim`) is stopped (SIGSTOP): a fence agent gets no answer and times out | same (its BMC on the management network) |
//! | `bmc-wrong-credentials` | | (`--fencing`) the host's BMC changes the fence agents' password: `fence_ipmilan` with the one `fencing.conf` gives fails at once | same |
//! | `bmc-lies` | | (`--fencing`) asked to power the host off, its BMC reports off but leaves the host running | same |
//!
//! This module is the list alone (the verbs, their arguments and help texts,
//! their JSON form on the control socket), so that the control socket, the
//! ground truth and the command line can name a fault without depending on
//! the supervisor, which applies them ([`super::supervisor`]).
//!
//! A verb that needs a host and is given none acts on the host that runs the
//! engine payload. The slot verbs write through the metadata store the agents
//! use (the supervisor's `slots`); garbage and late writes run on the supervisor's
//! threads, so its loop never waits on the storage. `heal` undoes every fault:
//! networks up, partition gone, storage mounted read-write, slot writers
//! stopped (a late write not yet landed is dropped; a slot written over stays
//! so until its host writes it), VM managers unwedged (state files back, masks
//! gone), faults inside the VM cleared, paused agents resumed, stopped agents
//! started, BMCs answering again with the right password and telling the
//! truth, powered-off hosts booted (their agents start again, their BMCs
//! power on). A host's power-off (`host-crash`, the watchdog, a power-off
//! through its BMC) kills its lease keeper with its agent and engine VM.
//!
//! The BMC verbs need a lab started with `--fencing` (refused otherwise);
//! `host-crash` is a power loss, which its BMC sees: it reads off.

use serde::{Deserialize, Serialize};

use super::layout::parse_host_arg;

/// Longest `agent-pause`, `slot-garbage` or `late-write`.
pub const PAUSE_MAX_SECS: f64 = 3600.0;

fn host_value(raw: &str) -> Result<u16, String> {
    parse_host_arg(raw).map_err(|e| e.to_string())
}

/// A fault to inject. `host`: `2` or `host2`; none = the host running the engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clap::Subcommand)]
#[serde(tag = "verb", rename_all = "kebab-case")]
pub enum Fault {
    /// Test plan case 1: the network inside the engine VM stops.
    EngineNetworkDown {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// Test plan case 2: the engine service stops, the VM keeps running.
    EngineStop {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// The engine's database goes down: the health page says `DB Down`.
    EngineDbDown {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// Test plan case 3: the engine VM's process is killed (SIGKILL).
    VmKill {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// Test plan case 4: the host's network goes down.
    HostNetworkDown {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// Test plan case 5: the storage is unmounted lazily (the agent may mount it again).
    StorageUnmount {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// The storage is unmounted and cannot be mounted again until heal.
    StorageLost {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// The host sees the storage read-only (netns only).
    StorageReadonly {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// Test plan case 6: the host powers off (agent and VM killed) until heal.
    HostCrash {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// Test plan case 7: the agent is killed (kill -9); the supervisor restarts it.
    AgentKill {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// Test plan case 8: every host's network goes down.
    AllNetworkDown,
    /// The agent hangs (SIGSTOP) for SECS seconds, then continues (SIGCONT).
    AgentPause {
        /// Seconds, up to 3600.
        secs: f64,
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// The listed hosts are cut off from the others and from the gateway.
    Partition {
        /// Hosts, e.g. `1 2` or `host1,host2`.
        #[arg(required = true, num_args = 1.., value_delimiter = ',', value_parser = host_value)]
        hosts: Vec<u16>,
    },
    /// The agent stops cleanly (SIGTERM) and stays stopped until `agent-start`
    /// or heal; a holder leaves its lease keeper running.
    AgentStop {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// An agent stopped by `agent-stop` starts again.
    AgentStart {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// The VM manager wedges: the agent can neither see nor stop the engine
    /// VM, and the VM ignores SIGTERM.
    VmManagerWedge {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// A third party writes garbage over the host's metadata slot, again every
    /// 100 ms, for SECS seconds.
    SlotGarbage {
        /// Seconds, up to 3600.
        secs: f64,
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// A third party zeroes the host's metadata slot once.
    SlotWipe {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// A third party writes a copy of the host's slot, valid checksums and
    /// all, publishing the largest epoch there is as seen.
    SlotHostile {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// The host's slot as it is now lands again SECS seconds later, over
    /// newer writes (a write held up on its way).
    LateWrite {
        /// Seconds, up to 3600.
        secs: f64,
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// As `agent-pause`, with the host's watchdog suspended meanwhile: what a
    /// host without a watchdog does.
    AgentPauseUnfenced {
        /// Seconds, up to 3600.
        secs: f64,
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// (--fencing) The host's BMC stops answering (SIGSTOP): fence agents
    /// time out.
    BmcUnreachable {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// (--fencing) The host's BMC refuses the password fencing.conf gives:
    /// fence agents fail at once.
    BmcWrongCredentials {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
    /// (--fencing) The host's BMC lies: asked to power the host off, it
    /// reports off and leaves it running.
    BmcLies {
        #[arg(value_parser = host_value)]
        host: Option<u16>,
    },
}

impl Fault {
    /// The verb as typed.
    pub fn verb(&self) -> &'static str {
        match self {
            Fault::EngineNetworkDown { .. } => "engine-network-down",
            Fault::EngineStop { .. } => "engine-stop",
            Fault::EngineDbDown { .. } => "engine-db-down",
            Fault::VmKill { .. } => "vm-kill",
            Fault::HostNetworkDown { .. } => "host-network-down",
            Fault::StorageUnmount { .. } => "storage-unmount",
            Fault::StorageLost { .. } => "storage-lost",
            Fault::StorageReadonly { .. } => "storage-readonly",
            Fault::HostCrash { .. } => "host-crash",
            Fault::AgentKill { .. } => "agent-kill",
            Fault::AllNetworkDown => "all-network-down",
            Fault::AgentPause { .. } => "agent-pause",
            Fault::Partition { .. } => "partition",
            Fault::AgentStop { .. } => "agent-stop",
            Fault::AgentStart { .. } => "agent-start",
            Fault::VmManagerWedge { .. } => "vm-manager-wedge",
            Fault::SlotGarbage { .. } => "slot-garbage",
            Fault::SlotWipe { .. } => "slot-wipe",
            Fault::SlotHostile { .. } => "slot-hostile",
            Fault::LateWrite { .. } => "late-write",
            Fault::AgentPauseUnfenced { .. } => "agent-pause-unfenced",
            Fault::BmcUnreachable { .. } => "bmc-unreachable",
            Fault::BmcWrongCredentials { .. } => "bmc-wrong-credentials",
            Fault::BmcLies { .. } => "bmc-lies",
        }
    }

    /// The host the verb names, if it takes one.
    pub fn host(&self) -> Option<u16> {
        match self {
            Fault::EngineNetworkDown { host }
            | Fault::EngineStop { host }
            | Fault::EngineDbDown { host }
            | Fault::VmKill { host }
            | Fault::HostNetworkDown { host }
            | Fault::StorageUnmount { host }
            | Fault::StorageLost { host }
            | Fault::StorageReadonly { host }
            | Fault::HostCrash { host }
            | Fault::AgentKill { host }
            | Fault::AgentPause { host, .. }
            | Fault::AgentStop { host }
            | Fault::AgentStart { host }
            | Fault::VmManagerWedge { host }
            | Fault::SlotGarbage { host, .. }
            | Fault::SlotWipe { host }
            | Fault::SlotHostile { host }
            | Fault::LateWrite { host, .. }
            | Fault::AgentPauseUnfenced { host, .. }
            | Fault::BmcUnreachable { host }
            | Fault::BmcWrongCredentials { host }
            | Fault::BmcLies { host } => *host,
            Fault::AllNetworkDown | Fault::Partition { .. } => None,
        }
    }
}

/// `secs` as a span of (0, [`PAUSE_MAX_SECS`]] seconds.
pub(super) fn seconds(secs: f64) -> Result<std::time::Duration, String> {
    if !(secs.is_finite() && secs > 0.0 && secs <= PAUSE_MAX_SECS) {
        return Err(format!(
            "{secs}: not a span in (0, {PAUSE_MAX_SECS}] seconds"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `host1, host3`.
pub fn hosts_text(hosts: &[u16]) -> String {
    hosts
        .iter()
        .map(|h| format!("host{h}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        fault: Fault,
    }

    #[test]
    fn verbs_parse_as_typed() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(std::iter::once("x").chain(args.iter().copied())).map(|c| c.fault)
        };
        assert_eq!(parse(&["vm-kill"]).unwrap(), Fault::VmKill { host: None });
        assert_eq!(
            parse(&["host-crash", "host2"]).unwrap(),
            Fault::HostCrash { host: Some(2) }
        );
        assert_eq!(
            parse(&["agent-pause", "5", "3"]).unwrap(),
            Fault::AgentPause {
                secs: 5.0,
                host: Some(3)
            }
        );
        assert_eq!(
            parse(&["partition", "1,host2", "3"]).unwrap(),
            Fault::Partition {
                hosts: vec![1, 2, 3]
            }
        );
        assert!(parse(&["partition"]).is_err());
        assert!(parse(&["vm-kill", "host0"]).is_err());
        assert_eq!(
            parse(&["all-network-down"]).unwrap().verb(),
            "all-network-down"
        );
        assert_eq!(
            parse(&["slot-garbage", "15", "host1"]).unwrap(),
            Fault::SlotGarbage {
                secs: 15.0,
                host: Some(1)
            }
        );
        assert_eq!(
            parse(&["late-write", "4"]).unwrap(),
            Fault::LateWrite {
                secs: 4.0,
                host: None
            }
        );
        for (verb, host) in [
            ("agent-stop", Some(2)),
            ("agent-start", Some(2)),
            ("vm-manager-wedge", None),
            ("slot-wipe", Some(3)),
            ("slot-hostile", Some(1)),
            ("bmc-unreachable", Some(2)),
            ("bmc-wrong-credentials", None),
            ("bmc-lies", Some(3)),
        ] {
            let mut args = vec![verb.to_string()];
            args.extend(host.map(|h| h.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let fault = parse(&args).unwrap();
            assert_eq!((fault.verb(), fault.host()), (verb, host));
            let json = serde_json::to_string(&fault).unwrap();
            assert_eq!(serde_json::from_str::<Fault>(&json).unwrap(), fault);
        }
        assert!(parse(&["slot-garbage"]).is_err());
        assert_eq!(
            parse(&["agent-pause-unfenced", "9", "2"]).unwrap().verb(),
            "agent-pause-unfenced"
        );
    }

    #[test]
    fn spans_are_bounded() {
        assert!(seconds(0.0).is_err());
        assert!(seconds(-1.0).is_err());
        assert!(seconds(f64::NAN).is_err());
        assert!(seconds(PAUSE_MAX_SECS + 1.0).is_err());
        assert_eq!(
            seconds(1.5).unwrap(),
            std::time::Duration::from_millis(1500)
        );
    }
}
