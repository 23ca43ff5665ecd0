//! `hosted-engine --deploy` and `--deploy --add-host`: a host joins the
//! cluster without questions, every answer from an option or an answer file.
//!
//! The first host initialises the shared metadata volume, keeps the cluster's
//! configuration beside it (`ha_agent/hosted-engine.conf`, `ha_agent/agent.conf`
//! and, for libvirt, `ha_agent/engine-vm.xml`) and takes host id 1. Each further
//! host copies that configuration and takes the lowest free id. An id is
//! claimed by creating `ha_agent/host-ids/<id>` exclusively (`O_EXCL`: atomic on
//! a local file system and on NFS v3 and later), so two hosts added at once
//! never get the same id; `--clean-metadata` removes the claim with the slot.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod answers;
mod fencing;

use super::ctx::Ctx;
use super::failure::{EXIT_OK, Failure, FailureKind, Outcome};
use super::host_id::{HOST_IDS_DIR, claim, claim_lowest_free, claims, remove_claim, utc_now};
use super::shared_conf::{SHARED_AGENT_CONF, SHARED_HE_CONF, SHARED_VM_XML};
use super::shared_metadata::Shared;
use super::shared_storage::{on_storage, shared_write};
use super::spec::Invocation;
use crate::config::{
    AgentConf, ConfFile, DEFAULT_MNT_ROOT, DomainType, HA_AGENT_DIR, HE_CONF_KEYS, HOST_ID_MAX,
    HaConf, HostedEngineConf, KvDocument, Syntax, Timings, WatchdogSetting, read_bounded,
    storage_mount_point, write_atomic,
};
use crate::metadata::{HostId, LeaseKind};
use crate::shell::store::init_volume;
use answers::{AGENT_CONF_KEY, Answers, IDENTITY_KEYS, WATCHDOG_KEYS, broker_text, check_key};
use fencing::FencingPlan;

/// The agent's systemd unit.
const AGENT_UNIT: &str = "ovirt-ha-agent.service";
/// Bound on `systemctl enable --now`.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(90);

/// Everything a deploy writes, computed before anything is written.
struct Plan {
    add_host: bool,
    /// The storage domain's directory, as this host sees it.
    domain_dir: PathBuf,
    volume: PathBuf,
    /// First host: initialise the volume (wiping stale hosts with --force).
    init_volume: bool,
    /// First host: claims to remove (a stale deployment, with --force).
    stale_claims: Vec<PathBuf>,
    /// Host ids already taken (slots in use): an added host skips them.
    taken: Vec<HostId>,
    he_conf: HostedEngineConf,
    agent_text: String,
    broker_text: String,
    /// Libvirt: the operator's domain XML, copied to the storage (first host).
    vm_xml_source: Option<PathBuf>,
    hostname: String,
    enable_agent: bool,
    /// The cluster's fencing.conf and this host's fence passwords.
    fencing: FencingPlan,
}

impl Plan {
    fn ha_agent_dir(&self) -> PathBuf {
        self.domain_dir.join(HA_AGENT_DIR)
    }
}

/// `--deploy [--add-host] ...`.
pub fn deploy(ctx: &Ctx, inv: &Invocation) -> Outcome {
    let add_host = inv.flag("add-host");
    refuse_if_deployed(ctx)?;
    let mut answers = Answers::default();
    if let Some(file) = inv.value("answer-file") {
        answers.read_file(Path::new(file))?;
    }
    answers.read_options(inv);
    for key in answers.0.keys() {
        check_key(key).map_err(|why| Failure::new(FailureKind::Answers, why))?;
    }
    let timings = ctx.timings();
    let mut plan = if add_host {
        plan_add_host(ctx, &mut answers, &timings)?
    } else {
        plan_first_host(ctx, &mut answers, inv.flag("force"), &timings)?
    };
    // The cluster's timings, as this host will run them.
    let cluster_timings = AgentConf::parse(&ctx.paths.agent_conf, &plan.agent_text)
        .map(|agent| agent.timings)
        .unwrap_or(timings.clone());
    plan.fencing = FencingPlan::from_answers(
        &answers,
        add_host,
        &plan.volume,
        &ctx.paths,
        &cluster_timings,
    )?;
    if let Some(file) = inv.value("generate-answer") {
        write_private(Path::new(file), &answers.render(add_host))?;
    }
    if inv.flag("dry-run") {
        print!("{}", describe(&plan, None, ctx, &cluster_timings));
        return Ok(EXIT_OK);
    }
    let id = apply(ctx, &plan, &timings, &cluster_timings)?;
    print!("{}", describe(&plan, Some(id), ctx, &cluster_timings));
    Ok(EXIT_OK)
}

