//! The `hosted-engine` command surface as data: every command, its options and
//! its help, in one table. The parser, `--help`, the man page and the shell
//! completions are all made from this table, so they cannot disagree.
//!
//! The syntax is the reference's (`docs/compat.md` section 8): the
//! first argument is the command (`--vm-status`), options follow it
//! (`--mode=global` or `--mode global`), `--help` right after a command prints
//! that command's help.

use std::collections::BTreeMap;

/// Which command a [`CommandSpec`] is. `hosted-engine` dispatches on it
/// (`super::dispatch`), so the compiler checks that every command of the table
/// is handled. Each variant is its command's name in CamelCase (`VmStatus`:
/// `--vm-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandId {
    Deploy,
    VmStatus,
    History,
    VmStart,
    VmStartPaused,
    VmShutdown,
    VmPoweroff,
    SetMaintenance,
    CheckLiveliness,
    CheckDeployed,
    CheckFencing,
    ConnectStorage,
    DisconnectStorage,
    Console,
    AddConsolePassword,
    SetSharedConfig,
    GetSharedConfig,
    ReinitializeLockspace,
    CleanMetadata,
}

/// One command.
#[derive(Debug)]
pub struct CommandSpec {
    pub id: CommandId,
    /// As typed: `--vm-status`.
    pub name: &'static str,
    /// One line for the usage list.
    pub summary: &'static str,
    /// Paragraphs for the command's own help and the man page.
    pub help: &'static str,
    pub options: &'static [OptSpec],
    /// Positional arguments, in order; all required.
    pub positionals: &'static [&'static str],
    /// Reads only: may run on another host with `--remote`.
    pub read_only: bool,
}

