//! The lease machine, step by step, from several hosts' points of view.

use super::*;

const TIMINGS: LeaseTimings = LeaseTimings {
    settle_ms: 15_000,
    fail_ms: 30_000,
    dead_ms: 60_000,
    claim_window_ms: 15_000,
    renew_gap_max_ms: 50_000,
    fence_after_ms: None,
    defect: None,
};

fn at(secs: u64) -> Millis {
    Millis::from_secs(secs)
}

fn state(kind: LeaseKind, epoch: u64) -> Option<LeaseState> {
    Some(LeaseState { kind, epoch })
}

/// Liveness where each listed peer's heartbeat last changed at the given second.
fn heartbeats(changes: &[(HostId, u64)]) -> PeerLiveness {
    let mut live = PeerLiveness::new(at(0));
    for &(host, secs) in changes {
        live.observe(at(0), host, 0);
        live.observe(at(secs), host, secs + 1);
    }
    live
}

/// Claims at `read`, writes successfully one second later, settles at `read + 17`.
fn claim_and_settle(lease: &mut Lease, read: u64, live: &PeerLiveness) -> ClaimOutcome {
    lease.may_claim(at(read), live).unwrap();
    let published = lease.claim(at(read));
    assert_eq!(published.kind, LeaseKind::Claim);
    lease.published(at(read), at(read + 1), true, read);
    lease.read_own(Some(read));
    assert_eq!(lease.settle(at(read + 15), live), ClaimOutcome::Pending);
    lease.settle(at(read + 17), live)
}

#[test]
fn a_lone_host_claims_settles_and_holds() {
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    assert_eq!(
        lease.published_state(),
        LeaseState {
            kind: LeaseKind::None,
            epoch: 0
        }
    );
    assert_eq!(
        claim_and_settle(&mut lease, 100, &live),
        ClaimOutcome::Won { epoch: 1 }
    );
    assert_eq!(lease.phase(), Phase::Holding { epoch: 1 });
    assert_eq!(
        lease.published_state(),
        LeaseState {
            kind: LeaseKind::Held,
            epoch: 1
        }
    );
    // Valid to start under once the `held` publish read back intact.
    assert!(!lease.valid(at(117)));
    lease.published(at(117), at(118), true, 117);
    lease.read_own(Some(117));
    assert!(lease.valid(at(118)));
    assert_eq!(lease.may_claim(at(117), &live), Err(Blocker::NotIdle));
}

#[test]
fn of_two_equal_claims_exactly_the_lower_host_id_wins() {
    let live = heartbeats(&[(1, 100), (2, 100)]);
    let mut one = Lease::new(1, TIMINGS);
    let mut two = Lease::new(2, TIMINGS);
    // Both read before either claim was visible, so both claim epoch 1.
    one.may_claim(at(100), &live).unwrap();
    two.may_claim(at(100), &live).unwrap();
    let claim_one = one.claim(at(100));
    let claim_two = two.claim(at(100));
    one.published(at(100), at(101), true, 100);
    one.read_own(Some(100));
    two.published(at(100), at(102), true, 100);
    two.read_own(Some(100));
    // The settle read shows each the other's claim.
    one.observe(at(0), 2, Some(claim_two));
    two.observe(at(0), 1, Some(claim_one));
    assert_eq!(one.settle(at(118), &live), ClaimOutcome::Won { epoch: 1 });
    match two.settle(at(118), &live) {
        ClaimOutcome::Lost { reason } => assert!(reason.contains("host 1 claims"), "{reason}"),
        other => panic!("host 2 must lose, got {other:?}"),
    }
    assert_eq!(two.published_state().kind, LeaseKind::None);
    assert_eq!(
        two.published_state().epoch,
        1,
        "withdrawing keeps the epoch"
    );
}

#[test]
fn the_lower_epoch_wins_over_the_lower_host_id() {
    let live = heartbeats(&[(3, 100)]);
    let mut two = Lease::new(2, TIMINGS);
    two.observe(at(0), 3, state(LeaseKind::None, 5));
    two.may_claim(at(100), &live).unwrap();
    assert_eq!(two.claim(at(100)).epoch, 6);
    two.published(at(100), at(101), true, 100);
    two.read_own(Some(100));
    two.observe(at(0), 3, state(LeaseKind::Claim, 5));
    assert!(matches!(
        two.settle(at(120), &live),
        ClaimOutcome::Lost { .. }
    ));
}