fn refuse_if_deployed(ctx: &Ctx) -> Result<(), Failure> {
    let path = &ctx.paths.he_conf;
    match HostedEngineConf::load(path) {
        Ok(conf) if conf.is_deployed() => Err(Failure::new(
            FailureKind::Refused,
            format!(
                "This host is already deployed: host {} of the engine VM {} ({}). To deploy it \
                 again, stop its agent, remove it from the cluster (hosted-engine \
                 --clean-metadata) and move {} away.",
                conf.host_id,
                conf.vmid.as_deref().unwrap_or_default(),
                path.display(),
                path.display()
            ),
        )),
        _ if path.exists() => Err(Failure::new(
            FailureKind::Refused,
            format!(
                "{} exists: move it away before deploying this host",
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// The first host's plan: every required answer present, the storage
/// reachable, the volume free of live hosts.
fn plan_first_host(
    ctx: &Ctx,
    answers: &mut Answers,
    force: bool,
    timings: &Timings,
) -> Result<Plan, Failure> {
    let missing: Vec<&str> = [("storage", "--storage"), ("fqdn", "--fqdn")]
        .into_iter()
        .filter(|(key, _)| answers.get(key).is_none())
        .map(|(_, option)| option)
        .collect();
    if !missing.is_empty() {
        return Err(Failure::new(
            FailureKind::Answers,
            format!(
                "missing answers: {} (as options or in --answer-file)",
                missing.join(", ")
            ),
        ));
    }
    if answers.get("domainType").is_none() {
        answers.set("domainType", "nfs");
    }
    if answers.get("vm_driver").is_none() && answers.get("vm_xml").is_some() {
        answers.set("vm_driver", "libvirt");
    }
    if answers.get("vm_xml").is_none() && answers.get("vm_command").is_none() {
        return Err(Failure::new(
            FailureKind::Answers,
            "missing answer: the engine VM, as --vm-xml=<libvirt domain XML> or \
             --vm-command=<command>",
        ));
    }
    answers.require_watchdog()?;
    for key in ["sdUUID", "vmid"] {
        if answers.get(key).is_none() {
            answers.set(key, new_uuid()?);
        }
    }
    if answers.get("hostname").is_none() {
        answers.set("hostname", system_hostname()?);
    }
    let domain_dir = locate_domain(answers)?;
    let vm_xml_source = match answers.get("vm_xml") {
        Some(source) => {
            let source = PathBuf::from(source);
            check_domain_xml(&source)?;
            Some(source)
        }
        None => None,
    };
    let shared_xml = domain_dir.join(HA_AGENT_DIR).join(SHARED_VM_XML);
    let mut he_doc = answers.he_document(&ctx.paths.he_conf);
    if vm_xml_source.is_some() {
        set(&mut he_doc, "vm_xml", &shared_xml.display().to_string())?;
    }
    set(&mut he_doc, "host_id", "1")?;
    let he_conf = validate_he(he_doc)?;
    let agent_text = match answers.get(AGENT_CONF_KEY) {
        Some(file) => read_agent_conf(Path::new(file))?,
        None => default_agent_conf(),
    };
    check_for_agent(ctx, &he_conf, &agent_text)?;
    let volume = he_conf
        .metadata_volume_path()
        .map_err(|e| Failure::config(e.to_string()))?;
    let (init_volume, stale_claims) = check_volume_free(&volume, &domain_dir, force, timings)?;
    Ok(Plan {
        add_host: false,
        domain_dir,
        volume,
        init_volume,
        stale_claims,
        taken: Vec::new(),
        hostname: answers.get("hostname").unwrap_or_default().to_owned(),
        broker_text: broker_text(answers, &ctx.paths.broker_conf)?,
        enable_agent: answers.enable_agent()?,
        he_conf,
        agent_text,
        vm_xml_source,
        fencing: FencingPlan::default(),
    })
}

/// The storage domain's directory from the answers, checking that the storage
/// is there (mounted) and refusing block storage.
fn locate_domain(answers: &Answers) -> Result<PathBuf, Failure> {
    let kind = DomainType::parse(answers.get("domainType").unwrap_or("nfs"))
        .map_err(|e| Failure::new(FailureKind::Answers, format!("domainType: {e}")))?;
    let storage = answers.get("storage").unwrap_or_default();
    let mnt_root = PathBuf::from(answers.get("mnt_root").unwrap_or(DEFAULT_MNT_ROOT));
    let Some(mount) = storage_mount_point(kind, storage, &mnt_root) else {
        return Err(Failure::new(
            FailureKind::Answers,
            format!(
                "domainType {kind}: deploy supports file storage (nfs, nfs3, nfs4, glusterfs, \
                 posixfs, dir); for block storage write hosted-engine.conf by hand"
            ),
        ));
    };
    let probe = mount.clone();
    if !on_storage(&mount, move || Ok(probe.is_dir()))? {
        return Err(Failure::new(
            FailureKind::Storage,
            format!(
                "the storage {storage} is not mounted at {}: mount it there first (the same \
                 on every host)",
                mount.display()
            ),
        ));
    }
    Ok(match answers.get("sdUUID") {
        Some(sd_uuid) => mount.join(sd_uuid),
        None => mount,
    })
}

/// Whether the volume may be (re)initialised: refuses live hosts always, and
/// hosts or claims of an earlier deployment unless `force`. Returns whether
/// to initialise and the stale claims to remove.
fn check_volume_free(
    volume: &Path,
    domain_dir: &Path,
    force: bool,
    timings: &Timings,
) -> Result<(bool, Vec<PathBuf>), Failure> {
    let claims = claims(&domain_dir.join(HA_AGENT_DIR).join(HOST_IDS_DIR))?;
    if volume.exists() {
        let shared = Shared::read(volume, timings)?;
        let live = shared.active_hosts();
        if !live.is_empty() {
            return Err(Failure::new(
                FailureKind::Refused,
                format!(
                    "the metadata volume {} holds live hosts ({}): this storage is in use by a \
                     running cluster. Add this host with --deploy --add-host, or stop those \
                     agents first.",
                    volume.display(),
                    join_ids(&live)
                ),
            ));
        }
        // A lease claimed or held by a host whose agent stopped cleanly (its
        // engine VM may still run: the lease stays with it) or that fell
        // silent less than lease-dead ago is never wiped, --force or not.
        let leased: Vec<HostId> = shared
            .area
            .hosts
            .iter()
            .filter(|(_, slot)| {
                slot.as_ref().is_ok_and(|slot| {
                    let leased = slot
                        .extra
                        .lease()
                        .ok()
                        .flatten()
                        .is_some_and(|l| l.kind != LeaseKind::None);
                    leased && (slot.record.stopped || shared.age_ms(slot) < timings.lease_dead_ms)
                })
            })
            .map(|(id, _)| *id)
            .collect();
        if !leased.is_empty() {
            return Err(Failure::new(
                FailureKind::Refused,
                format!(
                    "the metadata volume {} holds the engine VM lease of {} (its agent stopped \
                     or fell silent less than lease-dead ago): its engine VM may still run. \
                     Stop that engine VM, then remove the slot (hosted-engine --clean-metadata \
                     --host-id=N --force-cleanup on a deployed host) before deploying anew.",
                    volume.display(),
                    join_ids(&leased)
                ),
            ));
        }
        let stale: Vec<HostId> = shared.area.hosts.keys().copied().collect();
        if !stale.is_empty() && !force {
            return Err(Failure::new(
                FailureKind::Refused,
                format!(
                    "the metadata volume {} holds hosts of an earlier deployment ({}, none \
                     live): pass --force to wipe it",
                    volume.display(),
                    join_ids(&stale)
                ),
            ));
        }
    }
    if !claims.is_empty() && !force {
        let ids: Vec<HostId> = claims.iter().map(|(id, _)| *id).collect();
        return Err(Failure::new(
            FailureKind::Refused,
            format!(
                "{} holds host id claims ({}): hosts are deployed on this storage. Add this \
                 host with --deploy --add-host, or pass --force to start a new deployment",
                domain_dir.join(HA_AGENT_DIR).join(HOST_IDS_DIR).display(),
                join_ids(&ids)
            ),
        ));
    }
    Ok((true, claims.into_iter().map(|(_, path)| path).collect()))
}

/// An added host's plan: the cluster's shared configuration with this host's
/// answers on top; identity answers must agree with the cluster's.
fn plan_add_host(ctx: &Ctx, answers: &mut Answers, timings: &Timings) -> Result<Plan, Failure> {
    if answers.get("storage").is_none() {
        return Err(Failure::new(
            FailureKind::Answers,
            "missing answer: --storage (where the first host deployed the engine)",
        ));
    }
    answers.require_watchdog()?;
    let domain_dir = match answers.get("sdUUID") {
        Some(_) => locate_domain(answers)?,
        None => find_deployment(&locate_domain(answers)?)?,
    };
    let ha_agent = domain_dir.join(HA_AGENT_DIR);
    let shared = HostedEngineConf::load(&ha_agent.join(SHARED_HE_CONF)).map_err(|e| {
        Failure::new(
            FailureKind::Storage,
            format!("reading the cluster's configuration: {e}"),
        )
    })?;
    let mut doc = shared.document().clone();
    doc_set_path(&mut doc, &ctx.paths.he_conf);
    for key in WATCHDOG_KEYS {
        doc.remove("", key);
    }
    for key in IDENTITY_KEYS {
        if let (Some(ours), Some(theirs)) = (answers.get(key), doc.get("", key))
            && ours != theirs
        {
            return Err(Failure::new(
                FailureKind::Answers,
                format!(
                    "{key}={ours} differs from the cluster's {key}={theirs} ({}): an added \
                     host joins the deployment as it is",
                    ha_agent.join(SHARED_HE_CONF).display()
                ),
            ));
        }
    }
    if answers.get("hostname").is_none() {
        answers.set("hostname", system_hostname()?);
    }
    for (key, value) in &answers.0 {
        if HE_CONF_KEYS.contains(&key.as_str()) && !IDENTITY_KEYS.contains(&key.as_str()) {
            set(&mut doc, key, value)?;
        }
    }
    // The identity, for --generate-answer to repeat this deploy exactly.
    for key in IDENTITY_KEYS {
        if let Some(value) = doc.get("", key) {
            answers.set(key, value);
        }
    }
    let shared_xml = ha_agent.join(SHARED_VM_XML);
    if shared_xml.exists() && answers.get("vm_xml").is_none() {
        set(&mut doc, "vm_xml", &shared_xml.display().to_string())?;
    }
    // A placeholder until the id is claimed; the file is written with the claim.
    set(&mut doc, "host_id", &HOST_ID_MAX.to_string())?;
    let he_conf = validate_he(doc)?;
    let shared_agent = ha_agent.join(SHARED_AGENT_CONF);
    let probe = shared_agent.clone();
    let agent_text = match (
        on_storage(&shared_agent, move || Ok(read_bounded(&probe)))?,
        answers.get(AGENT_CONF_KEY),
    ) {
        (Ok(Some(_)), Some(_)) => {
            return Err(Failure::new(
                FailureKind::Answers,
                format!(
                    "--agent-conf is for the first host: an added host takes the cluster's \
                     {} (every host must run the same timings)",
                    shared_agent.display()
                ),
            ));
        }
        (Ok(Some(bytes)), None) => String::from_utf8_lossy(&bytes).into_owned(),
        // A cluster deployed without it (by hand, or by an older version): the
        // operator names the agent.conf the other hosts run.
        (Ok(None), Some(file)) => read_agent_conf(Path::new(file))?,
        (Ok(None), None) => {
            return Err(Failure::new(
                FailureKind::Answers,
                format!(
                    "{} is missing: pass --agent-conf=<the agent.conf the other hosts run> \
                     (every host must run the same timings; the defaults may differ from \
                     theirs)",
                    shared_agent.display()
                ),
            ));
        }
        (Err(e), _) => return Err(Failure::new(FailureKind::Storage, e.to_string())),
    };
    AgentConf::parse(&ctx.paths.agent_conf, &agent_text).map_err(|e| {
        Failure::new(
            FailureKind::Storage,
            format!("the cluster's agent.conf: {e}"),
        )
    })?;
    check_for_agent(ctx, &he_conf, &agent_text)?;
    let volume = he_conf
        .metadata_volume_path()
        .map_err(|e| Failure::config(e.to_string()))?;
    let taken = Shared::read(&volume, timings)?
        .area
        .hosts
        .keys()
        .copied()
        .collect();
    Ok(Plan {
        add_host: true,
        domain_dir,
        volume,
        init_volume: false,
        stale_claims: Vec::new(),
        taken,
        hostname: answers.get("hostname").unwrap_or_default().to_owned(),
        broker_text: broker_text(answers, &ctx.paths.broker_conf)?,
        enable_agent: answers.enable_agent()?,
        he_conf,
        agent_text,
        vm_xml_source: None,
        fencing: FencingPlan::default(),
    })
}

/// The one deployment under `mount` (a directory with `ha_agent/hosted-engine.conf`).
fn find_deployment(mount: &Path) -> Result<PathBuf, Failure> {
    let dir = mount.to_path_buf();
    let mut found: Vec<PathBuf> = on_storage(mount, move || {
        Ok(fs::read_dir(&dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|dir| dir.join(HA_AGENT_DIR).join(SHARED_HE_CONF).is_file())
            .collect())
    })?;
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Failure::new(
            FailureKind::Storage,
            format!(
                "no hosted-engine deployment under {}: was --deploy run on the first host, \
                 and is this the same storage?",
                mount.display()
            ),
        )),
        _ => Err(Failure::new(
            FailureKind::Answers,
            format!(
                "several deployments under {} ({}): choose one with --sd-uuid",
                mount.display(),
                found
                    .iter()
                    .filter_map(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Writes everything; returns the host id taken.
fn apply(
    ctx: &Ctx,
    plan: &Plan,
    timings: &Timings,
    cluster_timings: &Timings,
) -> Result<HostId, Failure> {
    let ha_agent = plan.ha_agent_dir();
    let ids_dir = ha_agent.join(HOST_IDS_DIR);
    on_storage(&ha_agent, {
        let ids_dir = ids_dir.clone();
        move || fs::create_dir_all(&ids_dir)
    })?;
    for claim in &plan.stale_claims {
        remove_claim(claim)?;
    }
    // The id first: of two first hosts deployed at once, one fails here,
    // before touching the volume.
    let id = if plan.add_host {
        claim_lowest_free(&ids_dir, &plan.taken, &plan.hostname)?
    } else {
        claim(&ids_dir, 1, &plan.hostname)?
            .then_some(1)
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::Refused,
                    format!(
                        "host id 1 was claimed by another deploy at the same time ({})",
                        ids_dir.join("1").display()
                    ),
                )
            })?
    };
    let written = init(plan, timings)
        .and_then(|()| plan.fencing.write(&plan.volume, &ctx.paths))
        .and_then(|()| write_files(ctx, plan, id));
    if let Err(failure) = written {
        // Give the id back: nothing uses it yet.
        let _ = remove_claim(&ids_dir.join(id.to_string()));
        return Err(failure);
    }
    plan.fencing
        .check_written(&plan.volume, &ctx.paths, cluster_timings)?;
    if plan.enable_agent {
        enable_agent().map_err(|why| {
            Failure::new(
                FailureKind::Agent,
                format!(
                    "host {id} is configured, but the agent could not be enabled: {why}. Start \
                     it with: systemctl enable --now {AGENT_UNIT}"
                ),
            )
        })?;
    }
    Ok(id)
}

/// First host: a zeroed metadata volume (checked free of live hosts when
/// planned).
fn init(plan: &Plan, timings: &Timings) -> Result<(), Failure> {
    if !plan.init_volume {
        return Ok(());
    }
    init_volume(
        &plan.volume,
        true,
        Duration::from_millis(timings.storage_timeout_ms.max(10_000)),
    )
    .map_err(|e| {
        Failure::new(
            FailureKind::Storage,
            format!("initialising the metadata volume: {e}"),
        )
    })
}

fn write_files(ctx: &Ctx, plan: &Plan, id: HostId) -> Result<(), Failure> {
    let ha_agent = plan.ha_agent_dir();
    let mut he_doc = plan.he_conf.document().clone();
    set(&mut he_doc, "host_id", &id.to_string())?;
    let he_text = format!(
        "# Written by hosted-engine --deploy{} on {}.\n{}",
        if plan.add_host { " --add-host" } else { "" },
        utc_now(),
        he_doc.render()
    );
    if !plan.add_host {
        if let Some(source) = &plan.vm_xml_source {
            let xml = fs::read(source).map_err(|e| {
                Failure::new(FailureKind::Answers, format!("{}: {e}", source.display()))
            })?;
            shared_write(&ha_agent.join(SHARED_VM_XML), xml)?;
        }
        shared_write(
            &ha_agent.join(SHARED_AGENT_CONF),
            plan.agent_text.clone().into_bytes(),
        )?;
        // The shared copy is written last: an added host finds the deployment
        // only once everything it copies is in place.
        shared_write(&ha_agent.join(SHARED_HE_CONF), he_text.clone().into_bytes())?;
    }
    let ha_text = "local_maintenance=False\nlocal_maintenance_manual=False\n";
    let paths = &ctx.paths;
    for (path, text, mode) in [
        (&paths.agent_conf, plan.agent_text.as_str(), 0o644),
        (&paths.ha_conf, ha_text, 0o644),
        // 0600: it may hold the SMTP password, which the agent refuses to use
        // when anyone else (its group included) can read it.
        (&paths.broker_conf, plan.broker_text.as_str(), 0o600),
        // Last: the host counts as deployed once this exists.
        (&paths.he_conf, he_text.as_str(), 0o644),
    ] {
        local_write(path, text, mode)?;
    }
    HaConf::load(&paths.ha_conf).map_err(|e| Failure::config(e.to_string()))?;
    Ok(())
}

fn local_write(path: &Path, text: &str, mode: u32) -> Result<(), Failure> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| Failure::new(FailureKind::Io, format!("{}: {e}", dir.display())))?;
    }
    write_atomic(path, text.as_bytes(), mode)
        .map_err(|e| Failure::new(FailureKind::Io, e.to_string()))
}

/// Writes `text` to `path` readable by its owner only (it may name servers and
/// mail credentials).
fn write_private(path: &Path, text: &str) -> Result<(), Failure> {
    write_atomic(path, text.as_bytes(), 0o600)
        .map_err(|e| Failure::new(FailureKind::Io, format!("--generate-answer: {e}")))
}

fn set(doc: &mut KvDocument, key: &str, value: &str) -> Result<(), Failure> {
    doc.set("", key, value)
        .map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))
}

/// `doc` re-labelled as `path` (its errors then name the file being written).
fn doc_set_path(doc: &mut KvDocument, path: &Path) {
    let text = doc.render();
    if let Ok(relabelled) = KvDocument::parse(path, Syntax::Flat, &text) {
        *doc = relabelled;
    }
}

fn validate_he(doc: KvDocument) -> Result<HostedEngineConf, Failure> {
    HostedEngineConf::from_document(doc).map_err(|e| {
        Failure::new(
            FailureKind::Answers,
            format!("the answers do not make a valid hosted-engine.conf:\n{e}"),
        )
    })
}

/// What the agent will refuse of `he` with the cluster's timings (a watchdog
/// timeout they do not allow), refused now instead.
fn check_for_agent(ctx: &Ctx, he: &HostedEngineConf, agent_text: &str) -> Result<(), Failure> {
    let agent = AgentConf::parse(&ctx.paths.agent_conf, agent_text)
        .map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))?;
    let errors = he.agent_errors(Some(&agent.timings));
    if errors.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Err(Failure::new(
        FailureKind::Answers,
        format!(
            "the answers make a hosted-engine.conf the agent refuses:\n{}",
            lines.join("\n")
        ),
    ))
}

