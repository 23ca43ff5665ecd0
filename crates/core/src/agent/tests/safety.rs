//! The lease's defences against a hostile or broken shared storage and a
//! stalled agent (issue 13): each test drives host 2's core through real
//! loops and checks what it claims, starts and publishes.

use std::{string::ToString, vec::Vec};

use super::*;

/// Host 1 holds the lease (epoch 4) and beats; host 2 (us) is down with a
/// full history; host 3 idles.
fn with_holder() -> Rig {
    let mut rig = reach(At::Fresh);
    rig.peer(1).lease = lease(LeaseKind::Held, 4);
    rig.peer(1).status = up_good();
    rig.peer(1).seq = Some(100);
    rig.run(7);
    assert_eq!(rig.agent.state(), S::EngineDown);
    rig
}

/// What the rig's next loop would observe, with `area` read.
fn observation<'a>(rig: &Rig, area: &'a Area) -> Observation<'a> {
    Observation {
        now: rig.now,
        wall_unix: WALL_UNIX,
        utc_offset_secs: 0,
        area: Some(area),
        local_vm: rig.vm,
        sensors: rig.sensors.clone(),
        local_maintenance: false,
        requests: Vec::new(),
        results: Vec::new(),
        fence: None,
    }
}

fn claimed(out: &Outcome) -> bool {
    out.published_lease().kind == LeaseKind::Claim
}

#[test]
fn an_emptied_holder_slot_blocks_until_silent_for_lease_dead() {
    let mut rig = with_holder();
    // The holder's slot is zeroed and its heartbeat stops with it.
    rig.peers.remove(&1);
    let outs = rig.run(5); // 70..110: less than lease-dead (60 s) of silence
    assert!(outs.iter().all(|o| !claimed(o)), "claimed on an empty slot");
    // Silence reaches lease-dead: the lease is free like any silent holder's.
    let outs = rig.run(3);
    assert!(outs.iter().any(claimed), "{:?}", outs.last().unwrap().log);
    assert_eq!(
        rig.agent.lease().epoch(),
        5,
        "the holder's epoch is not forgotten"
    );
}

#[test]
fn a_slot_never_read_intact_blocks_until_silent_for_lease_dead() {
    let mut rig = reach(At::Fresh);
    let torn = SlotError::Torn {
        stored: 1,
        computed: 2,
    };
    rig.raw_peers.insert(1, Err(torn));
    let outs = rig.run(6); // 0..50: host 1 unread, less than lease-dead
    assert!(outs.iter().all(|o| !claimed(o)));
    let out = rig.step(); // 60: unread (silent) for lease-dead
    assert!(claimed(&out), "{:?}", out.log);
}

#[test]
fn a_late_write_of_a_holder_is_not_news() {
    let mut rig = with_holder();
    // An old write of host 1 (lease none, lower sequence) lands over its slot.
    let mut old = rig.peers[&1].clone();
    old.lease = lease(LeaseKind::None, 3);
    old.status = EngineStatus::new(VmStatus::Down, Health::Bad, "unknown", None);
    old.seq = Some(50);
    old.host_ts = 1;
    old.beating = false;
    rig.raw_peers.insert(1, Ok(peer_slot(1, &old)));
    let outs = rig.run(4);
    assert!(outs.iter().all(|o| !claimed(o)), "claimed on a late write");
    assert_eq!(rig.agent.state(), S::EngineDown);
}

#[test]
fn implausible_epochs_are_refused_and_logged_once() {
    let mut rig = reach(At::Fresh);
    rig.peer(3).epoch_seen = u64::MAX;
    let outs = rig.run(7);
    let logged = outs
        .iter()
        .flat_map(|o| &o.log)
        .filter(|l| l.contains("implausible lease-epoch-seen"))
        .count();
    assert_eq!(logged, 1, "logged once");
    assert_eq!(rig.agent.implausible_epochs().get(&3), Some(&u64::MAX));
    // The next claim takes the next sane epoch.
    let outs = rig.run(3);
    let claim = outs.iter().find(|o| claimed(o)).expect("a claim");
    assert_eq!(claim.published_lease().epoch, 1);
    assert!(rig.agent.lease().highest_epoch() < 1 << 48);
}