#[test]
fn a_held_lease_blocks_until_its_holder_is_silent_for_lease_dead() {
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    let live = heartbeats(&[(1, 100)]);
    let blocked = lease.may_claim(at(159), &live);
    assert_eq!(
        blocked,
        Err(Blocker::Taken {
            host: 1,
            state: LeaseState {
                kind: LeaseKind::Held,
                epoch: 4
            }
        })
    );
    assert!(lease.may_claim(at(160), &live).is_ok());
    assert_eq!(lease.claim(at(160)).epoch, 5, "epochs never go back");
}

#[test]
fn a_claim_of_a_silent_host_blocks_like_a_hold() {
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Claim, 1));
    let live = heartbeats(&[(1, 10)]);
    assert!(lease.may_claim(at(69), &live).is_err());
    assert!(lease.may_claim(at(70), &live).is_ok());
}

#[test]
fn a_released_lease_is_free_at_once() {
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    lease.observe(at(0), 1, state(LeaseKind::None, 4));
    let live = heartbeats(&[(1, 100)]);
    assert!(lease.may_claim(at(101), &live).is_ok());
}

#[test]
fn a_torn_slot_keeps_the_last_valid_state() {
    // The caller observes only valid reads: a torn slot leaves the last state.
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    let live = heartbeats(&[(1, 100)]);
    assert!(lease.may_claim(at(120), &live).is_err());
}

#[test]
fn a_holder_appearing_during_settle_wins_over_our_claim() {
    let live = heartbeats(&[(3, 100)]);
    let mut lease = Lease::new(1, TIMINGS);
    lease.may_claim(at(100), &live).unwrap();
    lease.claim(at(100));
    lease.published(at(100), at(101), true, 100);
    lease.read_own(Some(100));
    lease.observe(at(0), 3, state(LeaseKind::Held, 9));
    assert!(matches!(
        lease.settle(at(116), &live),
        ClaimOutcome::Lost { .. }
    ));
    assert_eq!(lease.phase(), Phase::Idle);
}

#[test]
fn a_claim_written_too_late_after_its_read_is_abandoned() {
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    lease.claim(at(100));
    // The agent stalled between the read and the write.
    lease.published(at(110), at(116), true, 110);
    lease.read_own(Some(110));
    assert_eq!(lease.phase(), Phase::Idle);
    assert_eq!(lease.settle(at(140), &live), ClaimOutcome::Pending);
}

#[test]
fn a_claim_whose_write_failed_is_abandoned() {
    let mut lease = Lease::new(1, TIMINGS);
    lease.claim(at(100));
    lease.published(at(100), at(105), false, 100);
    assert_eq!(lease.phase(), Phase::Idle);
    assert_eq!(lease.last_renewal(), None);
}

#[test]
fn a_holder_that_cannot_renew_must_fence_at_lease_fail() {
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    claim_and_settle(&mut lease, 100, &live);
    lease.published(at(120), at(121), true, 120);
    lease.read_own(Some(120)); // renewal as `held`, read back intact
    assert!(!lease.must_fence(at(149)));
    lease.published(at(130), at(135), false, 130); // storage lost
    assert!(lease.valid(at(149)));
    assert!(lease.must_fence(at(150)));
    assert!(!lease.valid(at(150)));
    lease.release();
    assert!(!lease.must_fence(at(200)));
}

#[test]
fn an_agent_restart_under_a_running_vm_keeps_the_lease() {
    let mut lease = Lease::new(1, TIMINGS);
    lease.adopt(state(LeaseKind::Held, 7), true);
    assert_eq!(lease.phase(), Phase::Holding { epoch: 7 });
    // Until the first renewal succeeds the lease is not valid to act under, and a
    // first publish that fails means fencing.
    assert!(lease.must_fence(at(5)));
    lease.published(at(5), at(6), true, 5);
    lease.read_own(Some(5));
    assert!(lease.valid(at(6)));

    let mut gone = Lease::new(1, TIMINGS);
    gone.adopt(state(LeaseKind::Held, 7), false);
    assert_eq!(gone.phase(), Phase::Idle);
    assert_eq!(
        gone.published_state(),
        LeaseState {
            kind: LeaseKind::None,
            epoch: 7
        }
    );
    assert_eq!(gone.claim(at(10)).epoch, 8);
}

