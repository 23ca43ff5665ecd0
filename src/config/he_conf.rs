//! `hosted-engine.conf`: who this host is and where the shared storage is
//! (`docs/compat.md` section 9).

use std::fmt;
use std::path::{Path, PathBuf};

use super::ConfFile;
use super::agent_conf::Timings;
use super::document::{FLAT_SECTION, KvDocument, Syntax};
use super::error::{ConfigError, ConfigErrors, ErrorKind};
use super::values::{
    Fields, Violation, errors_from, format_secs, parse_absolute_path, parse_path_component,
    parse_port, parse_word, violation_error,
};

/// Highest host id: one per host slot of the metadata volume.
pub use crate::metadata::HOST_ID_MAX;
/// Where vdsm mounts storage domains; our key `mnt_root` overrides it.
pub const DEFAULT_MNT_ROOT: &str = "/rhev/data-center/mnt";
/// The management bridge whose state the score checks.
pub const DEFAULT_BRIDGE: &str = "ovirtmgmt";
/// The directory inside a storage domain that holds the agent's files.
pub const HA_AGENT_DIR: &str = "ha_agent";
/// The metadata volume's name inside [`HA_AGENT_DIR`].
pub const METADATA_FILE: &str = "hosted-engine.metadata";

/// Every key this file knows; the rest are kept but not interpreted.
pub const HE_CONF_KEYS: &[&str] = &[
    "fqdn",
    "vmid",
    "host_id",
    "storage",
    "domainType",
    "sdUUID",
    "mnt_root",
    "gateway",
    "bridge",
    "network_test",
    "tcp_t_address",
    "tcp_t_port",
    "vm_disk_id",
    "conf",
    "metadata_path",
    "hostname",
    "vm_command",
    "engine_memory_mib",
    "storage_connect_command",
    "watchdog_device",
    "watchdog_timeout_secs",
    WATCHDOG_NONE_ACK_KEY,
    "vm_driver",
    "vm_xml",
    "libvirt_uri",
];

/// The acknowledgement that `watchdog_device=none` needs: a host without a
/// watchdog is unfenced, so running it so is a deliberate, named choice.
pub const WATCHDOG_NONE_ACK_KEY: &str = "watchdog_none_i_accept_split_brain";
/// The only value of [`WATCHDOG_NONE_ACK_KEY`].
pub const WATCHDOG_NONE_ACK_VALUE: &str = "yes";
/// `watchdog_device`'s value for "no watchdog".
pub const WATCHDOG_NONE: &str = "none";
/// Longest `watchdog_timeout_secs`: a day, as every other timer (a value
/// written in milliseconds is caught).
const WATCHDOG_TIMEOUT_MAX_SECS: u32 = 86_400;

/// Default of `libvirt_uri`: the local system libvirtd.
pub const DEFAULT_LIBVIRT_URI: &str = "qemu:///system";

/// Whether this build has the `libvirt` engine VM driver (cargo feature
/// `libvirt`).
pub const LIBVIRT_BUILT: bool = cfg!(feature = "libvirt");

/// Which driver runs the engine VM (key `vm_driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmDriverKind {
    /// The engine VM is a command (`vm_command`), run as a detached process.
    Process,
    /// The engine VM is a libvirt domain created from `vm_xml` (`libvirt_uri`).
    Libvirt,
}

impl VmDriverKind {
    /// The spelling in `hosted-engine.conf`.
    pub fn as_str(self) -> &'static str {
        match self {
            VmDriverKind::Process => "process",
            VmDriverKind::Libvirt => "libvirt",
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        [VmDriverKind::Process, VmDriverKind::Libvirt]
            .into_iter()
            .find(|d| d.as_str() == raw)
            .ok_or_else(|| format!("{raw:?} is not an engine VM driver (process, libvirt)"))
    }
}

/// Key `watchdog_device`: what resets this host when its agent hangs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchdogSetting {
    /// A `/dev/watchdog`-style device, or a plain file standing in for one
    /// (tests and the lab).
    Device(PathBuf),
    /// `none`: no watchdog; valid only with [`WATCHDOG_NONE_ACK_KEY`].
    None,
}

impl WatchdogSetting {
    fn parse(raw: &str) -> Result<Self, String> {
        if raw == WATCHDOG_NONE {
            return Ok(WatchdogSetting::None);
        }
        parse_absolute_path(raw)
            .map(WatchdogSetting::Device)
            .map_err(|_| {
                format!(
                    "{raw:?} is not a watchdog device (an absolute path such as /dev/watchdog, \
                     or none)"
                )
            })
    }
}