/// The operator's agent.conf, checked.
fn read_agent_conf(path: &Path) -> Result<String, Failure> {
    let bytes = read_bounded(path)
        .map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))?
        .ok_or_else(|| {
            Failure::new(
                FailureKind::Answers,
                format!("{}: no such agent.conf", path.display()),
            )
        })?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    AgentConf::parse(path, &text).map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))?;
    Ok(text)
}

fn default_agent_conf() -> String {
    "# The cluster's timings and score penalties: every key has a default\n\
     # (ovirt-ha-agent(8), docs/agent.md). Every host must run the same [timing];\n\
     # hosted-engine --deploy --add-host copies this file from the storage.\n\
     [timing]\n"
        .to_owned()
}

/// A libvirt domain XML, roughly: readable and a `<domain` element.
fn check_domain_xml(path: &Path) -> Result<(), Failure> {
    let bytes = read_bounded(path)
        .map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))?
        .ok_or_else(|| {
            Failure::new(
                FailureKind::Answers,
                format!("{}: no such file", path.display()),
            )
        })?;
    if !String::from_utf8_lossy(&bytes).contains("<domain") {
        return Err(Failure::new(
            FailureKind::Answers,
            format!("{}: not a libvirt domain XML (no <domain>)", path.display()),
        ));
    }
    Ok(())
}

