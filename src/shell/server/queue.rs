//! The VM requests waiting for the agent's loop, each with its caller's
//! deadline (issue 13, item 7: an operator's request never outlives its
//! caller).
//!
//! A connection thread queues a request and waits; the loop takes the queue at
//! the start of a tick. Under one lock, each request ends exactly one way:
//! taken by the loop before its deadline (the caller is told `accepted`),
//! dropped by the loop because its deadline passed (the caller, if it still
//! listens, is told `expired`), or withdrawn by its waiting thread at the
//! deadline (`expired`; the loop never sees it). So a caller told that the
//! request expired can be sure the loop never gets it, and a caller told that
//! it was accepted knows the loop has it.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use super::lock;
use crate::core::Millis;
use crate::proto::{ErrorCode, RemoteError};

/// VM requests waiting for the loop (or for their callers to be told), at most.
pub const REQUEST_QUEUE_MAX: usize = 16;
/// Longest single wait of a waiting thread before it reads the clock again:
/// the condition variable waits on `CLOCK_MONOTONIC`, deadlines are on
/// `CLOCK_BOOTTIME`, which runs on while the host is suspended.
const WAIT_SLICE: Duration = Duration::from_secs(1);

/// A VM request as the server hands it to the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmRequest {
    pub request: crate::core::Request,
    /// Its protocol kind (`vm-poweroff`), for messages and the log.
    pub kind: &'static str,
    /// The latest time the loop may take it, on the agent's clock.
    pub deadline: Millis,
}

/// The queue; every method is bounded in time (the waiting one by the
/// request's deadline).
#[derive(Default)]
pub struct RequestQueue {
    state: Mutex<Queue>,
    /// Notified whenever the loop has taken or dropped requests.
    settled: Condvar,
}

#[derive(Default)]
struct Queue {
    next_ticket: u64,
    entries: VecDeque<Entry>,
}

struct Entry {
    ticket: u64,
    vm: VmRequest,
    stage: Stage,
}

/// Where a queued request is; only the loop moves it out of `Queued`, only its
/// waiting thread removes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Queued,
    Taken,
    /// The loop found its deadline passed (by that many ms).
    Dropped {
        late_ms: u64,
    },
}

/// A queued request's place, held by the thread that waits for it: dropping
/// it (however the thread ends) removes the request, so that nothing is left
/// for the loop that its caller was not told about.
pub struct Ticket<'a> {
    queue: &'a RequestQueue,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.queue.state);
        state.entries.retain(|e| e.ticket != self.id);
    }
}

impl RequestQueue {
    /// Queues `vm`; `busy` when the queue is full.
    pub fn push(&self, vm: VmRequest) -> Result<Ticket<'_>, RemoteError> {
        let mut state = lock(&self.state);
        if state.entries.len() >= REQUEST_QUEUE_MAX {
            return Err(RemoteError::new(
                ErrorCode::Busy,
                format!("{REQUEST_QUEUE_MAX} requests already wait for the agent's loop"),
            ));
        }
        let id = state.next_ticket;
        state.next_ticket += 1;
        state.entries.push_back(Entry {
            ticket: id,
            vm,
            stage: Stage::Queued,
        });
        Ok(Ticket { queue: self, id })
    }

    /// The loop's side, at `now`: every queued request whose deadline has
    /// not passed, oldest first; the others are dropped, with a warning each.
    /// Their waiting threads are woken to tell their callers.
    pub fn take(&self, now: Millis) -> Vec<crate::core::Request> {
        let mut taken = Vec::new();
        let mut dropped = Vec::new();
        let mut state = lock(&self.state);
        for entry in state
            .entries
            .iter_mut()
            .filter(|e| e.stage == Stage::Queued)
        {
            if now < entry.vm.deadline {
                entry.stage = Stage::Taken;
                taken.push(entry.vm.request);
            } else {
                let late_ms = now.since(entry.vm.deadline);
                entry.stage = Stage::Dropped { late_ms };
                dropped.push((entry.vm.kind, late_ms));
            }
        }
        drop(state);
        if !taken.is_empty() || !dropped.is_empty() {
            self.settled.notify_all();
        }
        for (kind, late_ms) in dropped {
            tracing::warn!(
                "dropped {kind}: its deadline passed {} ago, its caller has given up",
                secs_text(late_ms)
            );
        }
        taken
    }

    /// Whether requests wait for the loop.
    pub fn has_queued(&self) -> bool {
        lock(&self.state)
            .entries
            .iter()
            .any(|e| e.stage == Stage::Queued)
    }

    /// Waits until the loop has taken the request (`Ok`), or it cannot be
    /// taken any more: the loop dropped it, or its deadline passed on
    /// `clock` while it waited, and it is withdrawn (`expired` either way).
    pub fn wait(&self, ticket: Ticket<'_>, clock: &dyn Fn() -> Millis) -> Result<(), RemoteError> {
        let mut withdrawn = None;
        let mut state = lock(&self.state);
        let outcome = loop {
            // Only the ticket removes its entry, and it lives until we return.
            let Some(entry) = state.entries.iter().find(|e| e.ticket == ticket.id) else {
                unreachable!("a waited-for request left the queue");
            };
            let vm = entry.vm;
            match entry.stage {
                Stage::Taken => break Ok(()),
                Stage::Dropped { late_ms } => break Err(dropped_error(&vm, late_ms)),
                Stage::Queued => {}
            }
            let now = clock();
            if now >= vm.deadline {
                // Under the lock: the loop cannot take it any more.
                state.entries.retain(|e| e.ticket != ticket.id);
                withdrawn = Some(vm.kind);
                break Err(withdrawn_error(&vm));
            }
            let left = Duration::from_millis(vm.deadline.since(now)).min(WAIT_SLICE);
            state = self
                .settled
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        drop(state);
        drop(ticket);
        // Logged outside the lock, which the loop takes each tick.
        if let Some(kind) = withdrawn {
            tracing::warn!("withdrew {kind}: the agent's loop did not take it by its deadline");
        }
        outcome
    }
}