impl fmt::Display for WatchdogSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WatchdogSetting::Device(path) => write!(f, "{}", path.display()),
            WatchdogSetting::None => f.write_str(WATCHDOG_NONE),
        }
    }
}

fn parse_watchdog_timeout_secs(raw: &str) -> Result<u32, String> {
    match raw.parse::<u32>() {
        Ok(secs) if (1..=WATCHDOG_TIMEOUT_MAX_SECS).contains(&secs) => Ok(secs),
        _ => Err(format!(
            "{raw:?} is not a watchdog timeout in whole seconds (1..={WATCHDOG_TIMEOUT_MAX_SECS})"
        )),
    }
}

/// The acknowledgement's value: exactly `yes`, nothing that merely looks true.
fn parse_watchdog_none_ack(raw: &str) -> Result<bool, String> {
    if raw == WATCHDOG_NONE_ACK_VALUE {
        return Ok(true);
    }
    Err(format!(
        "{raw:?} is not the acknowledgement: only {WATCHDOG_NONE_ACK_KEY}={WATCHDOG_NONE_ACK_VALUE}, \
         with watchdog_device=none, runs this host without a watchdog"
    ))
}

impl fmt::Display for VmDriverKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of storage that holds the metadata volume (key `domainType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DomainType {
    Nfs,
    Nfs3,
    Nfs4,
    Glusterfs,
    Posixfs,
    Iscsi,
    Fc,
    /// Ours: a plain shared directory (already mounted, or local for a lab), used
    /// as it is: `<storage>/<sdUUID>/ha_agent/...`.
    Dir,
}

impl DomainType {
    /// Every kind, in the order of the help text.
    pub const ALL: [DomainType; 8] = [
        DomainType::Nfs,
        DomainType::Nfs3,
        DomainType::Nfs4,
        DomainType::Glusterfs,
        DomainType::Posixfs,
        DomainType::Iscsi,
        DomainType::Fc,
        DomainType::Dir,
    ];

    /// The spelling in `hosted-engine.conf`.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainType::Nfs => "nfs",
            DomainType::Nfs3 => "nfs3",
            DomainType::Nfs4 => "nfs4",
            DomainType::Glusterfs => "glusterfs",
            DomainType::Posixfs => "posixfs",
            DomainType::Iscsi => "iscsi",
            DomainType::Fc => "fc",
            DomainType::Dir => "dir",
        }
    }

    /// The kind spelled `raw`; the error lists the kinds.
    pub fn parse(raw: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == raw)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|d| d.as_str()).collect();
                format!("{raw:?} is not a storage kind ({})", names.join(", "))
            })
    }

    /// Block storage: the domain is LVM on a LUN, not a mounted file system.
    pub fn is_block(self) -> bool {
        matches!(self, DomainType::Iscsi | DomainType::Fc)
    }
}

impl fmt::Display for DomainType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the gateway test of the score probes the network (key `network_test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkTest {
    /// Ping the `gateway`.
    Ping,
    /// Resolve a name through the configured DNS servers.
    Dns,
    /// Connect to `tcp_t_address`:`tcp_t_port`.
    Tcp,
    /// No test: the network never costs score.
    None,
}

impl NetworkTest {
    /// The spelling in `hosted-engine.conf`.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkTest::Ping => "ping",
            NetworkTest::Dns => "dns",
            NetworkTest::Tcp => "tcp",
            NetworkTest::None => "none",
        }
    }

    fn parse(raw: &str) -> Result<Self, String> {
        [
            NetworkTest::Ping,
            NetworkTest::Dns,
            NetworkTest::Tcp,
            NetworkTest::None,
        ]
        .into_iter()
        .find(|t| t.as_str() == raw)
        .ok_or_else(|| format!("{raw:?} is not a network test (ping, dns, tcp, none)"))
    }
}

