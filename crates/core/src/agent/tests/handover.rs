//! The lease hand-over in the agent (`crate::lease`, "Hand-over"): the
//! holder that moves its engine away says so and carries on shutting its
//! VM down under a claim made to take over from it; the next host claims
//! while that VM shuts down and starts once the holder released.

use std::vec::Vec;

use super::*;
use crate::agent::{HANDOVER_KEY, TAKEOVER_KEY};

#[test]
fn a_holder_moving_its_engine_away_hands_its_epoch_over_and_keeps_stopping() {
    let mut rig = reach(At::Stop);
    let epoch = rig.agent.lease().epoch();
    let out = rig.step();
    assert_eq!(rig.agent.state(), S::EngineStop);
    assert_eq!(
        out.decision.extra.get(HANDOVER_KEY),
        Some(epoch.to_string().as_str())
    );
    // Peer 1 claims to take the lease over from our epoch: no power-off,
    // the graceful shutdown goes on under our hold.
    rig.peer(1).lease = lease(LeaseKind::Claim, epoch + 1);
    rig.peer(1).extra = vec![(TAKEOVER_KEY, format!("{ME}/{epoch}"))];
    for out in rig.run(3) {
        assert_eq!(rig.agent.state(), S::EngineStop, "{:?}", out.log);
        assert!(!out.actions.contains(&VmAction::PowerOff), "{:?}", out.log);
        assert_eq!(rig.agent.lease().phase(), Phase::Holding { epoch });
    }
    // The same claim without the key supersedes us: powered off at once.
    rig.peer(1).extra = Vec::new();
    let out = rig.step();
    assert_eq!(rig.agent.state(), S::EngineForceStop, "{:?}", out.log);
    assert!(out.actions.contains(&VmAction::PowerOff));
    assert_eq!(
        out.decision.extra.get(HANDOVER_KEY),
        None,
        "a holder that gives its lease up by fencing hands nothing over"
    );
}

#[test]
fn an_engine_that_runs_on_hands_nothing_over() {
    let mut rig = reach(At::Up);
    let out = rig.step();
    assert_eq!(rig.agent.state(), S::EngineUp);
    assert_eq!(out.decision.extra.get(HANDOVER_KEY), None);
}

#[test]
fn the_next_host_claims_while_the_holder_shuts_down_and_starts_once_it_released() {
    let mut rig = reach(At::Down);
    rig.peer(1).lease = lease(LeaseKind::Held, 4);
    rig.peer(1).status = up_good();
    rig.peer(1).score = 1800;
    let out = rig.step();
    assert_eq!(
        rig.agent.state(),
        S::EngineDown,
        "an engine up elsewhere: {:?}",
        out.log
    );
    // Host 1 moves its engine away and says so.
    rig.peer(1).extra = vec![(HANDOVER_KEY, "4".into())];
    let out = rig.step();
    assert!(
        out.logged(
            "host 1 hands the engine VM lease over (epoch 4): claiming it (epoch 5) while its \
             engine VM shuts down"
        ),
        "{:?}",
        out.log
    );
    assert_eq!(rig.agent.state(), S::EngineStart);
    assert_eq!(out.published_lease(), lease(LeaseKind::Claim, 5));
    assert_eq!(out.decision.extra.get(TAKEOVER_KEY), Some("1/4"));
    // The settle, while host 1 still holds and hands over: won, no start.
    let mut won = false;
    for _ in 0..10 {
        let out = rig.step();
        assert_eq!(out.actions, NONE, "{:?}", out.log);
        assert_eq!(rig.agent.state(), S::EngineStart, "{:?}", out.log);
        won |= out.logged("won the claim to take the lease over from host 1");
        if won {
            break;
        }
    }
    assert!(won, "the takeover claim never settled");
    let out = rig.step();
    assert_eq!(out.actions, NONE);
    assert_eq!(out.published_lease(), lease(LeaseKind::Claim, 5));
    assert_eq!(out.decision.extra.get(TAKEOVER_KEY), Some("1/4"));
    // Host 1's VM is down: it releases, and we start under epoch 5.
    rig.peer(1).lease = lease(LeaseKind::None, 4);
    rig.peer(1).status = EngineStatus::new(VmStatus::Down, Health::Bad, "", None);
    rig.peer(1).extra = Vec::new();
    let out = rig.step();
    assert!(
        out.logged("host 1 released the engine VM lease (epoch 4): taking it over"),
        "{:?}",
        out.log
    );
    assert_eq!(out.actions, [start(false, 5)], "{:?}", out.log);
    assert_eq!(rig.agent.state(), S::EngineStarting);
}

#[test]
fn a_holder_that_stops_handing_over_sends_the_next_host_back_down() {
    let mut rig = reach(At::Down);
    rig.peer(1).lease = lease(LeaseKind::Held, 4);
    rig.peer(1).status = up_good();
    rig.peer(1).score = 1800;
    rig.peer(1).extra = vec![(HANDOVER_KEY, "4".into())];
    let out = rig.step();
    assert_eq!(rig.agent.state(), S::EngineStart, "{:?}", out.log);
    rig.peer(1).extra = Vec::new();
    let mut gave_up = false;
    for _ in 0..10 {
        let out = rig.step();
        assert_eq!(out.actions, NONE, "{:?}", out.log);
        if rig.agent.state() == S::EngineDown {
            gave_up = true;
            assert!(
                out.logged("lost the engine VM lease: host 1 holds"),
                "{:?}",
                out.log
            );
            break;
        }
    }
    assert!(gave_up);
    assert_eq!(rig.agent.lease().phase(), Phase::Idle);
}
