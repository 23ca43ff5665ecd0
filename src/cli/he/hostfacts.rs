//! What `--format=table` and `--explain` say about a host beyond the
//! reference's fields: whether it is live, stale or unknown yet, what its
//! lease state means (a hold being given up, a lease kept by a stopped
//! agent's keeper, an implausible epoch refused, an unreadable state), and
//! whether it runs on other lease timings. All of it is read from the host's
//! slot (the `extra` text) and from what the local agent adds, so that the
//! views read the same from the agent and from the storage.
//!
//! Everything read from a slot is shown through [`shown`]: the slot's extra
//! values are not checked for control characters (the record's text fields
//! are, `metadata::record`), and a forged `state=` must not drive the
//! operator's terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::core::agent::{EPOCH_SEEN_KEY, KEEPER_KEY, LEASE_TIMINGS_KEY};
use crate::metadata::{
    EPOCH_PLAUSIBLE_MAX, LEASE_EPOCH_KEY, LEASE_KEY, LeaseKind, SEQ_KEY, SEQ_PLAUSIBLE_MAX,
};
use crate::proto::HostStatus;

/// What the `lease-timings` values hold, for the operator.
pub const TIMINGS_UNITS: &str = "lease-fail/lease-dead/settle/claim window in ms";

/// `text` safe for a terminal: control characters (C0, DEL, C1) and the
/// Unicode controls that reorder or break lines are written as escapes,
/// `\n`, `\r`, `\t` or `\u{1b}` as the agent's log writes them; everything
/// else, and text without any of them (every sane slot), as it is.
pub fn shown(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    // Bidirectional overrides and isolates, line and paragraph separators.
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// The first value of `key` in an extra text (`key=value` lines).
pub fn extra_value<'a>(extra: &'a str, key: &str) -> Option<&'a str> {
    extra
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

/// A host's liveness in the local agent's view (or, with the agent down, by
/// its published wall-clock time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    Live,
    Stale,
    /// Not watched for `host_alive_timeout` yet: neither live nor stale.
    UnknownYet,
}

impl Liveness {
    pub fn of(h: &HostStatus) -> Liveness {
        match (h.live_data, h.unknown_yet) {
            (true, _) => Liveness::Live,
            (false, true) => Liveness::UnknownYet,
            (false, false) => Liveness::Stale,
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Liveness::Live => "live",
            Liveness::Stale => "stale",
            Liveness::UnknownYet => "unknown yet",
        }
    }
}

/// An implausible value in a host's slot, which every agent refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Implausible {
    /// The extra key that carries it.
    pub key: &'static str,
    pub value: u64,
}

impl Implausible {
    /// The first implausible value `h`'s slot carries: the one the local
    /// agent reported, else any the slot carries by the agents' own bounds
    /// (the storage view, an older agent).
    pub fn of(h: &HostStatus) -> Option<Implausible> {
        let keys = [
            (LEASE_EPOCH_KEY, EPOCH_PLAUSIBLE_MAX),
            (SEQ_KEY, SEQ_PLAUSIBLE_MAX),
            (EPOCH_SEEN_KEY, EPOCH_PLAUSIBLE_MAX),
        ];
        let carried = |key: &'static str| -> Option<u64> {
            extra_value(&h.extra, key).and_then(|v| v.parse().ok())
        };
        if let Some(value) = h.implausible_epoch
            && let Some((key, _)) = keys.iter().find(|(key, _)| carried(key) == Some(value))
        {
            return Some(Implausible { key, value });
        }
        keys.iter().find_map(|&(key, max)| {
            let value = carried(key).filter(|v| *v > max)?;
            Some(Implausible { key, value })
        })
    }

    /// Whether the agents leave the host's published lease state aside for
    /// it: an implausible lease epoch or write sequence (an implausible
    /// epoch seen is ignored alone).
    pub fn voids_lease(self) -> bool {
        self.key != EPOCH_SEEN_KEY
    }

    /// The refusal in words, with the value and the bound.
    pub fn describe(self) -> String {
        let (what, bound, consequence) = match self.key {
            LEASE_EPOCH_KEY => (
                "lease epoch",
                EPOCH_PLAUSIBLE_MAX,
                "the agents keep its last plausible lease state, or treat it as a hold \
                 until it has been silent for lease-dead",
            ),
            SEQ_KEY => (
                "write sequence",
                SEQ_PLAUSIBLE_MAX,
                "the agents ignore its slot: its last plausible state stands, or it counts \
                 as a hold until it has been silent for lease-dead",
            ),
            _ => (
                "lease-epoch-seen",
                EPOCH_PLAUSIBLE_MAX,
                "ignored, the rest of its slot is taken in",
            ),
        };
        format!(
            "implausible {what} {} refused (above {bound}: not written by a sound agent); \
             {consequence}",
            self.value
        )
    }
}

/// Who renews a host's lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewer {
    /// Its agent runs.
    Agent,
    /// Its agent stopped cleanly and its lease keeper renews the lease
    /// (`lease-keeper=1`): it expires by silence like any other.
    Keeper,
    /// Its agent stopped cleanly, and no keeper publishes: the lease never
    /// expires by silence (docs/operations.md 7.4).
    Nobody,
}