#[test]
fn a_claim_that_does_not_read_back_is_not_decided() {
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    lease.claim(at(100));
    lease.published(at(100), at(101), true, 100);
    // Unconfirmed: settle waits however long it has been.
    assert_eq!(lease.settle(at(200), &live), ClaimOutcome::Pending);
    // Our slot reads back torn: the claim is abandoned.
    lease.read_own(None);
    assert_eq!(lease.phase(), Phase::Idle);
    assert_eq!(lease.last_renewal(), None);
}

#[test]
fn a_held_publish_that_reads_back_torn_renews_nothing() {
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    claim_and_settle(&mut lease, 100, &live);
    lease.published(at(117), at(118), true, 117);
    // Not valid to start under until `held` is seen intact.
    assert!(!lease.valid(at(118)));
    lease.read_own(Some(117));
    assert!(lease.valid(at(118)));
    // Later renewals tear: the optimistic renewal is taken back.
    lease.published(at(127), at(128), true, 127);
    lease.published(at(137), at(138), true, 137);
    lease.read_own(None);
    assert_eq!(lease.last_renewal(), Some(at(117)));
    assert!(lease.must_fence(at(147)));
}

#[test]
fn our_own_slot_is_not_a_rival() {
    let live = heartbeats(&[(1, 100)]);
    let mut lease = Lease::new(1, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Held, 3));
    assert!(lease.may_claim(at(101), &live).is_ok());
}

#[test]
fn timings_come_from_the_configuration() {
    let timings = LeaseTimings::from_timings(&Timings::reference());
    assert_eq!(timings.settle_ms, Timings::reference().lease_settle_ms);
    assert!(timings.settle_ms >= timings.claim_window_ms);
    assert!(timings.dead_ms > timings.fail_ms);
}

#[test]
fn after_a_publish_read_back_torn_only_a_confirmed_one_renews() {
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    claim_and_settle(&mut lease, 100, &live);
    lease.published(at(117), at(118), true, 117);
    lease.read_own(Some(117));
    lease.published(at(127), at(128), true, 127);
    // A third party covered our slot: that publish did not land intact.
    lease.read_own(None);
    assert_eq!(lease.last_renewal(), Some(at(117)));
    // Writes that report success no longer renew on their word alone...
    lease.published(at(137), at(138), true, 137);
    assert_eq!(lease.last_renewal(), Some(at(117)));
    assert!(lease.must_fence(at(147)));
    // ...until one reads back intact.
    lease.read_own(Some(137));
    assert_eq!(lease.last_renewal(), Some(at(137)));
    assert!(!lease.must_fence(at(147)));
}

#[test]
fn a_timed_out_write_that_lands_renews_once_it_reads_back() {
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    claim_and_settle(&mut lease, 100, &live);
    lease.published(at(117), at(118), true, 117);
    lease.read_own(Some(117));
    // The next write timed out (no renewal), yet landed later.
    lease.published(at(127), at(132), false, 127);
    assert_eq!(lease.last_renewal(), Some(at(117)));
    lease.read_own(Some(127));
    assert_eq!(lease.last_renewal(), Some(at(127)));
    // A later write of ours in place of an earlier one confirms the earlier.
    lease.published(at(140), at(141), true, 140);
    lease.published(at(150), at(155), false, 150);
    lease.read_own(Some(150));
    assert_eq!(lease.last_renewal(), Some(at(150)));
}

#[test]
fn a_hold_is_never_released_over_a_vm_not_confirmed_down() {
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    claim_and_settle(&mut lease, 100, &live);
    lease.fence();
    assert_eq!(lease.phase(), Phase::Fencing { epoch: 1 });
    assert_eq!(lease.published_state().kind, LeaseKind::Fencing);
    assert!(lease.published_state().kind.holds());
    assert!(
        !lease.valid(at(118)),
        "no start under a lease being given up"
    );
    lease.release();
    assert_eq!(lease.published_state().kind, LeaseKind::None);
    // The planted defect gives it up at once.
    let mut broken = Lease::new(
        1,
        LeaseTimings {
            defect: Some(LeaseDefect::ReleaseBeforeDown),
            ..TIMINGS
        },
    );
    claim_and_settle(&mut broken, 100, &live);
    broken.fence();
    assert_eq!(broken.phase(), Phase::Idle);
}