#[test]
fn an_implausible_lease_epoch_blocks_like_an_unread_slot() {
    let mut rig = reach(At::Fresh);
    rig.peer(1).lease = lease(LeaseKind::Held, u64::MAX);
    let outs = rig.run(7);
    assert!(outs.iter().all(|o| !claimed(o)));
    assert!(
        outs.iter()
            .flat_map(|o| &o.log)
            .any(|l| l.contains("implausible lease epoch 18446744073709551615"))
    );
    assert_eq!(rig.agent.lease().highest_epoch(), 0);
}

#[test]
fn our_sequence_continues_above_one_we_never_wrote() {
    let mut rig = reach(At::Down);
    let out = rig.step();
    let ours = out.decision.extra.seq().unwrap();
    // A third party writes our slot with a sequence far ahead.
    let mut forged = rig.own.clone().unwrap();
    let mut extra = Extra::new();
    for (k, v) in forged.extra.entries() {
        if k != crate::metadata::SEQ_KEY {
            extra.push(k, v);
        }
    }
    extra.push(crate::metadata::SEQ_KEY, (ours + 1_000_000).to_string());
    forged = through_codec(ME, &forged.record, &extra);
    rig.own = Some(forged);
    let out = rig.step();
    assert!(out.logged("which we never wrote: continuing above it"));
    assert_eq!(out.decision.extra.seq(), Some(ours + 1_000_001));
}

#[test]
fn a_new_agent_starts_its_sequence_far_above_its_predecessors() {
    let mut rig = reach(At::Down);
    let before = rig.step().decision.extra.seq().unwrap();
    let mut cfg = Rig::config();
    cfg.seq_floor = before - 10;
    rig.agent = Agent::new(cfg, rig.now);
    let out = rig.step();
    let after = out.decision.extra.seq().unwrap();
    assert!(after > before + (1 << 31), "{before} -> {after}");
    assert_eq!(rig.agent.floors().unwrap().seq, after - 1);
}

#[test]
fn no_claim_against_a_live_host_on_other_lease_timings() {
    let mut rig = reach(At::Fresh);
    rig.peer(1).lease_timings = Some("30000/90000/15000/15000".into());
    let outs = rig.run(9);
    assert!(outs.iter().all(|o| !claimed(o)));
    let logged = outs
        .iter()
        .flat_map(|o| &o.log)
        .filter(|l| l.contains("host 1 runs on other lease timings"))
        .count();
    assert!(logged >= 1, "{:?}", outs.last().unwrap().log);
    assert_eq!(rig.agent.lease_timings_mismatch(), Some(1));
    // Once it agrees, the claim goes ahead.
    rig.peer(1).lease_timings = None;
    let outs = rig.run(3);
    assert!(outs.iter().any(claimed));
}

#[test]
fn a_won_lease_is_not_started_beside_a_hold_seen_at_its_read_back() {
    let mut rig = reach(At::Settled); // settle due at this loop
    // Host 3's hold appears only in the read-back after our `held` publish.
    let area_peer = {
        let mut p = rig.peers[&3].clone();
        p.lease = lease(LeaseKind::Held, 9);
        p.host_ts += 5;
        p
    };
    let area = rig.area();
    let obs = observation(&rig, &area);
    let decision = rig.agent.step(&obs);
    let actions = rig.agent.after_publish(rig.now, rig.now + WRITE_MS, true);
    assert!(actions.is_empty());
    assert!(rig.agent.wants_readback(), "{:?}", decision.log);
    let own = through_codec(ME, &decision.record, &decision.extra);
    let mut readback = area.clone();
    readback.hosts.insert(ME, Ok(own));
    readback.hosts.insert(3, Ok(peer_slot(3, &area_peer)));
    let started = rig.agent.readback(Some(&readback), rig.now + 2 * WRITE_MS);
    assert!(started.is_empty(), "started beside a hold");
    assert!(
        rig.agent
            .drain_log()
            .iter()
            .any(|l| l.contains("host 3 holds the lease (epoch 9)"))
    );
    assert_eq!(rig.agent.lease().phase(), Phase::Idle);
    assert_eq!(rig.agent.state(), S::EngineDown);
}