/// One option of a command.
#[derive(Debug)]
pub struct OptSpec {
    /// Without the dashes: `mode`.
    pub name: &'static str,
    pub value: Value,
    pub help: &'static str,
    /// The accepted values, when they are a fixed set (for completions).
    pub choices: &'static [&'static str],
}

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value {
    /// A flag: `--json`.
    None,
    /// `--mode=<mode>` or `--mode <mode>`.
    Required(&'static str),
    /// `--watch` or `--watch=<secs>` (only with `=`).
    Optional(&'static str),
}

const fn opt(name: &'static str, value: Value, help: &'static str) -> OptSpec {
    OptSpec {
        name,
        value,
        help,
        choices: &[],
    }
}

/// The options of every command that may run on another host.
pub const REMOTE_OPTIONS: &[OptSpec] = &[
    opt(
        "remote",
        Value::Required("[user@]host[:port]"),
        "Run the command on another host over SSH and show its answer here. The host key must \
         already be in known_hosts (see --remote-accept-new-host-key).",
    ),
    opt(
        "remote-identity",
        Value::Required("file"),
        "Private key for --remote [default: the ssh-agent, then ~/.ssh/id_ed25519, id_ecdsa, \
         id_rsa].",
    ),
    opt(
        "remote-known-hosts",
        Value::Required("file"),
        "known_hosts file for --remote [default: ~/.ssh/known_hosts].",
    ),
    opt(
        "remote-accept-new-host-key",
        Value::None,
        "With --remote: trust a host key seen for the first time and add it to known_hosts. A \
         changed key is refused all the same.",
    ),
    opt(
        "remote-command",
        Value::Required("path"),
        "With --remote: the hosted-engine program on the other host [default: hosted-engine].",
    ),
    opt(
        "remote-ssh-config",
        Value::Required("file"),
        "With --remote: the OpenSSH client configuration whose Host blocks give the host's \
         HostName, User, Port and IdentityFile, as for ssh; what --remote says wins; none: \
         read none [default: ~/.ssh/config].",
    ),
    opt(
        "remote-timeout",
        Value::Required("secs"),
        "With --remote: the bound on everything after the connection (authentication, the \
         command, its output), whatever the server does [default: 60].",
    ),
];

const STATUS_OPTIONS: &[OptSpec] = &[
    opt(
        "json",
        Value::None,
        "One line of JSON in the reference's shape (same as --format=json).",
    ),
    OptSpec {
        name: "format",
        value: Value::Required("format"),
        help: "text (the reference's layout, the default), json, table (one row per host), \
               or openmetrics (the cluster's metrics as this host sees them, for Prometheus).",
        choices: &["text", "json", "table", "openmetrics"],
    },
    opt(
        "explain",
        Value::None,
        "After the status: what is not known (the shared storage failing this host, unreadable \
         slots), each host's score breakdown, the engine VM lease holder and epoch, and which \
         host would start the engine VM next and why. Text: not with --json.",
    ),
    opt(
        "watch",
        Value::Optional("secs"),
        "Refresh every <secs> seconds (default 2) until interrupted; text and table redraw \
         in place under a line with the time of the refresh, json prints one line per \
         refresh.",
    ),
];

const HISTORY_OPTIONS: &[OptSpec] = &[
    opt(
        "since",
        Value::Required("time"),
        "Only events from then on: a duration back from now (90s, 15m, 2h, 1d), Unix \
         seconds (up to three decimals), or a local time (YYYY-MM-DD HH:MM[:SS], or \
         HH:MM[:SS] today).",
    ),
    opt("host", Value::Required("id"), "Only this host's events."),
    opt(
        "json",
        Value::None,
        "One JSON object: `events` (each with time, unix-ms, host-id, seq, kind, text) and \
         `unreadable` (history files that could not be read).",
    ),
];

const MODE_CHOICES: &[&str] = &["global", "local", "none"];
const TYPE_CHOICES: &[&str] = &["he_local", "he_shared", "ha", "broker"];

const DEPLOY_OPTIONS: &[OptSpec] = &[
    opt(
        "add-host",
        Value::None,
        "Join the deployment already on the storage: copy the cluster's configuration and take \
         the lowest free host id.",
    ),
    opt(
        "answer-file",
        Value::Required("file"),
        "Read the answers from <file>: key=value lines, # comments. Keys: those of \
         hosted-engine.conf (but host_id), enable_agent (yes/no), agent_conf (a file), \
         fencing_conf (a file), fence_passwords (a directory), and broker.<section>.<key> for \
         broker.conf. Options override the file.",
    ),
    opt(
        "generate-answer",
        Value::Required("file"),
        "Write the answers this deploy uses (generated ones included) to <file>, mode 0600, \
         before deploying.",
    ),
    opt(
        "dry-run",
        Value::None,
        "Check every answer, the storage and the metadata volume, print what would be done, \
         change nothing (but --generate-answer's file).",
    ),
    opt(
        "storage",
        Value::Required("spec"),
        "The shared storage: server:/path for nfs and glusterfs, a device or path for \
         posixfs, a directory for dir. Required.",
    ),
    OptSpec {
        name: "domain-type",
        value: Value::Required("type"),
        help: "The kind of storage [default: nfs]; it must already be mounted where the agent \
               looks for it (under --mnt-root, as vdsm mounts it).",
        choices: &["nfs", "nfs3", "nfs4", "glusterfs", "posixfs", "dir"],
    },
    opt(
        "sd-uuid",
        Value::Required("uuid"),
        "The storage domain's directory on the storage [default: a new UUID on the first \
         host; with --add-host, the one deployment found on the storage].",
    ),
    opt(
        "mnt-root",
        Value::Required("dir"),
        "Where storage is mounted [default: /rhev/data-center/mnt].",
    ),
    opt(
        "fqdn",
        Value::Required("name"),
        "The engine VM's host name, for its health check. Required on the first host.",
    ),
    opt(
        "gateway",
        Value::Required("address"),
        "The address the network test pings (needed with network_test=ping, the default).",
    ),
    OptSpec {
        name: "network-test",
        value: Value::Required("test"),
        help: "How the score tests this host's network [default: ping].",
        choices: &["ping", "dns", "tcp", "none"],
    },
    opt(
        "hostname",
        Value::Required("name"),
        "This host's name in the metadata [default: the system's host name].",
    ),
    OptSpec {
        name: "vm-driver",
        value: Value::Required("driver"),
        help: "What runs the engine VM [default: libvirt with --vm-xml, else process].",
        choices: &["libvirt", "process"],
    },
    opt(
        "vm-xml",
        Value::Required("file"),
        "The engine VM's libvirt domain XML; copied to the storage for every host.",
    ),
    opt(
        "vm-command",
        Value::Required("command"),
        "The engine VM as a command (vm_driver=process), split on whitespace, no shell.",
    ),
    opt(
        "watchdog-device",
        Value::Required("path|none"),
        "This host's watchdog, which resets it when its agent hangs while it holds the engine \
         VM lease: a device such as /dev/watchdog (a hardware watchdog, e.g. iTCO_wdt or \
         ipmi_watchdog, or the kernel's softdog), whose timeout the agent reads and sets at \
         start; or none, with --watchdog-none-i-accept-split-brain. Required on every host \
         (an added host does not take the first host's).",
    ),
    opt(
        "watchdog-timeout-secs",
        Value::Required("secs"),
        "The timeout the agent gives the watchdog device at start [default: the device's own \
         when the timings allow it, else the longest they allow].",
    ),
    opt(
        "watchdog-none-i-accept-split-brain",
        Value::None,
        "With --watchdog-device=none: run this host without a watchdog. A hung agent here \
         is then not reset, and another host can start a second engine VM beside its own.",
    ),
    opt(
        "agent-conf",
        Value::Required("file"),
        "The cluster's agent.conf (timings, score penalties), checked and copied to the \
         storage; every added host takes it from there [default: every key at its default].",
    ),
    opt(
        "fencing-conf",
        Value::Required("file"),
        "The cluster's fencing.conf (power fencing: each host's fence agent and its options), \
         checked against the timings and copied beside the metadata volume, where every \
         agent reads it when it starts. First host only [default: no power fencing].",
    ),
    opt(
        "fence-passwords",
        Value::Required("dir"),
        "A directory of fence device password files (those fencing.conf names by file name): \
         each regular file is installed, mode 0600, in this host's \
         /etc/ovirt-hosted-engine-ha/fencing/. Every host needs those of the devices it may \
         run.",
    ),
    opt(
        "no-enable-agent",
        Value::None,
        "Do not run `systemctl enable --now ovirt-ha-agent.service` at the end.",
    ),
    opt(
        "force",
        Value::None,
        "First host: wipe a metadata volume (and host id claims) left by an earlier \
         deployment. Never when any of its hosts is live.",
    ),
];

/// Every command, in the order of the usage text.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        id: CommandId::Deploy,
        name: "--deploy",
        summary: "Deploy this host: the first one, or another with --add-host",
        help: "Configures this host without questions, every answer from an option or \
               --answer-file. The first host initialises the shared metadata volume \
               (refused while any host in it is live), keeps the cluster's configuration \
               beside it (hosted-engine.conf, agent.conf, the engine VM's domain XML), writes \
               this host's hosted-engine.conf, agent.conf, ha.conf and broker.conf (mode 0600: \
               it may hold mail credentials), takes host id 1 and enables the agent. With --add-host, a further host copies \
               the cluster's configuration from the storage and takes the lowest free host \
               id; ids are claimed with files created exclusively under ha_agent/host-ids, so \
               hosts added at once never share one. Refused on a host that is already \
               deployed.",
        options: DEPLOY_OPTIONS,
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::VmStatus,
        name: "--vm-status",
        summary: "Show the status of every host and of the engine VM",
        help: "Shows each host's slot of the shared metadata as this host's agent sees it: \
               score, engine status, maintenance, whether its data is up to date. When the \
               local agent does not answer within 3 seconds the shared storage is read \
               directly and each host's freshness is judged from the wall-clock time it \
               publishes (a note on stderr says so).",
        options: STATUS_OPTIONS,
        positionals: &[],
        read_only: true,
    },
    CommandSpec {
        id: CommandId::History,
        name: "--history",
        summary: "Show what the cluster did and why: every host's events, newest last",
        help: "One timeline merged from every host's recent events on the shared storage \
               (the last 512 of each, kept beside the metadata volume): state transitions \
               with their reasons, the engine VM lease (claims, wins, renewal failures, \
               expiries), self-fences and watchdog resets, engine VM starts, stops and \
               crashes, operators' requests, maintenance changes, storage lost and back, \
               penalties that appeared or went. Read from the storage directly: it works \
               with the agent down and shows hosts that are gone. Times are each host's \
               wall clock.",
        options: HISTORY_OPTIONS,
        positionals: &[],
        read_only: true,
    },
    CommandSpec {
        id: CommandId::VmStart,
        name: "--vm-start",
        summary: "Start the engine VM on this host",
        help: "Asks the local agent to start the engine VM here. The agent starts it only \
               after taking the engine VM lease, so the engine never runs twice. Waits \
               (bounded) until it has launched: prints `VM in WaitForLaunch`, else fails \
               with why. Refused when the local agent is down, when the engine VM runs \
               already (here or on another live host), and in local maintenance.",
        options: &[
            opt(
                "vm-conf",
                Value::Required("file"),
                "Not supported: the engine VM's definition comes from hosted-engine.conf \
                 (vm_command, or the libvirt domain XML); given, the command fails.",
            ),
            opt(
                "no-wait",
                Value::None,
                "Return once the local agent has taken the request, without waiting for its outcome.",
            ),
        ],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::VmStartPaused,
        name: "--vm-start-paused",
        summary: "Start the engine VM on this host, paused",
        help: "As --vm-start, with the VM started paused.",
        options: &[opt(
            "no-wait",
            Value::None,
            "Return once the local agent has taken the request, without waiting for its outcome.",
        )],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::VmShutdown,
        name: "--vm-shutdown",
        summary: "Shut the engine VM on this host down gracefully",
        help: "Asks the local agent to shut the engine VM down (the guest gets a grace \
               period, then it is powered off) and waits (bounded) until it is down. Silent \
               on success; `Virtual machine does not exist` (exit 1) when it does not run \
               here. Outside global maintenance it warns that the cluster will start the \
               engine VM again. Pass --force to stop the VM directly when the local agent \
               is down.",
        options: &[
            opt(
                "force",
                Value::None,
                "When the local agent is down, stop the local engine VM directly.",
            ),
            opt(
                "no-wait",
                Value::None,
                "Return once the local agent has taken the request, without waiting for its outcome.",
            ),
        ],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::VmPoweroff,
        name: "--vm-poweroff",
        summary: "Power the engine VM on this host off",
        help: "Asks the local agent to power the engine VM off at once and waits (bounded) \
               until it is down. Silent on success; `Virtual machine does not exist` \
               (exit 1) when it does not run here. Outside global maintenance it warns that \
               the cluster will start the engine VM again. Pass --force to power it off \
               directly when the local agent is down.",
        options: &[
            opt(
                "force",
                Value::None,
                "When the local agent is down, power the local engine VM off directly.",
            ),
            opt(
                "no-wait",
                Value::None,
                "Return once the local agent has taken the request, without waiting for its outcome.",
            ),
        ],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::SetMaintenance,
        name: "--set-maintenance",
        summary: "Set the maintenance mode (--mode=global|local|none)",
        help: "global: no agent starts, stops or moves the engine VM. local: this host \
               leaves the cluster (score 0); refused while the engine VM runs here. none: \
               clears both. The modes are exclusive. Through the local agent; when it is \
               down, written directly (ha.conf, and slot 0 of the shared metadata). Returns \
               once the change is on the shared storage (local: once the agent published \
               it in this host's slot), bounded, and fails with why otherwise.",
        options: &[OptSpec {
            name: "mode",
            value: Value::Required("mode"),
            help: "global, local or none.",
            choices: MODE_CHOICES,
        }],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::CheckLiveliness,
        name: "--check-liveliness",
        summary: "Check whether the engine answers its health page",
        help: "Fetches http://<fqdn>/ovirt-engine/services/health. Prints `Hosted Engine is \
               up!` (exit 0) or `Hosted Engine is not up!` (exit 1).",
        options: &[],
        positionals: &[],
        read_only: true,
    },
    CommandSpec {
        id: CommandId::CheckDeployed,
        name: "--check-deployed",
        summary: "Tell whether the hosted engine has been deployed on this host",
        help: "Exit 0: deployed (hosted-engine.conf names the engine VM, `vmid`), 1: not \
               deployed, 2: configuration unreadable.",
        options: &[],
        positionals: &[],
        read_only: true,
    },
    CommandSpec {
        id: CommandId::CheckFencing,
        name: "--check-fencing",
        summary: "Ask every host's fence device for its power state, from this host",
        help: "Runs each fence agent of the cluster's fencing.conf (beside the metadata \
               volume) with action=status, all at once, each call bounded by the file's \
               timeout-secs, and prints a table: the host, its fence agent, whether the \
               device answered, the power it reported, how long it took and why it did not \
               answer. Passwords are read from the password files (in \
               /etc/ovirt-hosted-engine-ha/fencing/) and never shown. Nothing is run while \
               fencing.conf, a fence agent or a password file could be changed by another \
               user. Exit 0: every device answered, 1: one did not or none is configured, 2: \
               fencing.conf unreadable or not safe to use.",
        options: &[opt(
            "json",
            Value::None,
            "One JSON object: `hosts`, each with host-id, agent, reachable, power (on, off, \
             or null), took-ms and error (null when it answered).",
        )],
        positionals: &[],
        read_only: true,
    },
    CommandSpec {
        id: CommandId::ConnectStorage,
        name: "--connect-storage",
        summary: "Connect the shared storage",
        help: "Runs hosted-engine.conf's storage_connect_command (if any), then checks that \
               the metadata volume can be read.",
        options: &[],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::DisconnectStorage,
        name: "--disconnect-storage",
        summary: "Disconnect the shared storage",
        help: "Unmounts the shared storage's mount point. Refused while the local agent \
               runs (it uses the storage) or the engine VM runs on this host.",
        options: &[],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::Console,
        name: "--console",
        summary: "Open the engine VM's serial console",
        help: "libvirt driver: `virsh console` of the engine VM's domain. process driver: \
               the VM has no console; its output log is shown instead (followed, until \
               interrupted).",
        options: &[],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::AddConsolePassword,
        name: "--add-console-password",
        summary: "Set a temporary VNC password for the engine VM's console",
        help: "libvirt driver only. The password comes from --password, else \
               $OVIRT_HOSTED_ENGINE_CONSOLE_PASSWORD, else a prompt.",
        options: &[opt(
            "password",
            Value::Required("password"),
            "The password (visible in the process list: prefer the environment variable).",
        )],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::SetSharedConfig,
        name: "--set-shared-config",
        summary: "Set a configuration key (<key> <value> [--type=...])",
        help: "Writes <key>=<value> into one configuration file, keeping comments and every \
               other key. Types: he_local (hosted-engine.conf), he_shared (the copy of \
               hosted-engine.conf on the shared storage), ha (ha.conf), broker \
               (broker.conf). Without --type the key must exist in exactly one of them. \
               A secret (smtp-password) is never taken from the command line: give - as \
               <value> and the secret as the first line of stdin; the file is then made \
               readable by its owner only.",
        options: &[OptSpec {
            name: "type",
            value: Value::Required("type"),
            help: "he_local, he_shared, ha or broker.",
            choices: TYPE_CHOICES,
        }],
        positionals: &["key", "value"],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::GetSharedConfig,
        name: "--get-shared-config",
        summary: "Show a configuration key (<key> [--type=...])",
        help: "Prints `<key> : <value>, type : <type>` for every file that has the key (or \
               only the one --type names).",
        options: &[OptSpec {
            name: "type",
            value: Value::Required("type"),
            help: "he_local, he_shared, ha or broker.",
            choices: TYPE_CHOICES,
        }],
        positionals: &["key"],
        read_only: true,
    },
    CommandSpec {
        id: CommandId::ReinitializeLockspace,
        name: "--reinitialize-lockspace",
        summary: "Reset the engine VM lease in the shared metadata",
        help: "Clears every host's published lease claim. Refused unless the cluster is in \
               global maintenance and no agent is running (no host's data is live); \
               --force skips both checks.",
        options: &[opt(
            "force",
            Value::None,
            "Skip the global-maintenance and active-agent checks.",
        )],
        positionals: &[],
        read_only: false,
    },
    CommandSpec {
        id: CommandId::CleanMetadata,
        name: "--clean-metadata",
        summary: "Remove a host's slot from the shared metadata",
        help: "Zeroes the slot of --host-id (default: this host). Refused unless that host's \
               agent stopped cleanly (its slot says stopped) or its data is stale, and, for a \
               slot that claims, holds or fences the engine VM lease, until that host has been \
               silent for lease-dead-secs (as the local agent sees it, else by the wall-clock \
               time the slot publishes): its engine VM may run until then. --force-cleanup \
               skips both checks: only for a host you have seen powered off. Never while this \
               host's own agent runs and the slot is its own.",
        options: &[
            opt(
                "host-id",
                Value::Required("id"),
                "The host whose slot to remove [default: this host's host_id].",
            ),
            opt(
                "force-cleanup",
                Value::None,
                "Remove the slot even though the host looks active or its lease may still \
                 stand (it must be powered off).",
            ),
        ],
        positionals: &[],
        read_only: false,
    },
];