#[test]
fn a_fencing_peer_blocks_like_a_holder() {
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Fencing, 4));
    let live = heartbeats(&[(1, 100)]);
    assert!(matches!(
        lease.may_claim(at(150), &live),
        Err(Blocker::Taken { host: 1, .. })
    ));
    assert!(lease.may_claim(at(160), &live).is_ok());
}

#[test]
fn a_peer_with_a_longer_lease_dead_expires_after_it() {
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    lease.observe_dead_ms(1, Some(90_000));
    let live = heartbeats(&[(1, 100)]);
    assert!(lease.may_claim(at(160), &live).is_err());
    assert!(lease.may_claim(at(190), &live).is_ok());
}

#[test]
fn a_forgotten_host_keeps_its_epoch() {
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Held, 7));
    lease.forget(1);
    assert_eq!(lease.highest_epoch(), 7);
}

/// Idle over an engine VM that runs here, our slot says `fencing` (a hold to
/// every other host), also while the VM manager cannot tell, until the VM is
/// seen down; a VM manager that cannot tell says nothing on its own. A claim
/// publishes `claim` as always.
#[test]
fn an_unleased_vm_here_is_published_as_a_hold_until_seen_down() {
    let kind = |lease: &Lease| lease.published_state().kind;
    let live = heartbeats(&[]);
    let mut lease = Lease::new(1, TIMINGS);
    lease.guard(false, true);
    assert_eq!(kind(&lease), LeaseKind::None);
    lease.guard(true, false);
    assert_eq!(kind(&lease), LeaseKind::Fencing);
    lease.guard(false, true);
    assert_eq!(kind(&lease), LeaseKind::Fencing);
    lease.may_claim(at(100), &live).unwrap();
    assert_eq!(lease.claim(at(100)).kind, LeaseKind::Claim);
    lease.release();
    assert_eq!(kind(&lease), LeaseKind::Fencing);
    lease.guard(false, false);
    assert_eq!(kind(&lease), LeaseKind::None);
    lease.guard(false, true);
    assert_eq!(kind(&lease), LeaseKind::None);
}

// Power fencing: host 2 (or 3) fences host 1, which holds epoch 4 and whose
// heartbeat last changed at 100 s; fence-after is 25 s, lease-dead 60 s.

const FENCING: LeaseTimings = LeaseTimings {
    fence_after_ms: Some(25_000),
    ..TIMINGS
};

/// Host 1's hold of epoch 4, the one a fence is made for.
const HOLDER: FenceTarget = FenceTarget { host: 1, epoch: 4 };

/// Host 1's fence device, the only one this host can run.
fn devices() -> BTreeSet<HostId> {
    [1].into()
}

/// Host `me`, with fencing on, seeing host 1 hold epoch 4.
fn fencer(me: HostId) -> Lease {
    let mut lease = Lease::new(me, FENCING);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    lease
}

/// Claims to fence host 1 at `read`, writes one second later, reads the
/// claim back, and settles at `read + 17`.
fn claim_to_fence_and_settle(lease: &mut Lease, read: u64, live: &PeerLiveness) -> ClaimOutcome {
    let target = lease.fence_target(at(read), live, &devices());
    assert_eq!(target, Some(HOLDER), "no fence target at {read}");
    let published = lease.claim_to_fence(at(read), live, HOLDER);
    assert_eq!(published.kind, LeaseKind::Claim);
    lease.published(at(read), at(read + 1), true, read);
    lease.read_own(Some(read));
    assert_eq!(lease.settle(at(read + 15), live), ClaimOutcome::Pending);
    lease.settle(at(read + 17), live)
}

/// Host 2 has won its claim (epoch 5, settled at 142) to fence host 1, silent
/// since 100: its fence runs.
fn evicting() -> (Lease, PeerLiveness) {
    let live = heartbeats(&[(1, 100)]);
    let mut lease = fencer(2);
    assert_eq!(
        claim_to_fence_and_settle(&mut lease, 125, &live),
        ClaimOutcome::Fence {
            epoch: 5,
            target: HOLDER
        }
    );
    (lease, live)
}