#[test]
fn a_renewal_written_too_late_to_land_before_lease_dead_renews_nothing() {
    let mut rig = reach(At::Up); // last renewal: the publish at 90
    // The agent stalls between its read and its write: the write starts 50 s
    // after the last renewal (lease-dead 60 - 2 x storage timeout 5).
    let area = rig.area();
    let obs = observation(&rig, &area);
    let decision = rig.agent.step(&obs);
    assert!(decision.publish, "the write below publishes this decision");
    let late = Millis::from_secs(140);
    let actions = rig.agent.after_publish(late, late + WRITE_MS, true);
    assert_eq!(actions, [VmAction::PowerOff]);
    assert_eq!(rig.agent.lease().phase(), Phase::Fencing { epoch: 1 });
    assert!(!rig.agent.start_still_valid(late));
}

#[test]
fn after_a_gap_in_our_reads_an_unreadable_peer_blocks_the_lease() {
    let mut rig = with_holder();
    // Host 1 releases; we read that, then our reads fail for a while.
    rig.peer(1).lease = lease(LeaseKind::None, 4);
    rig.peer(1).status = EngineStatus::new(VmStatus::Down, Health::Bad, "unknown", None);
    rig.step();
    rig.read_ok = false;
    rig.run(3);
    // Back: host 1's slot reads torn now. It may have taken the lease again
    // while we were away: no claim until it has been silent for lease-dead.
    rig.read_ok = true;
    rig.peers.remove(&1);
    let torn = SlotError::Torn {
        stored: 1,
        computed: 2,
    };
    rig.raw_peers.insert(1, Err(torn));
    let outs = rig.run(6);
    assert!(outs[0].logged("silence counts afresh from now"));
    assert!(outs.iter().all(|o| !claimed(o)), "{:?}", outs[5].log);
    let outs = rig.run(2);
    assert!(outs.iter().any(claimed));
}

/// A keeper core: renews a held lease over the running VM with the keeper
/// marker, fences when superseded, and is done once the VM is down.
#[test]
fn a_keeper_renews_the_lease_until_the_vm_is_down() {
    let mut rig = reach(At::Up);
    let (stopped, _) = rig.agent.stopped_publication(rig.now, WALL_UNIX, 0, true);
    assert!(stopped.stopped);
    let cfg = CoreConfig {
        keeper: true,
        ..Rig::config()
    };
    rig.agent = Agent::new(cfg, rig.now);
    let outs = rig.run(3);
    for out in &outs {
        assert_eq!(out.decision.extra.get("lease-keeper"), Some("1"));
        assert_eq!(out.decision.extra.get("state"), Some("AgentStopped"));
        assert!(out.decision.record.stopped);
        assert_eq!(out.published_lease(), lease(LeaseKind::Held, 1));
        assert!(out.actions.is_empty());
    }
    assert!(!rig.agent.keeper_done());
    // No request, no state machine: an operator's start is not a keeper's.
    rig.requests.push(Request::ShutdownVm);
    assert!(rig.step().actions.is_empty());
    // The VM goes down: nothing left to keep.
    rig.vm_gone();
    let out = rig.step();
    assert_eq!(out.published_lease(), lease(LeaseKind::None, 1));
    assert!(out.logged("nothing left to keep"));
    assert!(rig.agent.keeper_done());
}

#[test]
fn a_superseded_keeper_powers_the_vm_off_and_holds_on_until_it_is_down() {
    let mut rig = reach(At::Up);
    let cfg = CoreConfig {
        keeper: true,
        ..Rig::config()
    };
    rig.agent = Agent::new(cfg, rig.now);
    rig.run(2);
    rig.peer(3).lease = lease(LeaseKind::Held, 2);
    let out = rig.step();
    assert_eq!(out.actions, POWEROFF);
    assert_eq!(out.published_lease(), lease(LeaseKind::Fencing, 1));
    assert!(!rig.agent.keeper_done());
    rig.vm_gone();
    rig.step();
    assert!(rig.agent.keeper_done());
}

/// Two loops with reads, three without (a gap in our reads), then reads
/// again from the next step on.
fn gap_in_reads(rig: &mut Rig) {
    rig.run(2);
    rig.read_ok = false;
    rig.run(3);
    rig.read_ok = true;
}

