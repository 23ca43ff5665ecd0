//! Configuration keys (`--get-shared-config`, `--set-shared-config`) and the
//! shared metadata's housekeeping (`--reinitialize-lockspace`,
//! `--clean-metadata`).

use std::path::{Path, PathBuf};

use super::ctx::{Ctx, warn};
use super::failure::{EXIT_OK, Failure, FailureKind, Outcome};
use super::host_id;
use super::shared_conf;
use super::shared_metadata::{Shared, read_shared};
use super::spec::Invocation;
use super::view;
use crate::config::{
    BrokerConf, ConfFile, ErrorKind, HaConf, HostedEngineConf, KvDocument, Syntax, Timings,
    split_dotted_key,
};
use crate::metadata::{Extra, HostId, HostSlot, LeaseKind, SLOT_SIZE, encode_host_slot};

/// The configuration files `--type` names, in the reference's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConfType {
    HeLocal,
    HeShared,
    Ha,
    Broker,
}

const CONF_TYPES: [ConfType; 4] = [
    ConfType::HeLocal,
    ConfType::HeShared,
    ConfType::Ha,
    ConfType::Broker,
];

impl ConfType {
    fn name(self) -> &'static str {
        match self {
            ConfType::HeLocal => "he_local",
            ConfType::HeShared => "he_shared",
            ConfType::Ha => "ha",
            ConfType::Broker => "broker",
        }
    }

    fn parse(text: &str) -> Result<ConfType, Failure> {
        CONF_TYPES
            .into_iter()
            .find(|t| t.name() == text)
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::Usage,
                    format!(
                        "Invalid value '{text}' for --type (he_local, he_shared, ha or broker)"
                    ),
                )
            })
    }

    fn syntax(self) -> Syntax {
        match self {
            ConfType::Broker => Syntax::Ini,
            _ => Syntax::Flat,
        }
    }

    /// The file: he_shared is the copy of hosted-engine.conf kept beside the
    /// metadata volume on the shared storage.
    fn path(self, ctx: &Ctx, he: &HostedEngineConf) -> Result<PathBuf, Failure> {
        Ok(match self {
            ConfType::HeLocal => ctx.paths.he_conf.clone(),
            ConfType::HeShared => {
                let volume = he
                    .metadata_volume_path()
                    .map_err(|e| Failure::config(e.to_string()))?;
                shared_conf::he_conf_beside(&volume)
            }
            ConfType::Ha => ctx.paths.ha_conf.clone(),
            ConfType::Broker => ctx.paths.broker_conf.clone(),
        })
    }

    /// The file as a document; `None` when it does not exist.
    fn document(self, ctx: &Ctx, he: &HostedEngineConf) -> Result<Option<KvDocument>, Failure> {
        let path = self.path(ctx, he)?;
        let loaded = match self {
            ConfType::HeLocal | ConfType::HeShared => {
                HostedEngineConf::load(&path).map(|c| c.document().clone())
            }
            ConfType::Ha => HaConf::load(&path).map(|c| c.document().clone()),
            ConfType::Broker => BrokerConf::load(&path).map(|c| c.document().clone()),
        };
        match loaded {
            Ok(doc) => Ok(Some(doc)),
            Err(e) if e.has_kind(ErrorKind::NotFound) => Ok(None),
            Err(e) => Err(Failure::config(e.to_string())),
        }
    }

    /// Sets `section`/`key` in the file; the result must still be a valid
    /// configuration, else nothing is written.
    fn set(
        self,
        ctx: &Ctx,
        he: &HostedEngineConf,
        section: &str,
        key: &str,
        value: &str,
    ) -> Result<(), Failure> {
        let path = self.path(ctx, he)?;
        // ha.conf and broker.conf live in the state directory, which the agent
        // creates when it first starts; a key set before that creates it too.
        // (Never a directory on the shared storage: an unmounted storage must
        // fail, not be stood in for by a local directory.)
        if matches!(self, ConfType::Ha | ConfType::Broker)
            && let Some(dir) = path.parent()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| Failure::new(FailureKind::Io, format!("{}: {e}", dir.display())))?;
        }
        let change = |doc: &mut KvDocument| doc.set(section, key, value);
        let result = match self {
            ConfType::HeLocal | ConfType::HeShared => {
                HostedEngineConf::edit(&path, change).map(drop)
            }
            ConfType::Ha => HaConf::edit(&path, change).map(drop),
            ConfType::Broker => BrokerConf::edit(&path, change).map(drop),
        };
        result.map_err(|e| Failure::new(FailureKind::Refused, e.to_string()))
    }
}