fn tried(lease: &Lease) -> Vec<FenceTarget> {
    lease.fence_tried().collect()
}

#[test]
fn a_holder_silent_for_fence_after_is_the_fence_target() {
    let live = heartbeats(&[(1, 100)]);
    let lease = fencer(2);
    assert_eq!(lease.fence_target(at(124), &live, &devices()), None);
    assert_eq!(lease.fence_target(at(125), &live, &devices()), Some(HOLDER));
    assert_eq!(lease.fence_target(at(159), &live, &devices()), Some(HOLDER));
    // Only a host whose device we can run.
    assert_eq!(lease.fence_target(at(125), &live, &[3].into()), None);
    assert_eq!(lease.fence_target(at(125), &live, &BTreeSet::new()), None);
    // Only while we neither claim nor hold.
    let mut claiming = fencer(2);
    claiming.claim_to_fence(at(125), &live, HOLDER);
    assert_eq!(claiming.fence_target(at(130), &live, &devices()), None);
}

#[test]
fn without_fencing_there_is_no_fence_target() {
    let live = heartbeats(&[(1, 100)]);
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    for secs in [125, 140, 159] {
        assert_eq!(lease.fence_target(at(secs), &live, &devices()), None);
    }
}

#[test]
fn two_blockers_are_never_fenced() {
    // Host 3 claims too: live, or as silent as host 1.
    for host3_changed in [120, 100] {
        let live = heartbeats(&[(1, 100), (3, host3_changed)]);
        let mut lease = fencer(2);
        lease.observe(at(0), 3, state(LeaseKind::Claim, 5));
        let devices = [1, 3].into();
        assert_eq!(
            lease.fence_target(at(130), &live, &devices),
            None,
            "host 3 last changed at {host3_changed}"
        );
    }
    // A host that publishes `none` is no blocker.
    let live = heartbeats(&[(1, 100), (3, 120)]);
    let mut lease = fencer(2);
    lease.observe(at(0), 3, state(LeaseKind::None, 3));
    assert_eq!(lease.fence_target(at(130), &live, &devices()), Some(HOLDER));
}

#[test]
fn a_slot_never_read_intact_is_never_fenced_nor_fenced_past() {
    // Host 1's own slot never read intact: nothing known to fence.
    let live = heartbeats(&[]);
    let mut lease = Lease::new(2, FENCING);
    lease.observe_unreadable(at(100), 1);
    assert_eq!(lease.fence_target(at(130), &live, &devices()), None);
    // Host 1 silent, host 3's slot unreadable: it may hide a second hold.
    let live = heartbeats(&[(1, 100)]);
    let mut lease = fencer(2);
    lease.observe_unreadable(at(110), 3);
    assert_eq!(lease.fence_target(at(130), &live, &[1, 3].into()), None);
}

#[test]
fn a_parked_holder_is_never_fenced() {
    let live = heartbeats(&[(1, 100)]);
    let mut lease = fencer(2);
    lease.observe_stopped(1, true);
    assert_eq!(lease.fence_target(at(130), &live, &devices()), None);
    lease.observe_stopped(1, false);
    assert_eq!(lease.fence_target(at(130), &live, &devices()), Some(HOLDER));
}

#[test]
fn an_epoch_tried_once_is_never_fenced_again() {
    let live = heartbeats(&[(1, 100)]);
    let mut lease = fencer(2);
    lease.note_fence_tried(HOLDER);
    assert_eq!(lease.fence_target(at(130), &live, &devices()), None);
    assert_eq!(tried(&lease), [HOLDER]);
    // Another epoch of the same host was tried: this one was not.
    let mut lease = fencer(2);
    lease.note_fence_tried(FenceTarget { host: 1, epoch: 3 });
    assert_eq!(lease.fence_target(at(130), &live, &devices()), Some(HOLDER));
}