/// The parsed `hosted-engine.conf`. Fields are a read-only view of the document:
/// change the file through [`ConfFile::edit`], which re-validates, so that unknown
/// keys and comments are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct HostedEngineConf {
    /// The engine VM's host name (`fqdn`), for the liveliness check.
    pub fqdn: String,
    /// The engine VM's id (`vmid`); absent means "not deployed".
    pub vmid: Option<String>,
    /// This host's slot in the metadata volume (`host_id`), 1..=2000.
    pub host_id: u16,
    /// The storage spec (`storage`): `server:/export` for NFS and Gluster, the
    /// device or remote path for posixfs, the portal for iSCSI, and for `dir` the
    /// absolute path of the shared directory.
    pub storage: String,
    /// `domainType`.
    pub domain_type: DomainType,
    /// The storage domain id (`sdUUID`); optional only for `dir`.
    pub sd_uuid: Option<String>,
    /// Ours (`mnt_root`): where storage is mounted; default `/rhev/data-center/mnt`.
    pub mnt_root: PathBuf,
    /// Gateway address for the ping test (`gateway`).
    pub gateway: Option<String>,
    /// Management bridge (`bridge`), default `ovirtmgmt`.
    pub bridge: String,
    /// `network_test`, default `ping`.
    pub network_test: NetworkTest,
    /// Target of the `tcp` network test (`tcp_t_address`).
    pub tcp_t_address: Option<String>,
    /// Port of the `tcp` network test (`tcp_t_port`).
    pub tcp_t_port: Option<u16>,
    /// The engine VM's disk image id (`vm_disk_id`).
    pub vm_disk_id: Option<String>,
    /// Path of the VM definition the agent starts the VM from (`conf`).
    pub conf: Option<PathBuf>,
    /// Ours (`metadata_path`): an explicit metadata volume path; wins over the path
    /// derived from the storage keys.
    pub metadata_path: Option<PathBuf>,
    /// Ours (`hostname`): the name this host publishes; default the system's.
    pub hostname: Option<String>,
    /// Ours (`vm_command`): the engine VM as a command (the `process` driver),
    /// split on whitespace into argv, run without a shell.
    pub vm_command: Option<Vec<String>>,
    /// Ours (`engine_memory_mib`): the engine VM's memory, for the free-memory
    /// penalty; default 4096.
    pub engine_memory_mib: u64,
    /// Ours (`storage_connect_command`): run (argv, no shell) at start and when the
    /// storage is lost, e.g. a mount command.
    pub storage_connect_command: Option<Vec<String>>,
    /// Ours (`watchdog_device`): a `/dev/watchdog`-style device armed while
    /// this host has something at stake, or `none`. Not set: the agent refuses
    /// to start (`Config::load_for_agent`); other readers do not mind.
    pub watchdog_device: Option<WatchdogSetting>,
    /// Ours (`watchdog_timeout_secs`): for a device, the timeout the agent sets
    /// at start; for a plain-file stand-in (no device to ask), its timeout.
    pub watchdog_timeout_secs: Option<u32>,
    /// Ours ([`WATCHDOG_NONE_ACK_KEY`]`=yes`): `watchdog_device=none` is meant.
    pub watchdog_none_accepted: bool,
    /// Ours (`vm_driver`): which driver runs the engine VM; default `process`.
    pub vm_driver: VmDriverKind,
    /// Ours (`vm_xml`): the libvirt domain XML of the engine VM, on the shared
    /// storage; required by `vm_driver=libvirt`. Its `<uuid>` must be `vmid`.
    pub vm_xml: Option<PathBuf>,
    /// Ours (`libvirt_uri`): the libvirt connection; default `qemu:///system`.
    pub libvirt_uri: String,
    doc: KvDocument,
}

/// Default of `engine_memory_mib` (the core's, which a host without the key runs on).
pub use crate::core::agent::DEFAULT_ENGINE_MEMORY_MIB;

fn parse_argv(raw: &str) -> Result<Vec<String>, String> {
    let argv: Vec<String> = raw.split_whitespace().map(str::to_owned).collect();
    if argv.is_empty() {
        return Err("is empty".into());
    }
    Ok(argv)
}

/// A host name as the metadata record carries it: printable ASCII without `|`.
fn parse_hostname(raw: &str) -> Result<String, String> {
    let word = parse_word(raw)?;
    if word.len() > 255 || !word.bytes().all(|b| b.is_ascii_graphic() && b != b'|') {
        return Err(format!(
            "{raw:?} is not a host name (printable ASCII, no '|')"
        ));
    }
    Ok(word)
}

fn parse_memory_mib(raw: &str) -> Result<u64, String> {
    match raw.parse::<u64>() {
        Ok(mib) if (64..=16 * 1024 * 1024).contains(&mib) => Ok(mib),
        _ => Err(format!(
            "{raw:?} is not a memory size in MiB (64..=16777216)"
        )),
    }
}

impl ConfFile for HostedEngineConf {
    const SYNTAX: Syntax = Syntax::Flat;
    // Without it the host has no id and no storage: nothing can run.
    const REQUIRED: bool = true;

