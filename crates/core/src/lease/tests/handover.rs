//! The lease hand-over: a claim made while the holder shuts its VM down,
//! taken once the holder lets go.

use super::*;

/// Host `me`, seeing host 1 hold epoch 4 and hand it over.
fn successor(me: HostId, timings: LeaseTimings) -> Lease {
    let mut lease = Lease::new(me, timings);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    lease.observe_handover(1, Some(4));
    lease
}

/// Claims to take the lease over from host 1 at `read`, writes one second
/// later, reads the claim back, and settles at `read + 17`.
fn claim_to_take_over_and_settle(
    lease: &mut Lease,
    read: u64,
    live: &PeerLiveness,
) -> ClaimOutcome {
    assert_eq!(lease.takeover_target(at(read), live), Some(HOLDER));
    let published = lease.claim_to_take_over(at(read), HOLDER);
    assert_eq!(published.kind, LeaseKind::Claim);
    lease.published(at(read), at(read + 1), true, read);
    lease.read_own(Some(read));
    assert_eq!(lease.settle(at(read + 15), live), ClaimOutcome::Pending);
    lease.settle(at(read + 17), live)
}

/// Host 2 has won its claim (epoch 5, settled at 117) to take the lease over
/// from host 1, which publishes every second and still shuts its VM down.
fn succeeding() -> (Lease, PeerLiveness) {
    let live = heartbeats(&[(1, 116)]);
    let mut lease = successor(2, TIMINGS);
    assert_eq!(
        claim_to_take_over_and_settle(&mut lease, 100, &live),
        ClaimOutcome::TakeOver {
            epoch: 5,
            from: HOLDER
        }
    );
    assert_eq!(
        lease.phase(),
        Phase::Succeeding {
            epoch: 5,
            from: HOLDER
        }
    );
    assert_eq!(lease.published_state().kind, LeaseKind::Claim);
    (lease, live)
}

#[test]
fn only_a_holder_that_hands_its_epoch_over_is_a_takeover_target() {
    let live = heartbeats(&[(1, 100)]);
    let mut lease = Lease::new(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Held, 4));
    assert_eq!(lease.takeover_target(at(100), &live), None);
    // Another epoch than the one it holds: nothing.
    lease.observe_handover(1, Some(3));
    assert_eq!(lease.takeover_target(at(100), &live), None);
    lease.observe_handover(1, Some(4));
    assert_eq!(lease.takeover_target(at(100), &live), Some(HOLDER));
    // A second blocker: nothing (the claim would only lose to it).
    lease.observe(at(0), 3, state(LeaseKind::Claim, 5));
    let live = heartbeats(&[(1, 100), (3, 100)]);
    assert_eq!(lease.takeover_target(at(100), &live), None);
    // A holder that gives its lease up by fencing hands nothing over.
    let mut lease = successor(2, TIMINGS);
    lease.observe(at(0), 1, state(LeaseKind::Fencing, 4));
    assert_eq!(lease.takeover_target(at(100), &live), None);
    // Nor a parked one.
    let mut lease = successor(2, TIMINGS);
    lease.observe_stopped(1, true);
    assert_eq!(lease.takeover_target(at(100), &live), None);
}

#[test]
fn a_won_takeover_holds_only_once_the_holder_releases() {
    let (mut lease, mut live) = succeeding();
    let none = BTreeSet::new();
    // The holder goes on publishing while its VM shuts down: we wait.
    for t in 118..130 {
        live.observe(at(t), 1, t);
        assert_eq!(lease.succeed(at(t), &live, &none), Succession::Waiting);
        assert!(!lease.valid(at(t)));
    }
    lease.observe(at(130), 1, state(LeaseKind::None, 4));
    lease.observe_handover(1, None);
    assert_eq!(
        lease.succeed(at(130), &live, &none),
        Succession::Won { epoch: 5 }
    );
    assert_eq!(lease.phase(), Phase::Holding { epoch: 5 });
}

#[test]
fn a_holder_that_released_before_the_settle_makes_it_an_ordinary_win() {
    let live = heartbeats(&[(1, 110)]);
    let mut lease = successor(2, TIMINGS);
    assert_eq!(lease.takeover_target(at(100), &live), Some(HOLDER));
    lease.claim_to_take_over(at(100), HOLDER);
    lease.published(at(100), at(101), true, 100);
    lease.read_own(Some(100));
    lease.observe(at(110), 1, state(LeaseKind::None, 4));
    lease.observe_handover(1, None);
    assert_eq!(lease.settle(at(117), &live), ClaimOutcome::Won { epoch: 5 });
}