#[test]
fn an_older_tried_epoch_learnt_later_does_not_undo_a_newer_one() {
    let live = heartbeats(&[(1, 100)]);
    let mut lease = fencer(2);
    lease.note_fence_tried(HOLDER);
    // Host 3 still publishes the epoch of host 1 it tried long ago.
    lease.note_fence_tried(FenceTarget { host: 1, epoch: 3 });
    assert_eq!(lease.fence_target(at(130), &live, &devices()), None);
    assert!(tried(&lease).contains(&HOLDER), "{:?}", tried(&lease));
}

#[test]
fn a_holder_expired_by_lease_dead_is_not_fenced_but_free() {
    let live = heartbeats(&[(1, 100)]);
    let lease = fencer(2);
    assert_eq!(lease.fence_target(at(159), &live, &devices()), Some(HOLDER));
    assert_eq!(lease.fence_target(at(160), &live, &devices()), None);
    assert!(lease.may_claim(at(160), &live).is_ok());
}

#[test]
fn a_claim_to_fence_a_holder_that_stays_silent_wins_the_fence() {
    let (lease, _) = evicting();
    assert_eq!(
        lease.phase(),
        Phase::Evicting {
            epoch: 5,
            target: HOLDER,
            quiet_since: at(100)
        }
    );
    // Still a claim to every other host while the fence runs.
    assert_eq!(
        lease.published_state(),
        LeaseState {
            kind: LeaseKind::Claim,
            epoch: 5
        }
    );
    assert!(!lease.valid(at(143)));
    assert!(!lease.must_fence(at(200)));
    assert_eq!(lease.superseded_by(), None);
    assert_eq!(tried(&lease), [], "nothing tried before the fence ends");
}

#[test]
fn a_claim_to_fence_a_holder_that_published_meanwhile_loses() {
    let mut live = heartbeats(&[(1, 100)]);
    let mut lease = fencer(2);
    assert_eq!(lease.fence_target(at(125), &live, &devices()), Some(HOLDER));
    lease.claim_to_fence(at(125), &live, HOLDER);
    lease.published(at(125), at(126), true, 125);
    lease.read_own(Some(125));
    // Host 1's heartbeat moves during the settle: it is alive, a hold again.
    live.observe(at(130), 1, 999);
    match lease.settle(at(142), &live) {
        ClaimOutcome::Lost { reason } => assert!(reason.contains("host 1 holds"), "{reason}"),
        other => panic!("must lose to the holder, got {other:?}"),
    }
    assert_eq!(lease.phase(), Phase::Idle);
    assert_eq!(lease.published_state().kind, LeaseKind::None);
}

#[test]
fn a_claim_to_fence_loses_to_a_rival_claim_ordered_before_it() {
    let live = heartbeats(&[(1, 100), (2, 120)]);
    let mut three = fencer(3);
    assert_eq!(three.fence_target(at(125), &live, &devices()), Some(HOLDER));
    three.claim_to_fence(at(125), &live, HOLDER);
    three.published(at(125), at(126), true, 125);
    three.read_own(Some(125));
    // Host 2 claimed epoch 5 too, unseen at our read: (5, 2) < (5, 3).
    three.observe(at(0), 2, state(LeaseKind::Claim, 5));
    match three.settle(at(142), &live) {
        ClaimOutcome::Lost { reason } => assert!(reason.contains("host 2 claims"), "{reason}"),
        other => panic!("host 3 must lose, got {other:?}"),
    }
    assert_eq!(three.phase(), Phase::Idle);
    // A claim ordered after ours does not stop the fence.
    let mut two = fencer(2);
    assert_eq!(two.fence_target(at(125), &live, &devices()), Some(HOLDER));
    two.claim_to_fence(at(125), &live, HOLDER);
    two.published(at(125), at(126), true, 125);
    two.read_own(Some(125));
    two.observe(at(0), 3, state(LeaseKind::Claim, 5));
    let live = heartbeats(&[(1, 100), (3, 120)]);
    assert_eq!(
        two.settle(at(142), &live),
        ClaimOutcome::Fence {
            epoch: 5,
            target: HOLDER
        }
    );
}

