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