#[test]
fn a_holder_that_stops_handing_over_makes_the_claim_lose_or_give_up() {
    // Before the settle: the claim loses to the hold.
    let live = heartbeats(&[(1, 116)]);
    let mut lease = successor(2, TIMINGS);
    lease.claim_to_take_over(at(100), HOLDER);
    lease.published(at(100), at(101), true, 100);
    lease.read_own(Some(100));
    lease.observe_handover(1, None);
    match lease.settle(at(117), &live) {
        ClaimOutcome::Lost { reason } => assert!(reason.contains("host 1 holds"), "{reason}"),
        other => panic!("must lose to the holder, got {other:?}"),
    }
    // After it: the won hand-over is given up, never taken.
    let (mut lease, live) = succeeding();
    lease.observe_handover(1, None);
    match lease.succeed(at(118), &live, &BTreeSet::new()) {
        Succession::GaveUp { reason } => {
            assert!(reason.contains("no longer hands"), "{reason}")
        }
        other => panic!("must give up, got {other:?}"),
    }
    assert_eq!(lease.phase(), Phase::Idle);
    assert_eq!(lease.published_state().kind, LeaseKind::None);
}

#[test]
fn a_holder_silent_while_handing_over_is_waited_out_or_fenced() {
    // Without its device: waited for until its lease expires by silence.
    let (mut lease, live) = succeeding();
    assert_eq!(
        lease.succeed(at(170), &live, &BTreeSet::new()),
        Succession::Waiting
    );
    assert_eq!(
        lease.succeed(at(176), &live, &BTreeSet::new()),
        Succession::Won { epoch: 5 },
        "60 s of silence from 116"
    );
    // With fencing and its device: given up after fence-after, to fence it.
    let live = heartbeats(&[(1, 116)]);
    let mut lease = successor(2, FENCING);
    assert!(matches!(
        claim_to_take_over_and_settle(&mut lease, 100, &live),
        ClaimOutcome::TakeOver { .. }
    ));
    assert_eq!(
        lease.succeed(at(140), &live, &devices()),
        Succession::Waiting
    );
    match lease.succeed(at(141), &live, &devices()) {
        Succession::GaveUp { reason } => assert!(reason.contains("fell silent"), "{reason}"),
        other => panic!("must give up to fence, got {other:?}"),
    }
    assert_eq!(lease.fence_target(at(141), &live, &devices()), Some(HOLDER));
}

#[test]
fn a_rival_claim_ordered_before_ours_ends_the_takeover() {
    let (mut lease, live) = succeeding();
    let live = {
        let mut live = live;
        live.observe(at(0), 3, 0);
        live.observe(at(118), 3, 1);
        live
    };
    lease.observe(at(118), 3, state(LeaseKind::Claim, 4));
    assert!(matches!(
        lease.succeed(at(118), &live, &BTreeSet::new()),
        Succession::GaveUp { .. }
    ));
}

#[test]
fn the_holder_does_not_take_a_claim_to_take_over_from_it_for_a_superseding_one() {
    let mut holder = Lease::new(1, TIMINGS);
    holder.adopt(state(LeaseKind::Held, 4), true);
    assert_eq!(holder.phase(), Phase::Holding { epoch: 4 });
    holder.observe(at(100), 2, state(LeaseKind::Claim, 5));
    holder.observe_takeover(2, Some(HOLDER));
    assert_eq!(holder.superseded_by(), None);
    // A claim to take over another epoch of ours supersedes us as any.
    holder.observe_takeover(2, Some(FenceTarget { host: 1, epoch: 3 }));
    assert_eq!(
        holder.superseded_by(),
        Some((
            2,
            LeaseState {
                kind: LeaseKind::Claim,
                epoch: 5
            }
        ))
    );
}

#[test]
fn the_planted_take_over_early_defect_holds_at_the_settle() {
    let live = heartbeats(&[(1, 116)]);
    let mut lease = successor(
        2,
        LeaseTimings {
            defect: Some(LeaseDefect::TakeOverEarly),
            ..TIMINGS
        },
    );
    assert_eq!(
        claim_to_take_over_and_settle(&mut lease, 100, &live),
        ClaimOutcome::Won { epoch: 5 }
    );
}
