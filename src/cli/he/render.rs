//! `--vm-status` renderings: the reference's text and JSON
//! (`docs/compat.md` section 7, byte for byte), our table, and
//! `--explain`.

use std::fmt::Write as _;

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Map, Value, json};

use super::hostfacts::{
    LeaseFacts, Liveness, Renewer, TIMINGS_UNITS, extra_value, other_timings, shown, timings_note,
};
use super::pyjson;
use super::view::{ClusterView, Source};
use crate::core::agent::WATCHDOG_KEY;
use crate::metadata::LeaseKind;
use crate::proto::{EngineStatusView, HostStatus};

const GLOBAL_BANNER: &str = "!! Cluster is in GLOBAL MAINTENANCE mode !!";
/// How `--format=table` is drawn: its width (and of the notes below it), and
/// whether with box-drawing characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableLayout {
    pub width: u16,
    pub unicode: bool,
}

impl TableLayout {
    /// Not on a terminal (a pipe, a file, a script): 80 columns of ASCII.
    pub const PLAIN: TableLayout = TableLayout {
        width: 80,
        unicode: false,
    };
    /// The narrowest and widest a terminal's width is taken as.
    const WIDTH_RANGE: std::ops::RangeInclusive<u16> = 60..=200;

    /// An empty table drawn this way, with `header`.
    pub fn table<const N: usize>(self, header: [&str; N]) -> Table {
        let style = match self.unicode {
            true => presets::UTF8_FULL_CONDENSED,
            false => presets::ASCII_FULL_CONDENSED,
        };
        let mut table = Table::new();
        table
            .load_style(style)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(self.width)
            .set_header(header);
        table
    }

    /// On a terminal of `columns` (unknown: 80): its width, box drawing.
    pub fn terminal(columns: Option<u16>) -> TableLayout {
        let width = columns.unwrap_or(80);
        TableLayout {
            width: width.clamp(*Self::WIDTH_RANGE.start(), *Self::WIDTH_RANGE.end()),
            unicode: true,
        }
    }
}
/// What a host without a watchdog means for the cluster.
const UNFENCED: &str = "unfenced: a hung agent here can run a second engine VM";

