//! The agent's fences, run on a thread of their own so that the loop goes on
//! publishing meanwhile: the target's fence agent with `off`, then `status`
//! until it reports off, each call bounded by the device's timeout and the
//! whole fence by twice that ([`crate::core::FenceConf::whole_fence_ms`]).
//! Every call is logged by the agent (program, action, host, outcome, time).

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

use super::{FenceAction, Power, run};
use crate::config::FenceDevice;
use crate::core::{FenceConf, FenceOrder, FenceOutcome, FenceReport, FenceTarget};
use crate::metadata::HostId;
use crate::shell::agent_loop::Fencer;

/// Pause between two `status` calls while waiting for off.
const STATUS_PAUSE: Duration = Duration::from_secs(1);

/// What a fence's thread sends back.
enum Message {
    /// A call's log line.
    Line(String),
    /// The fence ended.
    Done(FenceReport),
}

/// Runs the core's fence orders with the devices of `fencing.conf`.
pub struct DeviceFencer {
    devices: BTreeMap<HostId, FenceDevice>,
    call_timeout: Duration,
    /// The fence under way, if any.
    running: Option<Receiver<Message>>,
    /// A fence that could not begin, reported at the next poll.
    refused: Option<FenceReport>,
}

impl DeviceFencer {
    pub fn new(devices: BTreeMap<HostId, FenceDevice>, call_timeout: Duration) -> DeviceFencer {
        DeviceFencer {
            devices,
            call_timeout,
            running: None,
            refused: None,
        }
    }

    fn refuse(&mut self, target: FenceTarget, why: String) {
        self.refused = Some(FenceReport {
            target,
            outcome: FenceOutcome::Failed(why),
            took_ms: 0,
            agent: String::new(),
        });
    }
}

impl Fencer for DeviceFencer {
    fn begin(&mut self, order: FenceOrder) {
        let target = order.target;
        if self.running.is_some() {
            // The core runs one fence at a time; a second is a bug there.
            self.refuse(target, "another fence is still running".into());
            return;
        }
        let Some(device) = self.devices.get(&target.host).cloned() else {
            self.refuse(target, format!("no fence device for host {}", target.host));
            return;
        };
        let (tx, rx) = mpsc::channel();
        let timeout = self.call_timeout;
        let spawned = thread::Builder::new()
            .name(format!("fence-host{}", target.host))
            .spawn(move || fence(&device, target, timeout, &tx));
        match spawned {
            Ok(_) => self.running = Some(rx),
            Err(e) => self.refuse(target, format!("cannot start its thread: {e}")),
        }
    }

    fn poll(&mut self) -> (Vec<String>, Option<FenceReport>) {
        let mut lines = Vec::new();
        let mut report = self.refused.take();
        if let Some(rx) = &self.running {
            loop {
                match rx.try_recv() {
                    Ok(Message::Line(line)) => lines.push(line),
                    Ok(Message::Done(done)) => {
                        report = Some(done);
                        self.running = None;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        // Its thread panicked: a bug, reported as a failure.
                        self.running = None;
                        lines.push("a fence's thread ended without a report".into());
                        break;
                    }
                }
            }
        }
        (lines, report)
    }
}

/// One fence: `off`, then `status` until off, within twice the call bound.
fn fence(device: &FenceDevice, target: FenceTarget, timeout: Duration, tx: &Sender<Message>) {
    let started = Instant::now();
    let whole = Duration::from_millis(FenceConf::whole_fence_ms(
        u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
    ));
    let deadline = started + whole;
    let report = |outcome| FenceReport {
        target,
        outcome,
        took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        agent: device.program().to_string(),
    };
    let off = run(device, FenceAction::Off, timeout);
    let _ = tx.send(Message::Line(off.to_string()));
    if let Err(e) = off.outcome {
        let _ = tx.send(Message::Done(report(FenceOutcome::Failed(format!(
            "{} off: {e}",
            device.program()
        )))));
        return;
    }
    let mut last = String::from("no status call fitted in the time left");
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let status = run(device, FenceAction::Status, timeout.min(left));
        let _ = tx.send(Message::Line(status.to_string()));
        match status.outcome {
            Ok(Power::Off) => {
                let _ = tx.send(Message::Done(report(FenceOutcome::Off)));
                return;
            }
            Ok(Power::On) => last = "status still says on".into(),
            Err(e) => last = format!("status: {e}"),
        }
        thread::sleep(STATUS_PAUSE.min(deadline.saturating_duration_since(Instant::now())));
    }
    let _ = tx.send(Message::Done(report(FenceOutcome::Failed(format!(
        "off was not confirmed within {}: {last}",
        super::took_text(whole)
    )))));
}