/// Where `name` is in a document of `syntax`: INI names are `section.key`; a
/// bare name matches the key in any section.
fn lookup<'a>(doc: &'a KvDocument, name: &str) -> Vec<(String, &'a str)> {
    doc.entries()
        .filter(|e| match doc.syntax() {
            Syntax::Flat => e.key == name,
            Syntax::Ini => {
                let (section, key) = split_dotted_key(name);
                (name.contains('.') && e.section == section && e.key.eq_ignore_ascii_case(key))
                    || (!name.contains('.') && e.key.eq_ignore_ascii_case(name))
            }
        })
        .map(|e| (e.section.to_owned(), e.value))
        .collect()
}

fn types_of(inv: &Invocation) -> Result<Vec<ConfType>, Failure> {
    match inv.value("type") {
        Some(t) => Ok(vec![ConfType::parse(t)?]),
        None => Ok(CONF_TYPES.to_vec()),
    }
}

/// `--get-shared-config <key> [--type=<type>]`.
pub fn get_shared_config(ctx: &Ctx, inv: &Invocation) -> Outcome {
    let he = ctx.deployed_conf()?;
    let key = &inv.positionals[0];
    let mut out = String::new();
    for t in types_of(inv)? {
        let Some(doc) = t.document(ctx, &he)? else {
            continue;
        };
        for (_, value) in lookup(&doc, key) {
            out.push_str(&format!("{key} : {value}, type : {}\n", t.name()));
        }
    }
    if out.is_empty() {
        return Err(Failure::new(
            FailureKind::NotFound,
            format!("Key {key} not found in {}", type_list(inv)),
        ));
    }
    Ok(crate::cli::answer("hosted-engine", &out, EXIT_OK))
}

fn type_list(inv: &Invocation) -> String {
    match inv.value("type") {
        Some(t) => format!("type {t}"),
        None => "any type (he_local, he_shared, ha, broker)".to_owned(),
    }
}

/// The keys whose value is a secret: never taken from the command line.
const SECRET_KEYS: &[&str] = &["smtp-password"];
/// The most bytes of a secret read from stdin.
const SECRET_MAX_BYTES: u64 = 4096;

/// A secret's value: `value` must be `-`, and the secret is the first line
/// of stdin (every user can read a command line in `ps`).
fn secret_value(name: &str, value: &str) -> Result<String, Failure> {
    use std::io::Read as _;
    if value != "-" {
        return Err(Failure::new(
            FailureKind::Refused,
            format!(
                "{name} is a secret and is not taken from the command line, where every user \
                 can read it (ps): give - as the value and the secret on stdin, e.g. \
                 hosted-engine --set-shared-config {name} - --type=broker < file"
            ),
        ));
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(SECRET_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::new(FailureKind::Io, format!("reading {name} from stdin: {e}")))?;
    if bytes.len() as u64 > SECRET_MAX_BYTES {
        return Err(Failure::new(
            FailureKind::Refused,
            format!("{name} on stdin is longer than {SECRET_MAX_BYTES} bytes"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::new(
            FailureKind::Refused,
            format!("{name} on stdin is not UTF-8"),
        )
    })?;
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(Failure::new(
            FailureKind::Refused,
            format!("{name}: nothing on stdin (the secret is its first line)"),
        ));
    }
    Ok(line.to_owned())
}

/// Makes the file holding a secret readable by its owner only (the agent
/// refuses one that others can read), saying so when it changes the mode.
fn keep_secret(path: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::PermissionsExt as _;
    let io = |e: std::io::Error| Failure::new(FailureKind::Io, format!("{}: {e}", path.display()));
    let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        let private = mode & 0o700;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(private)).map_err(io)?;
        warn(&format!(
            "{} holds a secret now: its mode changed from {mode:04o} to {private:04o}",
            path.display()
        ));
    }
    Ok(())
}