/// `hosted-engine`'s exit codes, for the usage text and the man page.
pub const EXIT_CODES: &str = "\
Exit codes: 0 success (or \"yes\"), 1 the command failed or answered \"no\",
2 the configuration could not be read.";

/// Environment variables that move the configuration.
pub const ENVIRONMENT: &str = "\
Configuration paths follow HE_CONFIG_ROOT, HE_CONF, HE_AGENT_CONF, HE_HA_CONF,
HE_BROKER_CONF, HE_RUNTIME_DIR and HE_STATE_DIR when set.";

/// The command named `name`.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

impl CommandSpec {
    /// Every option this command takes, `--remote` and friends included.
    pub fn all_options(&self) -> impl Iterator<Item = &'static OptSpec> + use<> {
        let remote: &'static [OptSpec] = if self.read_only { REMOTE_OPTIONS } else { &[] };
        self.options.iter().chain(remote.iter())
    }

    /// `hosted-engine --set-maintenance --mode=<mode>`.
    pub fn synopsis(&self) -> String {
        let mut line = format!("hosted-engine {}", self.name);
        for p in self.positionals {
            line.push_str(&format!(" <{p}>"));
        }
        for o in self.options {
            line.push_str(&format!(" [{}]", o.usage()));
        }
        if self.read_only {
            line.push_str(" [--remote=[user@]host[:port] ...]");
        }
        line
    }

    /// The command's `--help`.
    pub fn help_text(&self) -> String {
        // The usage line wraps with a hanging indent.
        let usage = wrap(&format!("Usage: {}", self.synopsis()), 78, "    ");
        let mut text = format!("{}\n\n{}\n", usage.trim_start(), wrap(self.help, 78, ""));
        let options: Vec<&OptSpec> = self.all_options().collect();
        if !options.is_empty() {
            text.push_str("\nOptions:\n");
            for o in options {
                text.push_str(&format!(
                    "  {}\n{}\n",
                    o.usage(),
                    wrap(o.help, 72, "      ")
                ));
            }
        }
        text.push_str(&format!("\n{EXIT_CODES}\n"));
        text
    }
}