/// `systemctl enable --now` of the agent, bounded; its words on failure.
fn enable_agent() -> Result<(), String> {
    let argv = ["systemctl", "enable", "--now", AGENT_UNIT].map(String::from);
    crate::shell::storage::run_checked(&argv, SYSTEMCTL_TIMEOUT).map(drop)
}

/// A random (version 4) UUID, from `/dev/urandom` (there even in a chroot
/// without `/proc`).
fn new_uuid() -> Result<String, Failure> {
    use std::io::Read as _;
    let mut b = [0u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| {
            Failure::new(
                FailureKind::Io,
                format!("generating a UUID from /dev/urandom: {e}"),
            )
        })?;
    Ok(format_uuid_v4(b))
}

/// `bytes` as a version 4, variant 1 UUID.
fn format_uuid_v4(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn system_hostname() -> Result<String, Failure> {
    crate::shell::system::hostname().map_err(|e| {
        Failure::new(
            FailureKind::Io,
            format!("reading the host name: {e} (pass --hostname)"),
        )
    })
}

fn join_ids(ids: &[HostId]) -> String {
    ids.iter()
        .map(|id| format!("host {id}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What was (or, for `--dry-run`, would be) done.
fn describe(plan: &Plan, id: Option<HostId>, ctx: &Ctx, timings: &Timings) -> String {
    let he = &plan.he_conf;
    let mut text = String::new();
    let (verb, id_text) = match id {
        Some(id) => ("Deployed", id.to_string()),
        None if plan.add_host => ("Would deploy (dry run)", "the lowest free id".to_owned()),
        None => ("Would deploy (dry run)", "1".to_owned()),
    };
    text.push_str(&format!(
        "{verb} {} as host {id_text} of the engine VM {}\n",
        plan.hostname,
        he.vmid.as_deref().unwrap_or_default()
    ));
    text.push_str(&format!(
        "  storage:  {} ({})\n",
        he.storage, he.domain_type
    ));
    text.push_str(&format!("  domain:   {}\n", plan.domain_dir.display()));
    let volume_note = if plan.init_volume {
        " (initialised)"
    } else {
        ""
    };
    text.push_str(&format!(
        "  metadata: {}{volume_note}\n",
        plan.volume.display()
    ));
    text.push_str(&format!("  engine:   {} ({})\n", he.fqdn, he.vm_driver));
    let watchdog = match (&he.watchdog_device, he.watchdog_timeout_secs) {
        (Some(WatchdogSetting::Device(path)), Some(secs)) => {
            format!("{} (timeout {secs} s)", path.display())
        }
        (Some(WatchdogSetting::Device(path)), None) => path.display().to_string(),
        _ => "none: this host is unfenced (accepted)".to_owned(),
    };
    text.push_str(&format!("  watchdog: {watchdog}\n"));
    text.push_str(&format!(
        "  fencing:  {}\n",
        plan.fencing.describe(&ctx.paths, timings)
    ));
    text.push_str(&format!(
        "  agent:    {}\n",
        if plan.enable_agent {
            format!("systemctl enable --now {AGENT_UNIT}")
        } else {
            "not enabled (--no-enable-agent)".to_owned()
        }
    ));
    if id.is_some() && !plan.add_host {
        text.push_str(&format!(
            "Next, on every other host (the storage mounted at the same place):\n  \
             hosted-engine --deploy --add-host --storage={} --domain-type={}\n",
            he.storage, he.domain_type
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_uuids_are_version_4() {
        assert_eq!(
            format_uuid_v4([0xff; 16]),
            "ffffffff-ffff-4fff-bfff-ffffffffffff"
        );
        assert_eq!(
            format_uuid_v4([0; 16]),
            "00000000-0000-4000-8000-000000000000"
        );
        let id = new_uuid().unwrap();
        assert!(crate::config::is_uuid(&id), "{id}");
        assert_ne!(id, new_uuid().unwrap());
    }
}