/// `--set-shared-config <key> <value> [--type=<type>]`.
pub fn set_shared_config(ctx: &Ctx, inv: &Invocation) -> Outcome {
    let he = ctx.deployed_conf()?;
    let name = &inv.positionals[0];
    let secret = SECRET_KEYS.contains(&name.rsplit('.').next().unwrap_or(name));
    let value = match secret {
        true => secret_value(name, &inv.positionals[1])?,
        false => inv.positionals[1].clone(),
    };
    let value = &value;
    let mut found = Vec::new();
    for t in types_of(inv)? {
        if let Some(doc) = t.document(ctx, &he)? {
            for (section, _) in lookup(&doc, name) {
                found.push((t, section));
            }
        }
    }
    let (t, section) = match (found.as_slice(), inv.value("type")) {
        ([one], _) => one.clone(),
        ([], Some(t)) => {
            // A new key in the file --type names.
            let t = ConfType::parse(t)?;
            let section = match t.syntax() {
                Syntax::Flat => String::new(),
                Syntax::Ini => split_dotted_key(name).0.to_owned(),
            };
            (t, section)
        }
        ([], None) => {
            return Err(Failure::new(
                FailureKind::NotFound,
                format!("Key {name} not found in any type: pass --type to add it"),
            ));
        }
        (many, _) => {
            let names: Vec<String> = many
                .iter()
                .map(|(t, s)| {
                    if s.is_empty() {
                        t.name().to_owned()
                    } else {
                        format!("{} [{s}]", t.name())
                    }
                })
                .collect();
            return Err(Failure::new(
                FailureKind::Ambiguous,
                format!(
                    "Duplicate key {name} ({}): pass --type (and section.key for broker)",
                    names.join(", ")
                ),
            ));
        }
    };
    let key = match t.syntax() {
        Syntax::Flat => name.as_str(),
        Syntax::Ini if name.contains('.') => split_dotted_key(name).1,
        Syntax::Ini => name.as_str(),
    };
    t.set(ctx, &he, &section, key, value)?;
    if secret {
        keep_secret(&t.path(ctx, &he)?)?;
    }
    Ok(EXIT_OK)
}

/// `--reinitialize-lockspace [--force]`: every published lease claim becomes
/// `none`; epochs are kept (they never go back).
pub fn reinitialize_lockspace(ctx: &Ctx, inv: &Invocation) -> Outcome {
    let mut shared = read_shared(ctx)?;
    if !inv.flag("force") {
        let global = shared.area.global_maintenance().unwrap_or(false);
        if !global {
            return Err(Failure::new(
                FailureKind::Refused,
                "Lockfile reset can be performed in global maintenance mode only.",
            ));
        }
        let active = shared.active_hosts();
        if ctx.agent_may_run() || !active.is_empty() {
            return Err(Failure::new(
                FailureKind::Refused,
                "Lockfile reset cannot be performed with an active agent.",
            ));
        }
    }
    let mut rewritten = Vec::new();
    for (&id, slot) in &shared.area.hosts {
        let Ok(slot) = slot else { continue };
        let Ok(Some(lease)) = slot.extra.lease() else {
            continue;
        };
        if lease.kind == LeaseKind::None {
            continue;
        }
        let mut extra = Extra::new();
        for (key, value) in slot.extra.entries() {
            if key == crate::metadata::LEASE_KEY {
                extra.push(key, LeaseKind::None.as_str());
            } else {
                extra.push(key, value);
            }
        }
        let bytes = encode_host_slot(id, &slot.record, &extra)
            .map_err(|e| Failure::new(FailureKind::Encode, format!("host {id}: {e}")))?;
        rewritten.push((id, bytes));
    }
    for (id, bytes) in rewritten {
        shared.write_slot(id, &bytes)?;
        warn(&format!("host {id}: lease claim cleared"));
    }
    Ok(EXIT_OK)
}