fn dropped_error(vm: &VmRequest, late_ms: u64) -> RemoteError {
    RemoteError::new(
        ErrorCode::Expired,
        format!(
            "{}: the agent's loop reached it {} after its deadline and dropped it; nothing was done",
            vm.kind,
            secs_text(late_ms)
        ),
    )
}

fn withdrawn_error(vm: &VmRequest) -> RemoteError {
    RemoteError::new(
        ErrorCode::Expired,
        format!(
            "{}: the agent's loop did not take it by its deadline (is it stuck on storage?); \
             withdrawn, nothing was done",
            vm.kind
        ),
    )
}

/// `38.2 s`.
pub(super) fn secs_text(ms: u64) -> String {
    format!("{}.{} s", ms / 1000, ms % 1000 / 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Request;

    fn poweroff(deadline_ms: u64) -> VmRequest {
        VmRequest {
            request: Request::PowerOffVm,
            kind: "vm-poweroff",
            deadline: Millis(deadline_ms),
        }
    }

    #[test]
    fn the_loop_takes_live_requests_and_drops_late_ones() {
        let q = RequestQueue::default();
        let late = q.push(poweroff(1_000)).unwrap();
        let live = q
            .push(VmRequest {
                request: Request::StartVm { paused: true },
                kind: "vm-start",
                deadline: Millis(5_000),
            })
            .unwrap();
        assert!(q.has_queued());
        // At its deadline a request is late: the loop must take it before.
        assert_eq!(q.take(Millis(1_000)), [Request::StartVm { paused: true }]);
        assert!(!q.has_queued());
        assert_eq!(q.take(Millis(1_000)), []);
        let e = q.wait(late, &|| Millis(1_000)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Expired);
        assert!(e.message.starts_with("vm-poweroff: "), "{}", e.message);
        assert!(
            e.message.contains("0.0 s after its deadline"),
            "{}",
            e.message
        );
        assert!(e.message.ends_with("nothing was done"), "{}", e.message);
        // Taken: its caller is told so, even after the deadline passed.
        assert_eq!(q.wait(live, &|| Millis(9_000)), Ok(()));
        assert!(lock(&q.state).entries.is_empty());
    }

    #[test]
    fn a_request_not_taken_by_its_deadline_is_withdrawn_for_good() {
        let q = RequestQueue::default();
        let ticket = q.push(poweroff(2_000)).unwrap();
        let e = q.wait(ticket, &|| Millis(2_000)).unwrap_err();
        assert_eq!(e.code, ErrorCode::Expired);
        assert!(e.message.contains("withdrawn"), "{}", e.message);
        // Whenever the loop comes, even with a clock that lags, it is gone.
        assert!(!q.has_queued());
        assert_eq!(q.take(Millis(0)), []);
    }

    #[test]
    fn a_waiter_that_goes_away_leaves_nothing_behind() {
        let q = RequestQueue::default();
        drop(q.push(poweroff(u64::MAX)).unwrap());
        assert!(!q.has_queued());
        assert_eq!(q.take(Millis(0)), []);
    }

    #[test]
    fn the_queue_is_bounded_until_callers_are_told() {
        let q = RequestQueue::default();
        let tickets: Vec<_> = (0..REQUEST_QUEUE_MAX)
            .map(|_| q.push(poweroff(10_000)).unwrap())
            .collect();
        assert_eq!(
            q.push(poweroff(10_000)).err().unwrap().code,
            ErrorCode::Busy
        );
        assert_eq!(q.take(Millis(0)).len(), REQUEST_QUEUE_MAX);
        // Taken, but their callers not told yet: still no room.
        assert!(q.push(poweroff(10_000)).is_err());
        for ticket in tickets {
            assert_eq!(q.wait(ticket, &|| Millis(0)), Ok(()));
        }
        assert!(q.push(poweroff(10_000)).is_ok());
    }

    #[test]
    fn seconds_read_with_one_decimal() {
        assert_eq!(secs_text(38_240), "38.2 s");
        assert_eq!(secs_text(999), "0.9 s");
        assert_eq!(secs_text(0), "0.0 s");
    }
}
