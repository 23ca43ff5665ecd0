//! The agents' log of a benchmark run, from the fault to the recovery: where a
//! run's time went.

use std::time::Duration;

use crate::lab::cluster::Lab;

/// Lines of a run's timeline kept from its start and from its end (what
/// matters in a long run, the stop and the takeover, is at its end).
const TIMELINE_HEAD_LINES: usize = 15;
const TIMELINE_TAIL_LINES: usize = 45;

/// Where each agent's log ended when the fault was injected, and when.
pub(super) struct LogMark {
    offsets: Vec<(u16, u64)>,
    unix: f64,
}

impl LogMark {
    pub(super) fn take(lab: &Lab) -> LogMark {
        let spec = lab.spec();
        let offsets = spec
            .host_ids()
            .map(|id| {
                let len = std::fs::metadata(spec.agent_log(id)).map_or(0, |m| m.len());
                (id, len)
            })
            .collect();
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        LogMark { offsets, unix }
    }

    /// The agents' lines since the mark up to `until` after it, with the
    /// fault and the recovery as lines of their own.
    pub(super) fn timeline(
        &self,
        lab: &Lab,
        fault: &str,
        until: Duration,
        end: &str,
    ) -> Vec<String> {
        // The agents stamp their lines in UTC (ctime with offset 0).
        let clock = |unix: f64| {
            let text = crate::metadata::ctime(unix.floor() as i64, 0);
            format!(
                "{}.{}",
                &text[11..19],
                ((unix.fract() * 10.0) as u32).min(9)
            )
        };
        // Seconds of the UTC day, so that lines sort across hosts (and past
        // midnight, counted from the fault).
        let fault_day_secs = (self.unix.floor() as i64).rem_euclid(86_400);
        let mut lines: Vec<(i64, String)> = Vec::new();
        for &(id, from) in &self.offsets {
            let Ok(bytes) = std::fs::read(lab.spec().agent_log(id)) else {
                continue;
            };
            let from = usize::try_from(from).unwrap_or(usize::MAX).min(bytes.len());
            let text = String::from_utf8_lossy(&bytes[from..]);
            lines.extend(stamped_lines(
                id,
                &text,
                fault_day_secs,
                until.as_secs() + 1,
            ));
        }
        // Stable: lines of one second keep their host's order.
        lines.sort_by_key(|(since, _)| *since);
        let mut out = vec![format!("{} fault: {fault}", clock(self.unix))];
        out.extend(head_and_tail(lines.into_iter().map(|(_, l)| l).collect()));
        out.push(format!("{} {end}", clock(self.unix + until.as_secs_f64())));
        out
    }
}

/// The first [`TIMELINE_HEAD_LINES`] and the last [`TIMELINE_TAIL_LINES`] of
/// `lines`, with a line that counts the ones left out between them.
fn head_and_tail(mut lines: Vec<String>) -> Vec<String> {
    let left_out = lines
        .len()
        .saturating_sub(TIMELINE_HEAD_LINES + TIMELINE_TAIL_LINES);
    if left_out > 0 {
        lines.splice(
            TIMELINE_HEAD_LINES..TIMELINE_HEAD_LINES + left_out,
            [format!("({left_out} lines left out)")],
        );
    }
    lines
}

/// An agent's log lines (`Sat Nov 28 01:30:24 2026 text`), each with its
/// seconds since `fault_day_secs` (seconds of the UTC day; a line past
/// midnight counts on), as `HH:MM:SS   hostN: text`; lines later than
/// `until_secs` after it, and lines without a stamp, are left out.
fn stamped_lines(
    id: u16,
    text: &str,
    fault_day_secs: i64,
    until_secs: u64,
) -> impl Iterator<Item = (i64, String)> {
    text.lines().filter_map(move |line| {
        let (stamp, text) = (line.get(11..19)?, line.get(25..)?);
        let day_secs = stamp
            .split(':')
            .map(|p| p.parse::<i64>().ok())
            .try_fold(0, |acc, p| p.map(|p| acc * 60 + p))?;
        let since = (day_secs - fault_day_secs).rem_euclid(86_400);
        (since <= i64::try_from(until_secs).unwrap_or(i64::MAX))
            .then(|| (since, format!("{stamp}   host{id}: {text}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_timed_from_the_fault_past_midnight_and_cut_at_the_end() {
        let log = "Sat Nov 28 23:59:58 2026 EngineUp -> EngineUpBadHealth: bad\n\
                   not a stamped line\n\
                   Sun Nov 29 00:00:03 2026 shutting the engine VM down\n\
                   Sun Nov 29 00:01:00 2026 later than the end\n";
        let fault = 23 * 3600 + 59 * 60 + 57;
        let lines: Vec<(i64, String)> = stamped_lines(2, log, fault, 10).collect();
        assert_eq!(
            lines,
            [
                (
                    1,
                    "23:59:58   host2: EngineUp -> EngineUpBadHealth: bad".to_string()
                ),
                (
                    6,
                    "00:00:03   host2: shutting the engine VM down".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_long_timeline_keeps_its_head_and_tail() {
        let lines = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
        let short = lines(TIMELINE_HEAD_LINES + TIMELINE_TAIL_LINES);
        assert_eq!(head_and_tail(short.clone()), short);
        let long = head_and_tail(lines(TIMELINE_HEAD_LINES + TIMELINE_TAIL_LINES + 7));
        assert_eq!(long.len(), TIMELINE_HEAD_LINES + TIMELINE_TAIL_LINES + 1);
        assert_eq!(
            long[TIMELINE_HEAD_LINES - 1],
            (TIMELINE_HEAD_LINES - 1).to_string()
        );
        assert_eq!(long[TIMELINE_HEAD_LINES], "(7 lines left out)");
        assert_eq!(
            long[TIMELINE_HEAD_LINES + 1],
            (TIMELINE_HEAD_LINES + 7).to_string()
        );
    }
}