/// What a host's published lease state means, for the views.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseFacts<'a> {
    /// No lease state, or `none`.
    Free,
    /// `claim`, `held` or `fencing` (`kind`; `None`, a word this build does
    /// not know, is taken as a hold) under `epoch`, and who renews it. `word`
    /// is the kind as published, for display.
    Taken {
        kind: Option<LeaseKind>,
        word: &'a str,
        epoch: u64,
        renewer: Renewer,
    },
    /// A lease state the agents refuse: see the [`Implausible`].
    Refused(Implausible),
    /// A `lease=` line that does not parse (its raw value): the agents keep
    /// the host's last valid state, or treat it as a hold.
    Unreadable(&'a str),
}

impl<'a> LeaseFacts<'a> {
    pub fn of(h: &'a HostStatus) -> LeaseFacts<'a> {
        if let Some(bad) = Implausible::of(h).filter(|i| i.voids_lease()) {
            return LeaseFacts::Refused(bad);
        }
        match &h.lease {
            Some(l) if l.lease_kind() == Some(LeaseKind::None) => LeaseFacts::Free,
            Some(l) => LeaseFacts::Taken {
                kind: l.lease_kind(),
                word: &l.kind,
                epoch: l.epoch,
                renewer: match (h.stopped, extra_value(&h.extra, KEEPER_KEY)) {
                    (false, _) => Renewer::Agent,
                    (true, Some("1")) => Renewer::Keeper,
                    (true, _) => Renewer::Nobody,
                },
            },
            None => match extra_value(&h.extra, LEASE_KEY) {
                Some(raw) => LeaseFacts::Unreadable(raw),
                None => LeaseFacts::Free,
            },
        }
    }

    /// The table's `Lease` cell.
    pub fn cell(&self) -> String {
        match self {
            LeaseFacts::Free => "-".to_owned(),
            LeaseFacts::Taken { word, epoch, .. } => format!("{} {epoch}", shown(word)),
            LeaseFacts::Refused(_) => "refused".to_owned(),
            LeaseFacts::Unreadable(_) => "?".to_owned(),
        }
    }

    /// What the state means beyond its cell, when it needs saying: a
    /// fencing holder, a keeper, a refused or unreadable state.
    pub fn meaning(&self) -> Option<String> {
        match self {
            LeaseFacts::Free => None,
            LeaseFacts::Taken {
                kind: Some(LeaseKind::Fencing),
                epoch,
                ..
            } => Some(format!(
                "lease fencing (epoch {epoch}): giving the lease up while its engine VM is \
                 not confirmed down yet; a hold to every other host until it is"
            )),
            LeaseFacts::Taken {
                word,
                epoch,
                renewer: Renewer::Keeper,
                ..
            } => Some(format!(
                "agent stopped, lease kept by its keeper ({}, epoch {epoch})",
                shown(word)
            )),
            LeaseFacts::Taken {
                word,
                epoch,
                renewer: Renewer::Nobody,
                ..
            } => Some(format!(
                "agent stopped with the lease {} (epoch {epoch}) and no keeper: it never \
                 expires by silence (its engine VM may run unsupervised)",
                shown(word)
            )),
            LeaseFacts::Taken {
                renewer: Renewer::Agent,
                ..
            } => None,
            LeaseFacts::Refused(bad) => Some(bad.describe()),
            LeaseFacts::Unreadable(raw) => Some(format!(
                "unreadable lease state (lease={}): the agents keep its last valid state, or \
                 treat it as a hold until it has been silent for lease-dead",
                shown(raw)
            )),
        }
    }
}

/// A host's published `lease-timings`, when it differs from the
/// reference host's (the local host's, else the lowest id publishing any):
/// (theirs, the reference's, whether the reference is the local host).
pub fn other_timings<'a>(
    hosts: &'a [HostStatus],
    local: Option<u16>,
    h: &'a HostStatus,
) -> Option<(&'a str, &'a str, Option<u16>)> {
    let timings = |h: &'a HostStatus| extra_value(&h.extra, LEASE_TIMINGS_KEY);
    let local_value = local.and_then(|id| hosts.iter().find(|x| x.host_id == id));
    let (reference, value) = match local_value.and_then(|x| timings(x).map(|t| (x, t))) {
        Some(found) => found,
        None => hosts.iter().find_map(|x| timings(x).map(|t| (x, t)))?,
    };
    let theirs = timings(h)?;
    let by = (Some(reference.host_id) != local).then_some(reference.host_id);
    (theirs != value).then_some((theirs, value, by))
}

/// [`other_timings`] in words: `... against this host's ...` or `... against
/// host N's ...`.
pub fn timings_note(theirs: &str, reference: &str, by: Option<u16>) -> String {
    let whose = match by {
        None => "this host's".to_owned(),
        Some(id) => format!("host {id}'s"),
    };
    format!(
        "on other lease timings: {} against {whose} {} ({TIMINGS_UNITS}): no claims while it \
         is live, until they agree",
        shown(theirs),
        shown(reference)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_escapes_terminal_controls_only() {
        assert!(matches!(shown("EngineUp"), Cow::Borrowed("EngineUp")));
        assert_eq!(shown("héte 3400 - cpu"), "héte 3400 - cpu");
        assert_eq!(shown("\x1b[2Jx"), "\\u{1b}[2Jx");
        assert_eq!(shown("a\tb\rc\nd\u{7f}"), "a\\tb\\rc\\nd\\u{7f}");
        assert_eq!(shown("\u{9b}31m\u{202e}"), "\\u{9b}31m\\u{202e}");
    }
}