#[test]
fn a_claim_to_fence_a_holder_that_expired_meanwhile_wins_as_an_ordinary_claim() {
    let live = heartbeats(&[(1, 100)]);
    let mut lease = fencer(2);
    assert_eq!(lease.fence_target(at(125), &live, &devices()), Some(HOLDER));
    lease.claim_to_fence(at(125), &live, HOLDER);
    lease.published(at(125), at(126), true, 125);
    lease.read_own(Some(125));
    // The settle read comes after host 1's lease-dead (160).
    assert_eq!(lease.settle(at(160), &live), ClaimOutcome::Won { epoch: 5 });
    assert_eq!(lease.phase(), Phase::Holding { epoch: 5 });
    assert_eq!(lease.published_state().kind, LeaseKind::Held);
}

#[test]
fn a_confirmed_fence_of_a_silent_holder_gives_the_lease_at_once() {
    let (mut lease, live) = evicting();
    assert!(lease.fence_done(at(150), &live, true));
    assert_eq!(lease.phase(), Phase::Holding { epoch: 5 });
    assert_eq!(lease.published_state().kind, LeaseKind::Held);
    assert_eq!(
        tried(&lease),
        [HOLDER],
        "a fenced epoch is never fenced again"
    );
    assert_eq!(lease.fenced(at(150), &live), [HOLDER]);
    // Host 1's hold, 50 s silent, counts as expired: no rival to our hold...
    assert_eq!(lease.rival(at(150), &live, 5), None);
    assert!(
        lease
            .expired_leases(at(150), &live)
            .iter()
            .any(|(host, _, _)| *host == 1)
    );
    // ...and no blocker to a claim.
    let mut idle = lease.clone();
    idle.release();
    assert!(idle.may_claim(at(151), &live).is_ok());
    // Only one fence_done counts.
    assert!(!lease.fence_done(at(151), &live, true));
    assert_eq!(lease.phase(), Phase::Holding { epoch: 5 });
}

#[test]
fn a_fenced_holder_that_publishes_again_is_a_holder_again() {
    let (mut lease, mut live) = evicting();
    assert!(lease.fence_done(at(150), &live, true));
    // Host 1 comes back (its heartbeat moves), still at epoch 4.
    live.observe(at(155), 1, 999);
    assert_eq!(lease.fenced(at(156), &live), []);
    assert!(matches!(
        lease.rival(at(156), &live, 5),
        Some(Blocker::Taken { host: 1, .. })
    ));
    let mut idle = lease.clone();
    idle.release();
    assert!(idle.may_claim(at(156), &live).is_err());
    // Then silent at a new epoch: not the host we fenced either.
    let (mut lease, live) = evicting();
    assert!(lease.fence_done(at(150), &live, true));
    lease.observe(at(0), 1, state(LeaseKind::Held, 6));
    assert_eq!(lease.fenced(at(156), &live), []);
}

#[test]
fn a_fence_that_failed_gives_the_claim_up_and_is_not_tried_again() {
    let (mut lease, live) = evicting();
    assert!(!lease.fence_done(at(150), &live, false));
    assert_eq!(lease.phase(), Phase::Idle);
    assert_eq!(
        lease.published_state(),
        LeaseState {
            kind: LeaseKind::None,
            epoch: 5
        }
    );
    assert_eq!(tried(&lease), [HOLDER]);
    assert_eq!(lease.fenced(at(150), &live), []);
    // Host 1 still silent: no second fence; it expires by silence.
    assert_eq!(lease.fence_target(at(151), &live, &devices()), None);
    assert!(lease.may_claim(at(159), &live).is_err());
    assert!(lease.may_claim(at(160), &live).is_ok());
}

#[test]
fn an_off_of_a_holder_that_published_since_the_settle_does_not_count() {
    let (mut lease, mut live) = evicting();
    live.observe(at(145), 1, 999);
    assert!(!lease.fence_done(at(150), &live, true));
    assert_eq!(lease.phase(), Phase::Idle);
    assert_eq!(tried(&lease), [HOLDER]);
    assert_eq!(lease.fenced(at(150), &live), []);
    assert!(lease.may_claim(at(150), &live).is_err());
    // Also when it published a new lease state without a heartbeat we saw.
    let (mut lease, live) = evicting();
    lease.observe(at(0), 1, state(LeaseKind::Held, 6));
    assert!(!lease.fence_done(at(150), &live, true));
    assert_eq!(lease.phase(), Phase::Idle);
    assert_eq!(tried(&lease), [HOLDER]);
}