impl OptSpec {
    /// `--mode=<mode>`, `--watch[=<secs>]`, `--json`.
    pub fn usage(&self) -> String {
        match self.value {
            Value::None => format!("--{}", self.name),
            Value::Required(v) => format!("--{}=<{v}>", self.name),
            Value::Optional(v) => format!("--{}[=<{v}>]", self.name),
        }
    }
}

/// `hosted-engine`'s usage: every command with its summary.
pub fn usage() -> String {
    let mut text =
        String::from("Usage: hosted-engine [--help | --version] <command> [<command-args>]\n");
    for c in COMMANDS {
        text.push_str(&format!("    {}\n        {}\n", c.name, c.summary));
    }
    let remote = wrap(
        "`hosted-engine <command> --help` shows a command's options. Read-only commands \
         (--vm-status, --history, --check-liveliness, --check-deployed, \
         --get-shared-config) also take --remote=[user@]host[:port].",
        78,
        "",
    );
    text.push_str(&format!("\n{remote}\n"));
    text.push_str(&format!("\n{ENVIRONMENT}\n{EXIT_CODES}\n"));
    text
}

/// Greedy word wrap of one paragraph, each line prefixed by `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines = Vec::new();
    let mut line = String::from(indent);
    for word in text.split_whitespace() {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::replace(&mut line, String::from(indent)));
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