    fn from_document(doc: KvDocument) -> Result<Self, ConfigErrors> {
        let s = FLAT_SECTION;
        let mut f = Fields::new(&doc);
        let fqdn = f.required(s, "fqdn", parse_word);
        let vmid = f.value(s, "vmid", parse_word);
        let host_id = f.required(s, "host_id", parse_host_id);
        let storage = f.required(s, "storage", |raw| Ok(raw.to_string()));
        let domain_type = f.required(s, "domainType", DomainType::parse);
        let sd_uuid = f.value(s, "sdUUID", parse_path_component);
        let mnt_root = f.or(s, "mnt_root", DEFAULT_MNT_ROOT.into(), parse_absolute_path);
        let gateway = f.value(s, "gateway", parse_word);
        let bridge = f.or(s, "bridge", DEFAULT_BRIDGE.into(), parse_word);
        let network_test = f.or(s, "network_test", NetworkTest::Ping, NetworkTest::parse);
        let tcp_t_address = f.value(s, "tcp_t_address", parse_word);
        let tcp_t_port = f.value(s, "tcp_t_port", parse_port);
        let vm_disk_id = f.value(s, "vm_disk_id", parse_word);
        let conf = f.value(s, "conf", parse_absolute_path);
        let metadata_path = f.value(s, "metadata_path", parse_absolute_path);
        let hostname = f.value(s, "hostname", parse_hostname);
        let vm_command = f.value(s, "vm_command", parse_argv);
        let engine_memory_mib = f.or(
            s,
            "engine_memory_mib",
            DEFAULT_ENGINE_MEMORY_MIB,
            parse_memory_mib,
        );
        let storage_connect_command = f.value(s, "storage_connect_command", parse_argv);
        let watchdog_device = f.value(s, "watchdog_device", WatchdogSetting::parse);
        let watchdog_timeout_secs =
            f.value(s, "watchdog_timeout_secs", parse_watchdog_timeout_secs);
        let watchdog_none_accepted = f.or(s, WATCHDOG_NONE_ACK_KEY, false, parse_watchdog_none_ack);
        let vm_driver = f.or(s, "vm_driver", VmDriverKind::Process, VmDriverKind::parse);
        let vm_xml = f.value(s, "vm_xml", parse_absolute_path);
        let libvirt_uri = f.or(
            s,
            "libvirt_uri",
            DEFAULT_LIBVIRT_URI.into(),
            parse_libvirt_uri,
        );
        f.finish()?;
        let missing = "finish() fails when a required key is missing";
        let conf = HostedEngineConf {
            fqdn: fqdn.expect(missing),
            vmid,
            host_id: host_id.expect(missing),
            storage: storage.expect(missing),
            domain_type: domain_type.expect(missing),
            sd_uuid,
            mnt_root,
            gateway,
            bridge,
            network_test,
            tcp_t_address,
            tcp_t_port,
            vm_disk_id,
            conf,
            metadata_path,
            hostname,
            vm_command,
            engine_memory_mib,
            storage_connect_command,
            watchdog_device,
            watchdog_timeout_secs,
            watchdog_none_accepted,
            vm_driver,
            vm_xml,
            libvirt_uri,
            doc,
        };
        conf.validate()?;
        Ok(conf)
    }

    fn document(&self) -> &KvDocument {
        &self.doc
    }

    fn known_keys() -> Vec<(&'static str, &'static str)> {
        HE_CONF_KEYS.iter().map(|k| (FLAT_SECTION, *k)).collect()
    }

    fn validate(&self) -> Result<(), ConfigErrors> {
        let errors = self
            .violations()
            .into_iter()
            .map(|v| violation_error(v, &self.doc, FLAT_SECTION))
            .collect();
        errors_from(errors)
    }
}

/// A libvirt connection URI, e.g. `qemu:///system` or `qemu+ssh://host/system`.
fn parse_libvirt_uri(raw: &str) -> Result<String, String> {
    let word = parse_word(raw)?;
    match word.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() => Ok(word),
        _ => Err(format!(
            "{raw:?} is not a libvirt URI (e.g. {DEFAULT_LIBVIRT_URI})"
        )),
    }
}

/// `8-4-4-4-12` hexadecimal digits, as libvirt writes a domain UUID.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

pub(super) fn parse_host_id(raw: &str) -> Result<u16, String> {
    match raw.parse::<u16>() {
        Ok(id) if (1..=HOST_ID_MAX).contains(&id) => Ok(id),
        _ => Err(format!("{raw:?} is not a host id (1..={HOST_ID_MAX})")),
    }
}

impl HostedEngineConf {
    /// Whether the engine VM has been deployed (`vmid` is set).
    pub fn is_deployed(&self) -> bool {
        self.vmid.is_some()
    }