#[test]
fn a_fence_that_outlasts_the_holders_lease_wins_as_an_ordinary_claim() {
    let (mut lease, live) = evicting();
    assert!(!lease.evicting_expired(at(159), &live));
    assert!(matches!(lease.phase(), Phase::Evicting { .. }));
    assert_eq!(tried(&lease), []);
    assert!(lease.evicting_expired(at(160), &live));
    assert_eq!(lease.phase(), Phase::Holding { epoch: 5 });
    assert_eq!(tried(&lease), [HOLDER]);
    // Not while another host claims before us.
    let (mut lease, mut live) = evicting();
    lease.observe(at(0), 3, state(LeaseKind::Claim, 4));
    live.observe(at(0), 3, 0);
    live.observe(at(150), 3, 1);
    assert!(!lease.evicting_expired(at(160), &live));
    assert!(matches!(lease.phase(), Phase::Evicting { .. }));
    // Only while evicting.
    let mut idle = fencer(2);
    assert!(!idle.evicting_expired(at(200), &live));
    assert_eq!(idle.phase(), Phase::Idle);
}

#[test]
fn a_holder_is_not_superseded_by_a_claim_made_to_fence_it() {
    let holding = || {
        let mut lease = Lease::new(1, FENCING);
        lease.adopt(state(LeaseKind::Held, 4), true);
        lease.observe(at(0), 2, state(LeaseKind::Claim, 5));
        lease
    };
    let claim = Some((
        2,
        LeaseState {
            kind: LeaseKind::Claim,
            epoch: 5,
        },
    ));
    // A claim made to fence us at our epoch: we publish, it will lose.
    let mut lease = holding();
    lease.observe_fence_target(2, Some(HOLDER));
    assert_eq!(lease.superseded_by(), None);
    // Its fence-target gone: an ordinary higher claim supersedes us.
    lease.observe_fence_target(2, None);
    assert_eq!(lease.superseded_by(), claim);
    let mut lease = holding();
    assert_eq!(lease.superseded_by(), claim);
    // A claim made to fence another epoch of ours, or another host.
    for other in [
        FenceTarget { host: 1, epoch: 3 },
        FenceTarget { host: 3, epoch: 4 },
    ] {
        lease.observe_fence_target(2, Some(other));
        assert_eq!(lease.superseded_by(), claim, "{other:?}");
    }
    // Once the fencer holds, we are superseded whatever its target said.
    let mut lease = holding();
    lease.observe_fence_target(2, Some(HOLDER));
    lease.observe(at(0), 2, state(LeaseKind::Held, 5));
    assert_eq!(
        lease.superseded_by(),
        Some((
            2,
            LeaseState {
                kind: LeaseKind::Held,
                epoch: 5
            }
        ))
    );
}

/// The fence needs the holder silent from the claim through the settle: a
/// holder that published once during the settle, then fell silent again for
/// fence-after, is a holder that publishes, and the claim loses.
#[test]
fn a_claim_to_fence_a_holder_that_published_once_during_the_settle_loses() {
    let timings = LeaseTimings {
        fence_after_ms: Some(5_000),
        ..FENCING
    };
    let mut live = heartbeats(&[(1, 100)]);
    let mut lease = Lease::new(2, timings);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    assert_eq!(lease.fence_target(at(125), &live, &devices()), Some(HOLDER));
    lease.claim_to_fence(at(125), &live, HOLDER);
    lease.published(at(125), at(126), true, 125);
    lease.read_own(Some(125));
    live.observe(at(127), 1, 999);
    // Silent again for 15 s at the settle, more than fence-after.
    assert_eq!(live.silent_for(at(142), 1), Some(15_000));
    match lease.settle(at(142), &live) {
        ClaimOutcome::Lost { reason } => assert!(reason.contains("host 1 holds"), "{reason}"),
        other => panic!("must lose to the holder, got {other:?}"),
    }
    // Had it stayed silent, the same claim would have won the fence.
    let live = heartbeats(&[(1, 100)]);
    let mut lease = Lease::new(2, timings);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    lease.claim_to_fence(at(125), &live, HOLDER);
    lease.published(at(125), at(126), true, 125);
    lease.read_own(Some(125));
    assert!(matches!(
        lease.settle(at(142), &live),
        ClaimOutcome::Fence { epoch: 5, .. }
    ));
}

mod handover;