/// `--clean-metadata [--host-id=<id>] [--force-cleanup]`: zeroes one host's
/// slot, once its host looks gone: its agent stopped cleanly or its data is
/// stale, and, when the slot claims, holds or fences the engine VM lease,
/// silent for lease-dead (see [`check_lease_silence`]). `--force-cleanup`
/// skips both checks (docs/operations.md 7.1).
pub fn clean_metadata(ctx: &Ctx, inv: &Invocation) -> Outcome {
    let he = ctx.deployed_conf()?;
    let id: HostId = match inv.value("host-id") {
        None => he.host_id,
        Some(text) => match text.parse::<HostId>() {
            Ok(id) if (1..=crate::config::HOST_ID_MAX).contains(&id) => id,
            _ => {
                return Err(Failure::new(
                    FailureKind::Usage,
                    format!(
                        "Invalid value '{text}' for --host-id (1 to {})",
                        crate::config::HOST_ID_MAX
                    ),
                ));
            }
        },
    };
    if id == he.host_id && ctx.agent_may_run() {
        return Err(Failure::new(
            FailureKind::Refused,
            "ovirt-ha-agent is running on this host: stop it before cleaning its metadata",
        ));
    }
    let mut shared = read_shared(ctx)?;
    // The id is free again for `--deploy --add-host` once the slot is gone.
    let volume = he
        .metadata_volume_path()
        .map_err(|e| Failure::config(e.to_string()))?;
    match shared.area.hosts.get(&id) {
        None => return clean_id_claim(inv, &volume, id),
        Some(_) if inv.flag("force-cleanup") => {}
        Some(Err(e)) => {
            warn(&format!(
                "host {id}'s slot is unreadable ({e}): cleaning it"
            ));
        }
        Some(Ok(slot)) => {
            check_lease_silence(ctx, &shared, id, slot)?;
            if !slot.record.stopped && shared.active_hosts().contains(&id) {
                return Err(Failure::new(
                    FailureKind::Refused,
                    format!(
                        "Host {id} ({}) looks active: its agent did not stop cleanly and its \
                         data is fresh. Stop its agent first, or pass --force-cleanup.",
                        slot.record.hostname
                    ),
                ));
            }
        }
    }
    let zero = [0u8; SLOT_SIZE];
    shared.write_slot(id, &zero)?;
    host_id::release_claim(&volume, id)?;
    Ok(EXIT_OK)
}

/// Host `id` has no slot: nothing to clean, but maybe a deployed host whose
/// agent has not run yet, whose id is given back only on purpose.
fn clean_id_claim(inv: &Invocation, volume: &Path, id: HostId) -> Outcome {
    let Some(claim) = host_id::claim_text(volume, id)? else {
        warn(&format!("host {id} has no metadata: nothing to clean"));
        return Ok(EXIT_OK);
    };
    let holder = claim
        .lines()
        .find_map(|l| l.strip_prefix("hostname="))
        .unwrap_or("unknown");
    if !inv.flag("force-cleanup") {
        return Err(Failure::new(
            FailureKind::Refused,
            format!(
                "Host {id} has no metadata yet, but its id is claimed by {holder} \
                 (deployed, its agent never published). Pass --force-cleanup to give \
                 the id back; that host must then not start its agent."
            ),
        ));
    }
    warn(&format!(
        "host {id} has no metadata: only its id claim (by {holder}) is removed"
    ));
    host_id::release_claim(volume, id)?;
    Ok(EXIT_OK)
}