/// A parsed command line.
#[derive(Debug)]
pub struct Invocation {
    pub command: &'static CommandSpec,
    /// Options given, by name; flags map to `None`.
    pub options: BTreeMap<&'static str, Option<String>>,
    pub positionals: Vec<String>,
    /// `--help` after the command.
    pub help: bool,
}

impl Invocation {
    pub fn flag(&self, name: &str) -> bool {
        self.options.contains_key(name)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.options.get(name).and_then(|v| v.as_deref())
    }

    /// The command line again, for running on another host: everything but the
    /// `--remote*` options.
    pub fn to_remote_args(&self) -> Vec<String> {
        let mut args = vec![self.command.name.to_owned()];
        args.extend(self.positionals.iter().cloned());
        for (name, value) in &self.options {
            if REMOTE_OPTIONS.iter().any(|o| o.name == *name) {
                continue;
            }
            match value {
                Some(v) => args.push(format!("--{name}={v}")),
                None => args.push(format!("--{name}")),
            }
        }
        args
    }
}

/// Why a command line was refused; `Display` is the reference's wording.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("no command given")]
    Empty,
    #[error("Invalid option '{0}'")]
    UnknownCommand(String),
    #[error("Invalid option '{0}'")]
    UnknownOption(String),
    #[error("Option --{0} needs a value: --{0}=<{1}>")]
    MissingValue(&'static str, &'static str),
    #[error("Option --{0} takes no value")]
    UnexpectedValue(&'static str),
    #[error("Option --{0} given twice")]
    Repeated(&'static str),
    #[error("Missing argument <{0}>")]
    MissingPositional(&'static str),
    #[error("Unexpected argument '{0}'")]
    ExtraPositional(String),
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, ParseError> {
    let Some(first) = args.first() else {
        return Err(ParseError::Empty);
    };
    let command = find(first).ok_or_else(|| ParseError::UnknownCommand(first.clone()))?;
    let mut inv = Invocation {
        command,
        options: BTreeMap::new(),
        positionals: Vec::new(),
        help: false,
    };
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        if arg == "--help" || arg == "-h" {
            inv.help = true;
            continue;
        }
        if arg == "--" {
            inv.positionals.extend(rest.by_ref().cloned());
            break;
        }
        let Some(body) = arg.strip_prefix("--") else {
            inv.positionals.push(arg.clone());
            continue;
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let spec = command
            .all_options()
            .find(|o| o.name == name)
            .ok_or_else(|| ParseError::UnknownOption(arg.clone()))?;
        let value = match (spec.value, inline) {
            (Value::None, Some(_)) => return Err(ParseError::UnexpectedValue(spec.name)),
            (Value::None, None) | (Value::Optional(_), None) => None,
            (Value::Optional(_), Some(v)) | (Value::Required(_), Some(v)) => Some(v),
            (Value::Required(meta), None) => match rest.next() {
                Some(v) if !v.starts_with("--") => Some(v.clone()),
                _ => return Err(ParseError::MissingValue(spec.name, meta)),
            },
        };
        if inv.options.insert(spec.name, value).is_some() {
            return Err(ParseError::Repeated(spec.name));
        }
    }
    if inv.help {
        return Ok(inv);
    }
    if let Some(extra) = inv.positionals.get(command.positionals.len()) {
        return Err(ParseError::ExtraPositional(extra.clone()));
    }
    if let Some(missing) = command.positionals.get(inv.positionals.len()) {
        return Err(ParseError::MissingPositional(missing));
    }
    Ok(inv)
}

/// The command surface as a clap command, for the man page and the shell
/// completions (clap does not parse `hosted-engine`'s command line: its syntax
/// and messages are the reference's).
pub fn clap_command() -> clap::Command {
    use clap::{Arg, ArgAction, ArgGroup, Command};
    let mut cmd = Command::new("hosted-engine")
        .about("Manage the hosted engine: the engine VM and the HA agents that keep it running")
        .long_about(
            "Manage the hosted engine: the engine VM that the ovirt-ha-agent daemons on the \
             hosts of a cluster keep running on exactly one host. The first argument is the \
             command; its options follow it. Commands that change the engine VM go through \
             the local agent, which respects the engine VM lease.",
        )
        .after_help(format!("{ENVIRONMENT}\n\n{EXIT_CODES}"))
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .long("help")
                .short('h')
                .action(ArgAction::Help)
                .help("Show the usage, or a command's help when given after it"),
        )
        .version(env!("CARGO_PKG_VERSION"))
        .disable_version_flag(true)
        .arg(
            Arg::new("version")
                .long("version")
                .short('V')
                .action(ArgAction::Version)
                .help("Show the version (as ovirt-ha-agent --version and he-lab --version)"),
        );
    let mut seen: Vec<&str> = vec!["help", "version"];
    for c in COMMANDS {
        let help = format!("{}. {}", c.summary, c.help);
        cmd = cmd.arg(
            Arg::new(c.name.trim_start_matches("--"))
                .long(c.name.trim_start_matches("--"))
                .action(ArgAction::SetTrue)
                .help(c.summary)
                .long_help(help),
        );
        for o in c.all_options() {
            if seen.contains(&o.name) {
                continue;
            }
            seen.push(o.name);
            let mut arg = Arg::new(o.name).long(o.name).help(o.help);
            arg = match o.value {
                Value::None => arg.action(ArgAction::SetTrue),
                Value::Required(meta) => arg.value_name(meta).num_args(1),
                Value::Optional(meta) => arg.value_name(meta).num_args(0..=1).require_equals(true),
            };
            if !o.choices.is_empty() {
                arg = arg.value_parser(o.choices.to_vec());
            } else if matches!(o.value, Value::Required("file")) {
                arg = arg.value_hint(clap::ValueHint::FilePath);
            }
            cmd = cmd.arg(arg);
        }
    }
    let positionals: Vec<&str> = ["key", "value"].to_vec();
    for p in positionals {
        cmd = cmd.arg(Arg::new(p).value_name(p).help(format!(
            "For --set-shared-config/--get-shared-config: the {p}"
        )));
    }
    cmd.group(
        ArgGroup::new("command")
            .args(COMMANDS.iter().map(|c| c.name.trim_start_matches("--")))
            .multiple(false),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_take_values_with_equals_or_separately() {
        let inv = parse(&args("--set-maintenance --mode=global")).unwrap();
        assert_eq!(inv.value("mode"), Some("global"));
        let inv = parse(&args("--set-maintenance --mode local")).unwrap();
        assert_eq!(inv.value("mode"), Some("local"));
        let inv = parse(&args("--vm-status --watch")).unwrap();
        assert!(inv.flag("watch"));
        assert_eq!(inv.value("watch"), None);
        let inv = parse(&args("--vm-status --watch=5 --json")).unwrap();
        assert_eq!(inv.value("watch"), Some("5"));
        assert!(inv.flag("json"));
    }

    #[test]
    fn refusals_use_the_reference_wording() {
        assert_eq!(
            parse(&args("--bogus")).unwrap_err().to_string(),
            "Invalid option '--bogus'"
        );
        assert_eq!(
            parse(&args("--vm-status --bogus")).unwrap_err().to_string(),
            "Invalid option '--bogus'"
        );
        assert_eq!(parse(&[]).unwrap_err(), ParseError::Empty);
        assert_eq!(
            parse(&args("--vm-status --json=yes")).unwrap_err(),
            ParseError::UnexpectedValue("json")
        );
        assert_eq!(
            parse(&args("--vm-status --json --json")).unwrap_err(),
            ParseError::Repeated("json")
        );
        assert_eq!(
            parse(&args("--get-shared-config")).unwrap_err(),
            ParseError::MissingPositional("key")
        );
        assert_eq!(
            parse(&args("--get-shared-config a b")).unwrap_err(),
            ParseError::ExtraPositional("b".into())
        );
        // Mutating commands do not take --remote.
        assert_eq!(
            parse(&args("--vm-poweroff --remote=h")).unwrap_err(),
            ParseError::UnknownOption("--remote=h".into())
        );
    }

    #[test]
    fn help_after_a_command_wins_over_missing_arguments() {
        let inv = parse(&args("--set-shared-config --help")).unwrap();
        assert!(inv.help);
        let help = inv.command.help_text();
        assert!(help.starts_with("Usage: hosted-engine --set-shared-config <key> <value>"));
        assert!(help.contains("--type=<type>"));
    }

    #[test]
    fn remote_arguments_drop_the_remote_options() {
        let inv = parse(&args(
            "--vm-status --json --remote=root@h:2222 --remote-accept-new-host-key",
        ))
        .unwrap();
        assert_eq!(inv.to_remote_args(), args("--vm-status --json"));
    }

    #[test]
    fn wrapped_help_stays_within_its_width() {
        for c in COMMANDS {
            for line in c.help_text().lines() {
                assert!(line.len() <= 80 || !line.contains(' '), "{line}");
            }
        }
    }

    #[test]
    fn each_command_has_its_own_id() {
        for (i, c) in COMMANDS.iter().enumerate() {
            assert!(
                COMMANDS[..i].iter().all(|earlier| earlier.id != c.id),
                "{} has the id of an earlier command",
                c.name
            );
            assert_eq!(find(c.name).map(|found| found.id), Some(c.id));
        }
    }

    #[test]
    fn the_clap_model_is_consistent() {
        clap_command().debug_assert();
    }
}
