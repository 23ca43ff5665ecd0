//! Peer liveness by *observed change* of `host-ts` (`docs/compat.md`
//! section 2).
//!
//! A peer's timestamp is the peer's own monotonic clock and is never compared with
//! ours. What counts is when *we* saw it change, on *our* monotonic clock. A peer
//! is alive while its last observed change is at most `host_alive_timeout` old.
//! An observer that has watched for less than that treats no peer as alive.
//!
//! A slot that cannot be read (torn, bad CRC) is simply not observed: its peer
//! keeps the view from its last valid read and ages from there.

use alloc::collections::BTreeMap;

use super::time::Millis;
use crate::metadata::HostId;

/// What we know of one peer's heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerView {
    /// The last `host-ts` read from its slot.
    pub host_ts: u64,
    /// When we first read its slot.
    pub first_seen: Millis,
    /// When we last saw `host_ts` change; `None` until the first change.
    pub last_change: Option<Millis>,
}

/// Liveness of every peer, as seen by one observer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerLiveness {
    /// When this observer started watching.
    started: Millis,
    /// Silence counts from here at the earliest: our reads had a gap, and
    /// changes we did not see may have happened in it.
    silence_floor: Millis,
    peers: BTreeMap<HostId, PeerView>,
}

impl PeerLiveness {
    pub fn new(started: Millis) -> PeerLiveness {
        PeerLiveness {
            started,
            silence_floor: started,
            peers: BTreeMap::new(),
        }
    }

    /// Records a valid read of `id`'s slot at `now`.
    pub fn observe(&mut self, now: Millis, id: HostId, host_ts: u64) {
        match self.peers.get_mut(&id) {
            Some(view) if view.host_ts != host_ts => {
                // Any change counts, backwards too (a rebooted peer restarts its
                // monotonic clock).
                view.host_ts = host_ts;
                view.last_change = Some(now);
            }
            Some(_) => {}
            None => {
                self.peers.insert(
                    id,
                    PeerView {
                        host_ts,
                        first_seen: now,
                        last_change: None,
                    },
                );
            }
        }
    }

    /// Starts watching at `now` (our first read): nobody is alive until a
    /// full timeout of history, and silence counts from here.
    pub fn restart(&mut self, now: Millis) {
        self.started = self.started.max(now);
        self.silence_floor = self.silence_floor.max(now);
    }

    /// Our reads had a gap that ends at `now`: peers may have written what
    /// we never saw, so their silence counts from here at the earliest.
    pub fn rewatch(&mut self, now: Millis) {
        self.silence_floor = self.silence_floor.max(now);
    }

    /// Forgets `id` (its slot was cleaned: empty).
    pub fn forget(&mut self, id: HostId) {
        self.peers.remove(&id);
    }

    pub fn view(&self, id: HostId) -> Option<&PeerView> {
        self.peers.get(&id)
    }

    /// Whether this observer has watched long enough to judge anyone alive.
    pub fn has_history(&self, now: Millis, host_alive_timeout_ms: u64) -> bool {
        now.since(self.started) >= host_alive_timeout_ms
    }

    /// Whether `id` is alive at `now`.
    pub fn is_alive(&self, now: Millis, id: HostId, host_alive_timeout_ms: u64) -> bool {
        self.has_history(now, host_alive_timeout_ms)
            && self
                .peers
                .get(&id)
                .and_then(|view| view.last_change)
                .is_some_and(|changed| now.since(changed) <= host_alive_timeout_ms)
    }

    /// How long `id`'s heartbeat has been still, as far as this observer can
    /// prove: since its last observed change, or since we first saw it (so a
    /// freshly started observer never thinks a peer silent for longer than it
    /// has watched). `None` for a peer never seen.
    pub fn silent_for(&self, now: Millis, id: HostId) -> Option<u64> {
        let view = self.peers.get(&id)?;
        let since = view
            .last_change
            .unwrap_or(view.first_seen)
            .max(self.silence_floor);
        Some(now.since(since))
    }

    /// The moment `id`'s silence counts from (see [`PeerLiveness::silent_for`]):
    /// it moves only when we see its heartbeat change (or our reads had a
    /// gap). `None` for a peer never seen.
    pub fn last_change_seen(&self, now: Millis, id: HostId) -> Option<Millis> {
        let view = self.peers.get(&id)?;
        Some(
            view.last_change
                .unwrap_or(view.first_seen)
                .max(self.silence_floor)
                .min(now),
        )
    }

    /// Peers in ascending host id.
    pub fn peers(&self) -> impl Iterator<Item = (HostId, &PeerView)> {
        self.peers.iter().map(|(id, view)| (*id, view))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: u64 = 60_000;

    fn at(secs: u64) -> Millis {
        Millis::from_secs(secs)
    }

    #[test]
    fn no_peer_is_alive_before_a_full_timeout_of_history() {
        let mut live = PeerLiveness::new(at(0));
        live.observe(at(0), 2, 100);
        live.observe(at(10), 2, 110);
        assert!(!live.is_alive(at(59), 2, TIMEOUT));
        assert!(live.is_alive(at(60), 2, TIMEOUT));
    }

    #[test]
    fn alive_only_while_changes_are_seen() {
        let mut live = PeerLiveness::new(at(0));
        live.observe(at(0), 2, 100);
        live.observe(at(30), 2, 5); // backwards is a change too
        assert!(live.is_alive(at(90), 2, TIMEOUT));
        live.observe(at(90), 2, 5); // same value: no change
        assert!(!live.is_alive(at(91), 2, TIMEOUT));
        assert_eq!(live.silent_for(at(91), 2), Some(61_000));
    }

    #[test]
    fn a_peer_that_never_changed_is_never_alive() {
        let mut live = PeerLiveness::new(at(0));
        for t in 0..20 {
            live.observe(at(t * 10), 3, 42);
        }
        assert!(!live.is_alive(at(200), 3, TIMEOUT));
        assert_eq!(live.silent_for(at(200), 3), Some(200_000));
        assert!(!live.is_alive(at(200), 9, TIMEOUT));
        assert_eq!(live.silent_for(at(200), 9), None);
    }

    #[test]
    fn a_restarted_watch_counts_silence_from_its_restart() {
        let mut live = PeerLiveness::new(at(0));
        live.observe(at(0), 4, 1);
        live.observe(at(10), 4, 2);
        assert_eq!(live.silent_for(at(100), 4), Some(90_000));
        live.restart(at(100));
        assert_eq!(live.silent_for(at(130), 4), Some(30_000));
        assert!(!live.has_history(at(130), TIMEOUT));
        assert!(live.has_history(at(160), TIMEOUT));
        // A gap in our reads: silence afresh, history kept.
        live.rewatch(at(200));
        assert_eq!(live.silent_for(at(210), 4), Some(10_000));
        assert!(live.has_history(at(210), TIMEOUT));
    }

    #[test]
    fn silence_is_counted_from_what_we_watched() {
        let mut live = PeerLiveness::new(at(100));
        live.observe(at(100), 4, 1);
        assert_eq!(live.silent_for(at(130), 4), Some(30_000));
        live.forget(4);
        assert_eq!(live.view(4), None);
    }
}