/// After a gap in our reads, a peer's first new publish may be a write of
/// its that landed late, covering newer ones we never saw (seed 35699: a
/// stale `none` over a live holder): what a peer says counts again only from
/// a second new publish of the same agent.
#[test]
fn after_a_gap_a_peers_first_new_publish_is_not_believed_alone() {
    let mut rig = reach(At::Down); // t=60, history full, engine nowhere
    rig.peer(1).seq = Some(10);
    gap_in_reads(&mut rig);
    // Back: host 1's slot shows `none` with a sequence we have not seen: a
    // late write, as it happens. One loop later it publishes what it is now.
    rig.peer(1).seq = Some(30);
    rig.peer(1).beating = true;
    let out = rig.step();
    assert!(out.logged("silence counts afresh from now"));
    assert!(!claimed(&out), "claimed on a first publish after the gap");
    rig.peer(1).lease = lease(LeaseKind::Held, 6);
    rig.peer(1).status = up_good();
    let outs = rig.run(8);
    assert!(
        outs.iter().all(|o| !claimed(o)),
        "claimed against the holder"
    );
    // A peer that really holds nothing: the claim waits for its second
    // publish, then goes ahead.
    let mut rig = reach(At::Down);
    gap_in_reads(&mut rig);
    let first = rig.step();
    assert!(!claimed(&first));
    let outs = rig.run(2);
    assert!(outs.iter().any(claimed), "{:?}", outs[1].log);
}

/// Two agents of a host, each killed while its write hung, may land their
/// late writes one after the other: the second is new, but not in order
/// after the first (a later agent numbers its writes `SEQ_RESTART_GAP`
/// higher), so neither makes what the host says count again.
#[test]
fn after_a_gap_late_writes_of_two_dead_agents_are_not_believed() {
    let mut rig = reach(At::Down);
    rig.peer(1).seq = Some(10);
    gap_in_reads(&mut rig);
    rig.peer(1).beating = false;
    rig.peer(1).seq = Some(30);
    rig.peer(1).host_ts += 1;
    let out = rig.step();
    assert!(out.logged("silence counts afresh from now"));
    // The next dead agent's late write, then the live holder's publishes.
    rig.peer(1).seq = Some(30 + SEQ_RESTART_GAP);
    rig.peer(1).host_ts += 1;
    let out = rig.step();
    assert!(!claimed(&out), "claimed on two dead agents' late writes");
    rig.peer(1).seq = Some(30 + 2 * SEQ_RESTART_GAP);
    rig.peer(1).beating = true;
    rig.peer(1).lease = lease(LeaseKind::Held, 6);
    rig.peer(1).status = up_good();
    let outs = rig.run(8);
    assert!(
        outs.iter().all(|o| !claimed(o)),
        "claimed against the holder"
    );
}

/// What a fresh agent reads of a host for the first time may be a late write
/// over a live holder's slot, whose agent then cannot write again (it fences
/// itself by lease-fail): a static first read counts only once silent for
/// lease-dead, not after the host-alive history (12 s on the defaults, below
/// the 40 s of lease-dead: scenario hole4-late-write-at-start).
#[test]
fn a_fresh_agent_does_not_believe_a_static_first_read() {
    let mut cfg = Rig::config();
    cfg.timings = Timings::default();
    let dead_ms = cfg.timings.lease_dead_ms;
    let mut rig = Rig::new(cfg);
    rig.peer(1).seq = Some(10);
    rig.peer(1).beating = false;
    while rig.now.as_millis() < dead_ms {
        let out = rig.step();
        assert!(!claimed(&out), "claimed at {:?}: {:?}", rig.now, out.log);
    }
    let outs = rig.run(10);
    assert!(
        outs.iter().any(claimed),
        "never claimed once host 1 was silent"
    );
}

/// A VM found running here without our lease is not powered off while a
/// host is only unknown for a loop (read for the first time): the agent waits
/// for that host's next publish, then takes the lease for the VM. Meanwhile
/// its slot says `fencing`, never `none`: a host that read `none` could start
/// a second engine beside this one (seed 26803 of the reference timings).
#[test]
fn an_unleased_vm_waits_for_a_first_read_peer_rather_than_powering_off() {
    let mut rig = Rig::new(Rig::config());
    rig.vm = present(VmManagerStatus::Up);
    let outs = rig.run(3);
    assert_eq!(
        outs[0].published_lease().kind,
        LeaseKind::Fencing,
        "{:?}",
        outs[0].log
    );
    assert!(
        outs.iter().all(|o| o.actions.is_empty()),
        "{:?}",
        outs.iter().map(|o| &o.log).collect::<Vec<_>>()
    );
    assert!(
        outs.iter()
            .any(|o| o.logged("engine VM runs here without the lease: claiming it")),
        "{:?}",
        outs.iter().map(|o| &o.log).collect::<Vec<_>>()
    );
}