/// Python's `str(bool)`.
fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The engine status as the reference publishes it (`json.dumps` of the
/// object, keys vm, health, detail, reason).
pub fn engine_status_text(status: &EngineStatusView) -> String {
    pyjson::to_string(status)
}

/// The reference's text layout: per host, in ascending id, a block preceded by
/// two empty lines; in global maintenance a banner before the first host and
/// after the last.
pub fn text(view: &ClusterView) -> String {
    let mut out = String::with_capacity(1024 * view.hosts.len().max(1));
    if view.global_maintenance {
        let _ = writeln!(out, "\n\n{GLOBAL_BANNER}\n");
    }
    for host in &view.hosts {
        host_block(&mut out, host);
    }
    if view.global_maintenance {
        let _ = writeln!(out, "\n\n{GLOBAL_BANNER}\n");
    }
    out
}

/// A host as the reference shows it. A host the local agent has not watched
/// long enough is shown as stale-data too, as the reference shows it: its
/// parsers know only the two shapes (docs/operations.md 4.1). Slot text
/// goes through [`shown`] (a no-op on every sane slot).
fn host_block(out: &mut String, h: &HostStatus) {
    let _ = writeln!(
        out,
        "\n\n--== Host {} (id: {}) status ==--\n",
        shown(&h.hostname),
        h.host_id
    );
    let engine = if h.live_data {
        engine_status_text(&h.engine_status)
    } else {
        "unknown stale-data".to_owned()
    };
    // The reference shows the fields a record has: an older writer's has
    // fewer (maintenance from 8 fields, stopped from 9, crc32 from 10, the
    // last two only with all 12), and no extra block without extra text.
    let mut fields: Vec<(&str, String)> = vec![
        ("Host ID", h.host_id.to_string()),
        ("Host timestamp", h.host_ts.to_string()),
        ("Score", h.score.to_string()),
        ("Engine status", engine),
        ("Hostname", shown(&h.hostname).into_owned()),
    ];
    if h.has_field(7) {
        fields.push(("Local maintenance", py_bool(h.maintenance).to_owned()));
    }
    if h.has_field(8) {
        fields.push(("stopped", py_bool(h.stopped).to_owned()));
    }
    if let Some(crc) = h.crc32.as_ref().filter(|_| h.has_field(9)) {
        fields.push(("crc32", crc.clone()));
    }
    if h.has_field(11) {
        fields.push((
            "conf_on_shared_storage",
            py_bool(h.conf_on_shared_storage).to_owned(),
        ));
        fields.push(("local_conf_timestamp", h.local_conf_timestamp.to_string()));
    }
    fields.push(("Status up-to-date", py_bool(h.live_data).to_owned()));
    for (label, value) in fields {
        let _ = writeln!(out, "{label:<35}: {value}");
    }
    if !h.extra.is_empty() {
        out.push_str("Extra metadata (valid at timestamp):\n");
        for line in h.extra.lines() {
            let _ = writeln!(out, "\t{}", shown(line));
        }
    }
}

/// The reference's `--json`: one line, host ids as string keys in ascending
/// order, then `global_maintenance`.
pub fn json(view: &ClusterView) -> String {
    let mut top = Map::new();
    for h in &view.hosts {
        top.insert(h.host_id.to_string(), host_json(h));
    }
    top.insert(
        "global_maintenance".into(),
        Value::Bool(view.global_maintenance),
    );
    let mut line = pyjson::to_string(&top);
    line.push('\n');
    line
}

/// `--format=openmetrics`: the cluster's metrics as this host sees them
/// (`crate::shell::metrics`; the agent's own counters are in its textfile).
pub fn openmetrics(view: &ClusterView) -> String {
    let cluster = crate::shell::metrics::ClusterFacts {
        hosts: &view.hosts,
        global_maintenance: match view.global_unreadable {
            Some(_) => None,
            None => Some(view.global_maintenance),
        },
        unreadable_slots: view.unreadable.len(),
        agent: view.agent.as_ref(),
        storage_ok: view.agent.as_ref().map(|_| view.storage_trouble.is_none()),
    };
    crate::shell::metrics::render(
        &cluster,
        None,
        crate::shell::metrics::Exposition::OpenMetrics,
    )
}

/// A host in the reference's JSON: the keys of the fields its record has
/// (see [`host_block`]), `extra` only when there is extra text.
fn host_json(h: &HostStatus) -> Value {
    let mut host = Map::new();
    let mut put = |key: &str, value: Value| {
        host.insert(key.to_owned(), value);
    };
    put("host-id", json!(h.host_id));
    put("host-ts", json!(h.host_ts));
    put("score", json!(h.score));
    put("engine-status", json!(h.engine_status));
    put("hostname", json!(h.hostname));
    if h.has_field(7) {
        put("maintenance", json!(h.maintenance));
    }
    if h.has_field(8) {
        put("stopped", json!(h.stopped));
    }
    if let Some(crc) = h.crc32.as_ref().filter(|_| h.has_field(9)) {
        put("crc32", json!(crc));
    }
    if h.has_field(11) {
        put("conf_on_shared_storage", json!(h.conf_on_shared_storage));
        put("local_conf_timestamp", json!(h.local_conf_timestamp));
    }
    if !h.extra.is_empty() {
        put("extra", json!(h.extra));
    }
    put("live-data", json!(h.live_data));
    Value::Object(host)
}

/// An error as the one JSON object `--json` prints instead of a status.
pub fn json_error(kind: &str, message: &str) -> String {
    let mut line = pyjson::to_string(&json!({"error": message, "error-kind": kind}));
    line.push('\n');
    line
}

/// One row per host, in `layout`'s width (words are never broken: a cell
/// that does not fit wraps at spaces).
pub fn table(view: &ClusterView, layout: TableLayout) -> String {
    let mut table = layout.table([
        "ID",
        "Hostname",
        "State",
        "Score",
        "Engine",
        "Up to date",
        "Maint.",
        "Lease",
    ]);
    for h in &view.hosts {
        let (engine, up_to_date) = match Liveness::of(h) {
            Liveness::Live => (
                format!(
                    "{}/{}",
                    shown(&h.engine_status.vm),
                    shown(&h.engine_status.health)
                ),
                "yes",
            ),
            Liveness::Stale => ("stale".to_owned(), "no"),
            Liveness::UnknownYet => ("unknown yet".to_owned(), "unknown"),
        };
        table.add_row([
            h.host_id.to_string(),
            shown(&h.hostname).into_owned(),
            shown(h.state.as_deref().unwrap_or("?")).into_owned(),
            h.score.to_string(),
            engine,
            up_to_date.to_owned(),
            if h.maintenance { "local" } else { "-" }.to_owned(),
            LeaseFacts::of(h).cell(),
        ]);
    }
    let mut out = String::new();
    if view.global_maintenance {
        let _ = writeln!(out, "{GLOBAL_BANNER}");
    }
    let _ = writeln!(out, "{table}");
    out.push_str(&watchdog_notes(view, layout.width));
    out.push_str(&host_notes(view, layout.width));
    for note in unknowns(view) {
        out.push_str(&wrap(&note, layout.width));
    }
    if let Source::Storage { .. } = view.source {
        out.push_str("(read from the shared storage: the local agent is not answering)\n");
    }
    out
}

/// The hosts' watchdogs, under the table (a column would squeeze the
/// others): the timeouts, each with its hosts, then one warning per unfenced
/// host. Nothing when no host publishes its watchdog (reference agents).
fn watchdog_notes(view: &ClusterView, width: u16) -> String {
    let mut out = String::new();
    let published = |h: &HostStatus| HostWatchdog::of(h) != HostWatchdog::Unpublished;
    if !view.hosts.iter().any(published) {
        return out;
    }
    let mut groups: Vec<(String, Vec<u16>)> = Vec::new();
    let mut unfenced = Vec::new();
    for h in &view.hosts {
        let what = match HostWatchdog::of(h) {
            HostWatchdog::Timeout(secs) => format!("{} s", shown(secs)),
            HostWatchdog::Unpublished => "not published".to_owned(),
            HostWatchdog::None => {
                unfenced.push(h);
                continue;
            }
        };
        match groups.iter_mut().find(|(w, _)| *w == what) {
            Some((_, ids)) => ids.push(h.host_id),
            None => groups.push((what, vec![h.host_id])),
        }
    }
    if !groups.is_empty() {
        let parts: Vec<String> = groups
            .iter()
            .map(|(what, ids)| {
                let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
                let hosts = if ids.len() == 1 { "host" } else { "hosts" };
                format!("{what} ({hosts} {})", ids.join(", "))
            })
            .collect();
        out.push_str(&wrap(&format!("Watchdog: {}", parts.join(", ")), width));
    }
    for h in unfenced {
        let note = format!(
            "host {} ({}): watchdog: none ({UNFENCED})",
            h.host_id,
            shown(&h.hostname)
        );
        out.push_str(&wrap(&note, width));
    }
    out
}

/// Under the table, what its cells cannot say: the hosts not watched long
/// enough yet, then per host what its lease state means (fencing, a keeper,
/// a refused or unreadable state) and other lease timings.
fn host_notes(view: &ClusterView, width: u16) -> String {
    let mut out = String::new();
    let unknown: Vec<String> = view
        .hosts
        .iter()
        .filter(|h| Liveness::of(h) == Liveness::UnknownYet)
        .map(|h| h.host_id.to_string())
        .collect();
    if !unknown.is_empty() {
        let (hosts, them) = if unknown.len() == 1 {
            ("host", "it")
        } else {
            ("hosts", "them")
        };
        let note = format!(
            "Unknown yet: {hosts} {} (the local agent has not watched {them} for \
             host_alive_timeout yet: neither live nor stale)",
            unknown.join(", ")
        );
        out.push_str(&wrap(&note, width));
    }
    for h in &view.hosts {
        let name = format!("host {} ({})", h.host_id, shown(&h.hostname));
        if let Some(meaning) = LeaseFacts::of(h).meaning() {
            out.push_str(&wrap(&format!("{name}: {meaning}"), width));
        }
        if let Some((theirs, reference, by)) = other_timings(&view.hosts, view.local_host_id, h) {
            let note = timings_note(theirs, reference, by);
            out.push_str(&wrap(&format!("{name}: {note}"), width));
        }
    }
    out
}

/// `text` in lines of at most `width` characters, broken at spaces (a word
/// longer than that stays whole), continuation lines indented by two.
fn wrap(text: &str, width: u16) -> String {
    let width = usize::from(width);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split(' ') {
        if line.trim().is_empty() {
            // A line's first word stays on it, however long.
        } else if line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = "  ".to_owned();
        } else {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// What the view does not know, one line each, for the table and
/// `--explain` (the reference's formats say it on stderr, [`warnings`]): the
/// shared storage failing this host, slot 0 unreadable, unreadable slots.
pub fn unknowns(view: &ClusterView) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = &view.storage_trouble {
        out.push(format!(
            "Shared storage: this host cannot use it {}; the hosts are as it last read them",
            since_when(t)
        ));
    }
    if let Some(e) = &view.global_unreadable {
        out.push(format!(
            "Global maintenance: unknown ({}): shown as {}, {}",
            shown(e),
            py_bool(view.global_maintenance),
            match view.source {
                Source::Agent { .. } => "the local agent's last known value",
                Source::Storage { .. } => "a guess",
            }
        ));
    }
    for slot in &view.unreadable {
        out.push(format!(
            "host {}: slot unreadable ({}): not shown",
            slot.host_id,
            shown(&slot.error)
        ));
    }
    out
}

/// `since <local time> (<secs> s): <error>` of a storage failure.
fn since_when(t: &crate::proto::StorageTroubleView) -> String {
    format!(
        "since {} ({} s): {}",
        crate::metadata::ctime(t.since_unix, crate::clock::utc_offset_secs(t.since_unix)),
        t.for_ms / 1000,
        shown(&t.error)
    )
}

/// The lines `--vm-status` prints on stderr in every format: the view's
/// notes, then what it does not know ([`unknowns`], worded for a reader of
/// the reference's formats, which have no place for it).
pub fn warnings(view: &ClusterView) -> Vec<String> {
    let mut out = view.notes.clone();
    if let Some(t) = &view.storage_trouble {
        out.push(format!(
            "this host cannot use the shared storage {}; every host below is as this host \
             last read it (its agent's status, not the cluster's now)",
            since_when(t)
        ));
    }
    if view.hosts.is_empty() && view.unreadable.is_empty() {
        out.push("no host has published to the shared metadata yet".to_owned());
    }
    if let Some(e) = &view.global_unreadable {
        out.push(format!(
            "the global maintenance flag is unreadable ({}): global maintenance is unknown, \
             shown as {}",
            shown(e),
            py_bool(view.global_maintenance)
        ));
    }
    for slot in &view.unreadable {
        out.push(format!(
            "slot {} is unreadable: {}; host {} is missing from the status",
            slot.host_id,
            shown(&slot.error),
            slot.host_id
        ));
    }
    out
}

/// `--explain`: each host's score breakdown, the lease, and who starts the
/// engine VM next.
pub fn explain(view: &ClusterView) -> String {
    let mut out = String::new();
    let unknowns = unknowns(view);
    if !unknowns.is_empty() {
        out.push_str("\nNot known:\n");
        for note in unknowns {
            let _ = writeln!(out, "  {note}");
        }
    }
    out.push_str("\nScores:\n");
    for h in &view.hosts {
        explain_host(&mut out, view, h);
    }
    let _ = writeln!(out, "\nEngine VM lease:\n  {}", lease_line(view));
    if let Some(m) = view
        .agent
        .as_ref()
        .and_then(|a| a.lease_timings_mismatch.as_ref())
    {
        let _ = writeln!(
            out,
            "  claims: none from this host: host {} runs on other lease timings ({} against \
             this host's {}, {TIMINGS_UNITS}) and is live; no claims until they agree",
            m.host_id,
            shown(&m.theirs),
            shown(m.ours.as_deref().unwrap_or("unknown"))
        );
    }
    let _ = writeln!(out, "\nNext start:\n  {}", next_start(view));
    out
}

/// One host under "Scores:": its score's arithmetic (every penalty for the
/// local agent's own host), its engine, watchdog, and what its lease state
/// and liveness mean when they need saying.
fn explain_host(out: &mut String, view: &ClusterView, h: &HostStatus) {
    let liveness = Liveness::of(h);
    let _ = writeln!(
        out,
        "  host {} ({}, {}, {}): score {}",
        h.host_id,
        shown(&h.hostname),
        shown(h.state.as_deref().unwrap_or("state unknown")),
        liveness.word(),
        h.score
    );
    match view.agent.as_ref().filter(|a| a.host_id == h.host_id) {
        Some(agent) => {
            let _ = writeln!(out, "    {}", shown(&agent.score.summary));
            for p in &agent.score.penalties {
                let points = if p.points == 0 {
                    "      0".to_owned()
                } else {
                    format!("{:>7}", format!("-{}", p.points))
                };
                let _ = writeln!(
                    out,
                    "    {:<8}{points}  {} ({})",
                    shown(&p.kind),
                    shown(&p.detail),
                    shown(&p.conf_key)
                );
            }
        }
        None => {
            let detail = extra_value(&h.extra, "score-detail")
                .unwrap_or("no breakdown published (an older agent)");
            let _ = writeln!(out, "    {}", shown(detail));
        }
    }
    if let Some(reason) = &h.engine_status.reason {
        let _ = writeln!(out, "    engine: {}", shown(reason));
    }
    let watchdog = match HostWatchdog::of(h) {
        HostWatchdog::Timeout(secs) => format!("{} s timeout", shown(secs)),
        HostWatchdog::None => format!("none ({UNFENCED})"),
        HostWatchdog::Unpublished => "not published (an older agent)".to_owned(),
    };
    let _ = writeln!(out, "    watchdog: {watchdog}");
    if let Some(meaning) = LeaseFacts::of(h).meaning() {
        let _ = writeln!(out, "    {meaning}");
    }
    if let Some((theirs, reference, by)) = other_timings(&view.hosts, view.local_host_id, h) {
        let _ = writeln!(out, "    {}", timings_note(theirs, reference, by));
    }
    if liveness == Liveness::UnknownYet {
        let _ = writeln!(
            out,
            "    unknown yet: the local agent has not watched it for host_alive_timeout yet \
             (neither live nor stale)"
        );
    }
}

/// A host's watchdog as its slot publishes it (`watchdog=<secs>` or
/// `watchdog=none`).
#[derive(Debug, PartialEq, Eq)]
enum HostWatchdog<'a> {
    Timeout(&'a str),
    /// No watchdog (acknowledged in its configuration): unfenced.
    None,
    /// Not in the slot: an older agent, or the reference's.
    Unpublished,
}

impl<'a> HostWatchdog<'a> {
    fn of(h: &'a HostStatus) -> Self {
        match extra_value(&h.extra, WATCHDOG_KEY) {
            Some("none") => HostWatchdog::None,
            Some(secs) => HostWatchdog::Timeout(secs),
            None => HostWatchdog::Unpublished,
        }
    }
}

/// Who holds, claims or may hide the lease (one host a line), or that it is
/// free.
fn lease_line(view: &ClusterView) -> String {
    let mut parts = Vec::new();
    for h in &view.hosts {
        let host = format!("host {} ({})", h.host_id, shown(&h.hostname));
        let part = match LeaseFacts::of(h) {
            LeaseFacts::Free => continue,
            LeaseFacts::Refused(bad) => format!(
                "{host}: lease state refused (implausible {} {})",
                bad.key, bad.value
            ),
            LeaseFacts::Unreadable(raw) => {
                format!("{host}: lease state unreadable (lease={})", shown(raw))
            }
            LeaseFacts::Taken {
                kind,
                epoch,
                renewer,
                ..
            } => {
                let what = match kind {
                    Some(LeaseKind::Claim) => format!("claimed by {host}, epoch {epoch}"),
                    Some(LeaseKind::Fencing) => format!(
                        "held by {host}, epoch {epoch}, fencing: giving it up while its engine \
                         VM is not confirmed down yet (a hold until it is)"
                    ),
                    _ => format!("held by {host}, epoch {epoch}"),
                };
                let by = match renewer {
                    Renewer::Agent => "",
                    Renewer::Keeper => ", kept by its lease keeper (agent stopped)",
                    Renewer::Nobody => {
                        ", its agent stopped with no keeper (never expires by silence)"
                    }
                };
                let stale = if Liveness::of(h) == Liveness::Stale {
                    " (its data is stale: it expires once the host is dead for lease_dead)"
                } else {
                    ""
                };
                format!("{what}{by}{stale}")
            }
        };
        parts.push(part);
    }
    if !parts.is_empty() {
        return parts.join("\n  ");
    }
    let highest = view
        .hosts
        .iter()
        .filter(|h| !matches!(LeaseFacts::of(h), LeaseFacts::Refused(_)))
        .filter_map(|h| h.lease.as_ref().map(|l| l.epoch))
        .max();
    match highest {
        Some(epoch) => format!("free (highest epoch published: {epoch})"),
        None => "free (no host publishes a lease state)".to_owned(),
    }
}

/// Which host starts the engine VM next, by the agents' rule: nobody in global
/// maintenance or while it runs or is being started or fenced, nor before the
/// local agent has watched long enough or while a live host runs on other
/// lease timings; otherwise the live host with the highest score, ties to
/// the lowest host id, among those not in local maintenance, not stopped,
/// with a positive score.
fn next_start(view: &ClusterView) -> String {
    if view.global_maintenance {
        return "none: the cluster is in global maintenance (no agent starts, stops or moves \
                the engine VM)"
            .to_owned();
    }
    let live = || view.hosts.iter().filter(|h| h.live_data);
    if let Some(h) = live().find(|h| h.engine_status.vm_up()) {
        return format!(
            "none: the engine VM runs on host {} ({}), health {}",
            h.host_id,
            shown(&h.hostname),
            shown(&h.engine_status.health)
        );
    }
    for h in live() {
        match LeaseFacts::of(h) {
            LeaseFacts::Taken {
                kind: Some(LeaseKind::Fencing),
                ..
            } => {
                return format!(
                    "none yet: host {} ({}) is fencing: its engine VM is being powered off, and \
                     nobody starts it until that is confirmed",
                    h.host_id,
                    shown(&h.hostname)
                );
            }
            LeaseFacts::Taken { .. } => {
                return format!(
                    "host {} ({}): it has taken the engine VM lease and is starting the engine VM",
                    h.host_id,
                    shown(&h.hostname)
                );
            }
            _ => {}
        }
    }
    if let Some(agent) = &view.agent {
        if !agent.has_history {
            return "none yet: the local agent has watched the other hosts for less than \
                    host_alive_timeout: it calls none live and starts nothing before that"
                .to_owned();
        }
        if let Some(m) = &agent.lease_timings_mismatch {
            return format!(
                "none: host {} runs on other lease timings than this host and is live: no \
                 claims until they agree",
                m.host_id
            );
        }
    }
    best_candidate(view)
}

/// The live host with the highest score that may start the engine VM, or
/// why there is none.
fn best_candidate(view: &ClusterView) -> String {
    let mut candidates: Vec<&HostStatus> = view
        .hosts
        .iter()
        .filter(|h| h.live_data && !h.maintenance && !h.stopped && h.score > 0)
        .collect();
    candidates.sort_by(|a, b| b.score.cmp(&a.score).then(a.host_id.cmp(&b.host_id)));
    if let [first, rest @ ..] = candidates.as_slice() {
        let tie = rest.iter().any(|h| h.score == first.score);
        return format!(
            "host {} ({}): the highest score among live hosts ({}){}",
            first.host_id,
            shown(&first.hostname),
            first.score,
            if tie {
                ", equal scores go to the lowest host id"
            } else {
                ""
            }
        );
    }
    let reasons: Vec<String> = view
        .hosts
        .iter()
        .map(|h| {
            let why = match Liveness::of(h) {
                Liveness::Stale => "stale",
                Liveness::UnknownYet => "unknown yet",
                Liveness::Live if h.stopped => "agent stopped",
                Liveness::Live if h.maintenance => "local maintenance",
                Liveness::Live => "score 0",
            };
            format!("host {} {why}", h.host_id)
        })
        .collect();
    if reasons.is_empty() {
        "none: no host has published yet".to_owned()
    } else {
        format!(
            "none: no live host with a positive score ({})",
            reasons.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn notes_wrap_at_spaces_with_an_indent() {
        assert_eq!(wrap("one two three", 80), "one two three\n");
        assert_eq!(wrap("one two three", 7), "one two\n  three\n");
        // A word longer than the width stays whole.
        assert_eq!(
            wrap("a-long-host-name.example.com: none", 10),
            "a-long-host-name.example.com:\n  none\n"
        );
    }
}