/// The lease-dead rule: a slot that claims, holds or fences the engine VM
/// lease (or whose lease state does not parse) is cleaned only once its host
/// has been silent for lease-dead. A holder runs its engine VM until
/// lease-fail plus its power-off after its last renewal, and the agents
/// expire its lease only after lease-dead of silence: its slot gone earlier,
/// another host could claim while that engine still runs. Silence as the
/// local agent sees it (its heartbeat unchanged on the agent's clock), or,
/// the agent down, by the wall-clock time the slot publishes.
fn check_lease_silence(
    ctx: &Ctx,
    shared: &Shared,
    id: HostId,
    slot: &HostSlot,
) -> Result<(), Failure> {
    let lease = match slot.extra.lease() {
        Ok(Some(lease)) if lease.kind == LeaseKind::None => return Ok(()),
        Ok(None) => return Ok(()),
        Ok(Some(lease)) => format!("{} (epoch {})", lease.kind.as_str(), lease.epoch),
        Err(_) => "a lease state that does not parse".to_owned(),
    };
    let dead_ms = lease_dead_ms(&ctx.timings(), slot);
    let (silent_ms, judged) = silence(ctx, shared, id, slot);
    if silent_ms.is_some_and(|s| s >= dead_ms) {
        return Ok(());
    }
    let secs = |ms: u64| ms.div_ceil(1000);
    let forced = "that host (or its engine VM) is powered off, pass --force-cleanup.";
    let (silent, advice) = match silent_ms {
        Some(s) => (
            format!("has been silent for {} s ({judged})", s / 1000),
            format!("Wait {} s more, or, if {forced}", secs(dead_ms - s)),
        ),
        None => (
            format!("its silence cannot be told ({judged})"),
            format!("If {forced}"),
        ),
    };
    Err(Failure::new(
        FailureKind::Refused,
        format!(
            "Host {id} ({}) publishes the engine VM lease as {lease} and {silent}: by the \
             lease-dead rule its slot is cleaned only after {} s of silence (lease-dead-secs, \
             the longer of this host's and its own): until then its engine VM may still run. \
             {advice}",
            slot.record.hostname,
            secs(dead_ms)
        ),
    ))
}

/// The lease-dead that applies to `slot`'s host: the longer of ours and the
/// one its `lease-timings` publish (`<fail>/<dead>/<settle>/<window>` ms),
/// as the agents take it.
fn lease_dead_ms(timings: &Timings, slot: &HostSlot) -> u64 {
    let published = slot
        .extra
        .get(crate::core::agent::LEASE_TIMINGS_KEY)
        .and_then(crate::core::agent::published_dead_ms);
    published.map_or(timings.lease_dead_ms, |p| p.max(timings.lease_dead_ms))
}

/// How long host `id` has been silent, and by whose judgement: the local
/// agent's, when it answers and knows the host, else the wall-clock time
/// the slot publishes; `None` when neither can tell.
fn silence(ctx: &Ctx, shared: &Shared, id: HostId, slot: &HostSlot) -> (Option<u64>, String) {
    match view::agent_status(&ctx.socket(), view::AGENT_TIMEOUT) {
        Ok(status) => {
            if let Some(silent) = status
                .hosts
                .iter()
                .find(|h| h.host_id == id)
                .and_then(|h| h.silent_ms)
            {
                return (Some(silent), "as the local agent sees it".to_owned());
            }
        }
        Err(e) => {
            if slot.extra.wall_clock().is_none() {
                return (
                    None,
                    format!(
                        "the local agent does not answer ({e}) and the slot carries no \
                         wall-clock time"
                    ),
                );
            }
        }
    }
    match slot.extra.wall_clock() {
        Some(_) => (
            Some(shared.age_ms(slot)),
            "by the wall-clock time it published".to_owned(),
        ),
        None => (
            None,
            "the local agent does not know it and the slot carries no wall-clock time".to_owned(),
        ),
    }
}