    /// Every broken rule between keys.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        self.check_network_test(&mut found);
        self.check_storage(&mut found);
        self.check_vm_driver(&mut found);
        self.check_watchdog(&mut found);
        found
    }

    /// What only the agent needs of this file, against its `timings` (`None`
    /// when agent.conf cannot be read: only what does not need them): a
    /// watchdog (or its absence, acknowledged), and a configured watchdog
    /// timeout within [`Timings::watchdog_range_ms`]. `hosted-engine` reads the
    /// file without these rules: a host whose agent refuses to start must
    /// still show the status and stop its VM.
    pub fn agent_errors(&self, timings: Option<&Timings>) -> Vec<ConfigError> {
        match (&self.watchdog_device, self.watchdog_timeout_secs, timings) {
            (None, _, _) => vec![self.watchdog_missing(timings)],
            (Some(WatchdogSetting::Device(_)), Some(secs), Some(timings)) => timings
                .watchdog_timeout_problem(u64::from(secs) * 1000)
                .map(|problem| {
                    let line = self.doc.line_of(FLAT_SECTION, "watchdog_timeout_secs");
                    ConfigError::new(ErrorKind::Value, self.path(), format!("{secs} s {problem}"))
                        .at_line(line)
                        .with_key("watchdog_timeout_secs")
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// No `watchdog_device`: why the agent needs one, what qualifies, and how
    /// to run without one on purpose.
    fn watchdog_missing(&self, timings: Option<&Timings>) -> ConfigError {
        let (softdog, timeout) = match timings.map(Timings::watchdog_range_ms) {
            Some((min, max)) => (
                format!("modprobe softdog soft_margin={}", max / 1000),
                format!(
                    "with a timeout of {}..{} s (what these timings allow; the agent sets it at \
                     start where the driver lets it)",
                    format_secs(min),
                    format_secs(max)
                ),
            ),
            None => (
                "modprobe softdog".to_owned(),
                "with a timeout the timings of agent.conf allow".to_owned(),
            ),
        };
        let message = format!(
            "required by the agent: a watchdog resets this host when its agent hangs while it \
             holds the engine VM lease; without one another host starts a second engine VM \
             beside the hung one's (split brain). Name a watchdog device, e.g. \
             watchdog_device=/dev/watchdog: a hardware watchdog (iTCO_wdt, ipmi_watchdog, ...) \
             or the kernel's softdog ({softdog}), {timeout}. Or run this host unfenced on \
             purpose: watchdog_device=none and {WATCHDOG_NONE_ACK_KEY}={WATCHDOG_NONE_ACK_VALUE}"
        );
        ConfigError::new(ErrorKind::Missing, self.path(), message).with_key("watchdog_device")
    }

    /// `none` only with the acknowledgement, the acknowledgement only with
    /// `none`, a timeout only with a device.
    fn check_watchdog(&self, found: &mut Vec<Violation>) {
        let device = self.watchdog_device.as_ref();
        let is_none = device == Some(&WatchdogSetting::None);
        let device_text = || match device {
            Some(setting) => format!("watchdog_device is {setting}"),
            None => "watchdog_device is not set".to_owned(),
        };
        if is_none && !self.watchdog_none_accepted {
            found.push(Violation::new(
                &["watchdog_device", WATCHDOG_NONE_ACK_KEY],
                format!(
                    "watchdog_device=none runs this host unfenced: an agent that hangs while it \
                     holds the engine VM lease is not reset, and another host starts a second \
                     engine VM beside its own (split brain). Name a watchdog device (a hardware \
                     watchdog, or the kernel's softdog), or accept that risk with \
                     {WATCHDOG_NONE_ACK_KEY}={WATCHDOG_NONE_ACK_VALUE}"
                ),
            ));
        }
        if self.watchdog_none_accepted && !is_none {
            found.push(Violation::new(
                &[WATCHDOG_NONE_ACK_KEY, "watchdog_device"],
                format!(
                    "{WATCHDOG_NONE_ACK_KEY} is only for watchdog_device=none ({})",
                    device_text()
                ),
            ));
        }
        if self.watchdog_timeout_secs.is_some()
            && !matches!(device, Some(WatchdogSetting::Device(_)))
        {
            found.push(Violation::new(
                &["watchdog_timeout_secs", "watchdog_device"],
                format!(
                    "watchdog_timeout_secs is the timeout of a watchdog device ({})",
                    device_text()
                ),
            ));
        }
    }

    fn check_vm_driver(&self, found: &mut Vec<Violation>) {
        let mut push =
            |keys: &[&'static str], message: String| found.push(Violation::new(keys, message));
        match self.vm_driver {
            VmDriverKind::Libvirt if !LIBVIRT_BUILT => push(
                &["vm_driver"],
                "vm_driver=libvirt: this build has no libvirt driver (build with \
                 `cargo build --features libvirt`), or use vm_driver=process"
                    .into(),
            ),
            VmDriverKind::Libvirt => {
                if self.vm_xml.is_none() {
                    push(
                        &["vm_driver", "vm_xml"],
                        "vm_driver=libvirt needs vm_xml (the engine VM's domain XML)".into(),
                    );
                }
                if !self.vmid.as_deref().is_some_and(is_uuid) {
                    push(
                        &["vm_driver", "vmid"],
                        format!(
                            "vm_driver=libvirt needs vmid to be the domain's UUID (is {:?})",
                            self.vmid.as_deref().unwrap_or("")
                        ),
                    );
                }
                if self.vm_command.is_some() {
                    push(
                        &["vm_driver", "vm_command"],
                        "vm_command is for vm_driver=process, not vm_driver=libvirt".into(),
                    );
                }
            }
            VmDriverKind::Process => {
                if self.vm_xml.is_some() {
                    push(
                        &["vm_xml", "vm_driver"],
                        "vm_xml is for vm_driver=libvirt (vm_driver is process)".into(),
                    );
                }
            }
        }
    }

    fn check_network_test(&self, found: &mut Vec<Violation>) {
        match self.network_test {
            NetworkTest::Tcp if self.tcp_t_address.is_none() || self.tcp_t_port.is_none() => {
                found.push(Violation::new(
                    &["network_test", "tcp_t_address", "tcp_t_port"],
                    "network_test=tcp needs both tcp_t_address and tcp_t_port (1..=65535)".into(),
                ));
            }
            NetworkTest::Ping if self.gateway.is_none() => found.push(Violation::new(
                &["network_test", "gateway"],
                "network_test=ping needs gateway (or choose network_test=dns, tcp or none)".into(),
            )),
            _ => {}
        }
    }

    fn check_storage(&self, found: &mut Vec<Violation>) {
        let kind = self.domain_type;
        let mut push =
            |keys: &[&'static str], message: String| found.push(Violation::new(keys, message));
        if kind != DomainType::Dir && self.sd_uuid.is_none() {
            push(
                &["sdUUID", "domainType"],
                format!("sdUUID is required when domainType is {kind}"),
            );
        }
        match kind {
            DomainType::Dir if !self.storage.starts_with('/') => push(
                &["storage", "domainType"],
                format!(
                    "storage ({:?}) must be an absolute directory path when domainType is dir",
                    self.storage
                ),
            ),
            DomainType::Nfs | DomainType::Nfs3 | DomainType::Nfs4 | DomainType::Glusterfs
                if !self.storage.contains(':') =>
            {
                push(
                    &["storage", "domainType"],
                    format!(
                        "storage ({:?}) must be server:/path when domainType is {kind}",
                        self.storage
                    ),
                )
            }
            DomainType::Posixfs
                if matches!(vdsm_mount_name(&self.storage).as_str(), "." | "..") =>
            {
                push(
                    &["storage", "domainType"],
                    format!("storage ({:?}) does not name a mount point", self.storage),
                )
            }
            _ => {}
        }
    }

    /// Where the storage is mounted, for the kinds that are mounted file systems
    /// (`None` for iSCSI and FC). The shell checks that this is still a mount of
    /// the right storage before it trusts the metadata path below it.
    pub fn storage_mount_point(&self) -> Option<PathBuf> {
        storage_mount_point(self.domain_type, &self.storage, &self.mnt_root)
    }

    /// The storage domain's directory, the one that holds `ha_agent/`.
    pub fn domain_dir(&self) -> Result<PathBuf, ConfigError> {
        if self.domain_type == DomainType::Dir {
            let storage = PathBuf::from(&self.storage);
            return Ok(match &self.sd_uuid {
                Some(sd_uuid) => storage.join(sd_uuid),
                None => storage,
            });
        }
        let Some(sd_uuid) = &self.sd_uuid else {
            let message = format!("sdUUID is required when domainType is {}", self.domain_type);
            return Err(ConfigError::relation(
                self.doc.path(),
                None,
                &["sdUUID", "domainType"],
                message,
            ));
        };
        match self.storage_mount_point() {
            Some(mount) => Ok(mount.join(sd_uuid)),
            None => Ok(self.mnt_root.join("blockSD").join(sd_uuid)),
        }
    }

    /// The metadata volume: `metadata_path` when set, otherwise
    /// `<domain dir>/ha_agent/hosted-engine.metadata` where the domain dir is
    /// - `dir`: `<storage>/<sdUUID>` (or `<storage>` without sdUUID);
    /// - nfs, nfs3, nfs4, posixfs: `<mnt_root>/<vdsm mount name>/<sdUUID>`;
    /// - glusterfs: `<mnt_root>/glusterSD/<vdsm mount name>/<sdUUID>`;
    /// - iscsi, fc: `<mnt_root>/blockSD/<sdUUID>`.
    pub fn metadata_volume_path(&self) -> Result<PathBuf, ConfigError> {
        if let Some(path) = &self.metadata_path {
            return Ok(path.clone());
        }
        Ok(self.domain_dir()?.join(HA_AGENT_DIR).join(METADATA_FILE))
    }

    /// The cluster's `fencing.conf`: beside the metadata volume, where every
    /// host reads it.
    pub fn fencing_conf_path(&self) -> Result<PathBuf, ConfigError> {
        Ok(super::fencing_conf_beside(&self.metadata_volume_path()?))
    }

    /// The path this configuration was read from.
    pub fn path(&self) -> &Path {
        self.doc.path()
    }
}

/// Where storage `storage` of kind `kind` is mounted under `mnt_root` (`None`
/// for iSCSI and FC, which are not mounted file systems); see
/// [`HostedEngineConf::metadata_volume_path`] for the layout.
pub fn storage_mount_point(kind: DomainType, storage: &str, mnt_root: &Path) -> Option<PathBuf> {
    let mount_name = || vdsm_mount_name(storage);
    match kind {
        DomainType::Dir => Some(PathBuf::from(storage)),
        DomainType::Nfs | DomainType::Nfs3 | DomainType::Nfs4 | DomainType::Posixfs => {
            Some(mnt_root.join(mount_name()))
        }
        DomainType::Glusterfs => Some(mnt_root.join("glusterSD").join(mount_name())),
        DomainType::Iscsi | DomainType::Fc => None,
    }
}

/// The directory name vdsm gives a mount of `remote` (its `transformPath`): `_`
/// doubled, then every `/` replaced by `_`, so `192.168.1.1:/exports/he` becomes
/// `192.168.1.1:_exports_he` and `srv:/my_share` becomes `srv:_my__share`. The
/// path part of `server:/path` is normalised first (repeated and trailing slashes
/// dropped), as vdsm normalises the remote path before naming the mount point.
///
/// The reference agent derives the name with `/` -> `_` only and falls back to
/// scanning the mount root, which finds the wrong domain when two mounts hold the
/// same sdUUID; with the exact name we need no scan.
pub fn vdsm_mount_name(remote: &str) -> String {
    normalize_remote(remote)
        .replace('_', "__")
        .replace('/', "_")
}

fn normalize_remote(remote: &str) -> String {
    let (host, path) = match remote.find('/') {
        Some(slash) if remote[..slash].ends_with(':') => remote.split_at(slash),
        Some(0) => ("", remote),
        _ => return remote.to_string(),
    };
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    format!("{host}/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_names_follow_vdsm() {
        assert_eq!(
            vdsm_mount_name("192.168.1.1:/exports/he"),
            "192.168.1.1:_exports_he"
        );
        assert_eq!(vdsm_mount_name("srv:/my_share"), "srv:_my__share");
        assert_eq!(vdsm_mount_name("srv:/exports//he/"), "srv:_exports_he");
        assert_eq!(vdsm_mount_name("[fd00::1]:/he"), "[fd00::1]:_he");
        assert_eq!(vdsm_mount_name("/dev/sdb1"), "_dev_sdb1");
        assert_eq!(vdsm_mount_name("cephmon:6789:/he"), "cephmon:6789:_he");
    }

    #[test]
    fn host_ids_are_bounded() {
        assert_eq!(parse_host_id("1"), Ok(1));
        assert_eq!(parse_host_id("2000"), Ok(2000));
        for raw in ["0", "2001", "-1", "abc", "65536"] {
            assert_eq!(
                parse_host_id(raw),
                Err(format!("{raw:?} is not a host id (1..=2000)")),
                "{raw}"
            );
        }
    }

    const VMID: &str = "vmid=3f1b4c2e-6a0d-4d7e-9a57-2b8c1f0e9d41\n";

    /// Loads a `dir` configuration plus `extra` lines (from line 6); the
    /// errors as text.
    fn load_with(extra: &str) -> Result<HostedEngineConf, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosted-engine.conf");
        let text = format!(
            "fqdn=engine\nhost_id=1\nstorage=/shared\ndomainType=dir\nnetwork_test=none\n{extra}"
        );
        std::fs::write(&path, text).unwrap();
        HostedEngineConf::load(&path).map_err(|e| {
            let dir = format!("{}/", dir.path().display());
            e.to_string().replace(&dir, "")
        })
    }

    #[test]
    fn the_vm_driver_keys() {
        let he = load_with(VMID).unwrap();
        assert!(he.vmid.as_deref().is_some_and(is_uuid));
        assert_eq!(he.vm_driver, VmDriverKind::Process);
        assert_eq!(he.libvirt_uri, DEFAULT_LIBVIRT_URI);
        assert_eq!(he.vm_xml, None);
        let e = load_with("vm_driver=kvm\n").unwrap_err();
        assert!(e.contains("hosted-engine.conf:6: vm_driver:"), "{e}");
        assert!(
            e.contains("is not an engine VM driver (process, libvirt)"),
            "{e}"
        );
        let e = load_with("vm_xml=/shared/engine.xml\n").unwrap_err();
        assert!(e.contains("hosted-engine.conf:6:"), "{e}");
        assert!(e.contains("vm_xml is for vm_driver=libvirt"), "{e}");
        let e = load_with("libvirt_uri=system\n").unwrap_err();
        assert!(e.contains("hosted-engine.conf:6: libvirt_uri:"), "{e}");
    }

    #[cfg(feature = "libvirt")]
    #[test]
    fn vm_driver_libvirt_needs_its_xml_and_a_uuid_vmid() {
        let he = load_with(&format!(
            "vm_driver=libvirt\nvm_xml=/shared/engine.xml\n{VMID}"
        ))
        .unwrap();
        assert_eq!(he.vm_driver, VmDriverKind::Libvirt);
        assert_eq!(he.vm_xml.as_deref(), Some(Path::new("/shared/engine.xml")));
        let e = load_with(&format!("vm_driver=libvirt\n{VMID}")).unwrap_err();
        assert!(e.contains("hosted-engine.conf:6:"), "{e}");
        assert!(e.contains("vm_driver=libvirt needs vm_xml"), "{e}");
        let e = load_with(&format!(
            "vm_driver=libvirt\nvm_xml=/x.xml\nvm_command=/bin/vm\n{VMID}"
        ))
        .unwrap_err();
        assert!(e.contains("vm_command is for vm_driver=process"), "{e}");
        let e = load_with("vm_driver=libvirt\nvm_xml=/x.xml\nvmid=he\n").unwrap_err();
        assert!(
            e.contains("vm_driver=libvirt needs vmid to be the domain's UUID"),
            "{e}"
        );
        let e = load_with("vm_driver=libvirt\nvm_xml=/x.xml\n").unwrap_err();
        assert!(e.contains("needs vmid"), "{e}");
    }

    #[cfg(not(feature = "libvirt"))]
    #[test]
    fn vm_driver_libvirt_without_the_feature_is_a_clear_error() {
        let e = load_with("vm_driver=libvirt\nvm_xml=/shared/engine.xml\n").unwrap_err();
        assert!(e.contains("hosted-engine.conf:6: vm_driver:"), "{e}");
        assert!(e.contains("this build has no libvirt driver"), "{e}");
        assert!(e.contains("--features libvirt"), "{e}");
    }

    #[test]
    fn uuids_and_libvirt_uris() {
        assert!(is_uuid("3f1b4c2e-6a0d-4d7e-9a57-2b8c1f0e9d41"));
        assert!(!is_uuid("3f1b4c2e6a0d4d7e9a572b8c1f0e9d41"));
        assert!(!is_uuid("he"));
        assert!(!is_uuid("3f1b4c2e-6a0d-4d7e-9a57-2b8c1f0e9d4g"));
        assert_eq!(
            parse_libvirt_uri("qemu:///system"),
            Ok("qemu:///system".into())
        );
        assert!(parse_libvirt_uri("qemu+ssh://h/system").is_ok());
        assert!(parse_libvirt_uri("system").is_err());
        assert!(parse_libvirt_uri("qemu:///sys tem").is_err());
    }

    #[test]
    fn domain_types_parse_their_own_names() {
        for kind in DomainType::ALL {
            assert_eq!(DomainType::parse(kind.as_str()), Ok(kind));
        }
        assert!(DomainType::parse("NFS").unwrap_err().contains("nfs, nfs3"));
    }
}
