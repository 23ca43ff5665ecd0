//! The engine payload's disk canary and its checker: ground truth for "never
//! two engine VMs" and "epochs never go back" (`docs/architecture.md`, "The
//! engine VM lease").
//!
//! Every engine payload appends one line to a file on the shared storage when it
//! boots, then every [`CANARY_INTERVAL_MS`], and once more when it shuts down:
//!
//! ```text
//! ms=1718000000123 host=host1 boot=4f0c... epoch=3 seq=17 event=tick
//! ```
//!
//! `ms` is the wall clock in milliseconds (all payloads of a lab run on one
//! machine, so they share that clock), `boot` is unique per payload process,
//! `epoch` is the lease epoch the agent gave it (`HE_LEASE_EPOCH`), `seq` counts
//! the lines of one boot from 0.
//!
//! **What the checker proves.** For each boot it takes the interval from its first
//! to its last line. Intervals of different boots must not overlap, not even in
//! one millisecond; and in the order in which boots began, epochs never decrease.
//! **Granularity:** a payload killed with SIGKILL may have run for up to one
//! interval (100 ms) after its last line, and one that boots writes its first line
//! at once; so two payloads that overlapped by less than one interval, right
//! before the first was killed, can escape the check. The lease keeps a far wider
//! gap than that (a new holder waits `lease-dead` plus `lease-settle` before it
//! starts the VM), so a real breach of the lease shows as an overlap of seconds.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

/// How often a payload writes a canary line.
pub const CANARY_INTERVAL_MS: u64 = 100;
/// Longest canary line accepted.
pub const LINE_MAX_BYTES: usize = 512;
/// Largest canary file the checker reads (about a day of one payload's lines).
pub const FILE_MAX_BYTES: u64 = 1 << 30;
/// Most problems listed in a report (the count is kept beyond it).
const PROBLEMS_MAX: usize = 100;

/// One canary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryLine {
    pub wall_ms: u64,
    pub host: String,
    pub boot: String,
    /// `None` when the payload ran without `HE_LAB_EPOCH` (outside an agent).
    pub epoch: Option<u64>,
    pub seq: u64,
    /// `boot`, `tick` or `shutdown`.
    pub event: String,
}

impl CanaryLine {
    /// The line as written, with its newline.
    pub fn render(&self) -> String {
        let epoch = self
            .epoch
            .map_or_else(|| "-".to_string(), |e| e.to_string());
        format!(
            "ms={} host={} boot={} epoch={epoch} seq={} event={}\n",
            self.wall_ms, self.host, self.boot, self.seq, self.event
        )
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Result<CanaryLine, String> {
        if line.len() > LINE_MAX_BYTES {
            return Err(format!("line longer than {LINE_MAX_BYTES} bytes"));
        }
        let mut fields = BTreeMap::new();
        for word in line.split_ascii_whitespace() {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| format!("{word:?} is not key=value"))?;
            fields.insert(key, value);
        }
        let get = |key: &str| fields.get(key).copied().ok_or_else(|| format!("no {key}="));
        let number = |key: &str| -> Result<u64, String> {
            let raw = get(key)?;
            raw.parse()
                .map_err(|_| format!("{key}={raw} is not a number"))
        };
        let epoch = match get("epoch")? {
            "-" => None,
            raw => Some(
                raw.parse()
                    .map_err(|_| format!("epoch={raw} is not a number"))?,
            ),
        };
        Ok(CanaryLine {
            wall_ms: number("ms")?,
            host: get("host")?.to_string(),
            boot: get("boot")?.to_string(),
            epoch,
            seq: number("seq")?,
            event: fields.get("event").copied().unwrap_or("tick").to_string(),
        })
    }
}

/// What one boot of a payload wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootSpan {
    pub boot: String,
    pub host: String,
    pub epoch: Option<u64>,
    pub first_ms: u64,
    pub last_ms: u64,
    pub lines: u64,
    /// It wrote its shutdown line (a graceful stop rather than a kill).
    pub shut_down: bool,
}

/// The checker's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CanaryReport {
    pub lines: u64,
    /// Boots in the order they began.
    pub boots: Vec<BootSpan>,
    /// Broken rules (empty when the canary is clean), at most 100 listed.
    pub problems: Vec<String>,
    /// Problems found in all, listed or not.
    pub problem_count: u64,
}

impl CanaryReport {
    /// No rule broken.
    pub fn ok(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < PROBLEMS_MAX {
            self.problems.push(text);
        }
    }
}

impl fmt::Display for CanaryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} lines, {} boots", self.lines, self.boots.len())?;
        for b in &self.boots {
            let epoch = b.epoch.map_or_else(|| "-".into(), |e| e.to_string());
            writeln!(
                f,
                "  {} on {}: epoch {epoch}, {} .. {} ({} ms, {} lines{})",
                short(&b.boot),
                b.host,
                b.first_ms,
                b.last_ms,
                b.last_ms - b.first_ms,
                b.lines,
                if b.shut_down { ", shut down" } else { "" }
            )?;
        }
        if self.ok() {
            writeln!(f, "ok: no two payloads overlapped, epochs never went back")
        } else {
            for p in &self.problems {
                writeln!(f, "problem: {p}")?;
            }
            let unlisted = self.problem_count - self.problems.len() as u64;
            if unlisted > 0 {
                writeln!(f, "... and {unlisted} more problems")?;
            }
            Ok(())
        }
    }
}

fn short(boot: &str) -> &str {
    boot.get(..8).unwrap_or(boot)
}

/// Checks a canary file's text. A last line without its newline is a write in
/// progress and is ignored.
pub fn check_text(text: &str) -> CanaryReport {
    let mut report = CanaryReport::default();
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut spans: BTreeMap<String, (BootSpan, u64)> = BTreeMap::new();
    for (index, raw) in complete.lines().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let line = match CanaryLine::parse(raw) {
            Ok(line) => line,
            Err(why) => {
                report.problem(format!("line {}: {why}", index + 1));
                continue;
            }
        };
        report.lines += 1;
        add_line(&mut report, &mut spans, line, index + 1);
    }
    let mut boots: Vec<BootSpan> = spans.into_values().map(|(span, _)| span).collect();
    boots.sort_by(|a, b| (a.first_ms, &a.boot).cmp(&(b.first_ms, &b.boot)));
    check_overlaps(&mut report, &boots);
    check_epochs(&mut report, &boots);
    report.boots = boots;
    report
}

/// Adds one line to its boot's span; checks the rules within one boot.
fn add_line(
    report: &mut CanaryReport,
    spans: &mut BTreeMap<String, (BootSpan, u64)>,
    line: CanaryLine,
    number: usize,
) {
    let Some((span, last_seq)) = spans.get_mut(&line.boot) else {
        if line.epoch.is_none() {
            report.problem(format!(
                "boot {} on {} ran without a lease epoch",
                short(&line.boot),
                line.host
            ));
        }
        let span = BootSpan {
            boot: line.boot.clone(),
            host: line.host,
            epoch: line.epoch,
            first_ms: line.wall_ms,
            last_ms: line.wall_ms,
            lines: 1,
            shut_down: line.event == "shutdown",
        };
        spans.insert(line.boot, (span, line.seq));
        return;
    };
    if line.host != span.host || line.epoch != span.epoch {
        report.problem(format!(
            "line {number}: boot {} changed from {} epoch {:?} to {} epoch {:?}",
            short(&span.boot),
            span.host,
            span.epoch,
            line.host,
            line.epoch
        ));
    }
    if line.seq <= *last_seq {
        report.problem(format!(
            "line {number}: boot {} went from seq {} back to {}",
            short(&span.boot),
            last_seq,
            line.seq
        ));
    }
    *last_seq = line.seq.max(*last_seq);
    span.first_ms = span.first_ms.min(line.wall_ms);
    span.last_ms = span.last_ms.max(line.wall_ms);
    span.lines += 1;
    span.shut_down |= line.event == "shutdown";
}

/// No two boots' intervals share a millisecond.
fn check_overlaps(report: &mut CanaryReport, boots: &[BootSpan]) {
    // Sorted by start: each boot must begin after every earlier one ended.
    let mut latest: Option<&BootSpan> = None;
    for boot in boots {
        if let Some(prev) = latest
            && boot.first_ms <= prev.last_ms
        {
            report.problem(format!(
                "two engine payloads ran at once: boot {} on {} ({} .. {}) and boot {} on {} \
                 ({} .. {}) overlap by {} ms",
                short(&prev.boot),
                prev.host,
                prev.first_ms,
                prev.last_ms,
                short(&boot.boot),
                boot.host,
                boot.first_ms,
                boot.last_ms,
                prev.last_ms.min(boot.last_ms) - boot.first_ms
            ));
        }
        if latest.is_none_or(|prev| boot.last_ms > prev.last_ms) {
            latest = Some(boot);
        }
    }
}

/// In the order boots began, epochs never decrease.
fn check_epochs(report: &mut CanaryReport, boots: &[BootSpan]) {
    let mut highest: Option<&BootSpan> = None;
    for boot in boots {
        let Some(epoch) = boot.epoch else { continue };
        if let Some(prev) = highest
            && prev.epoch.is_some_and(|e| epoch < e)
        {
            report.problem(format!(
                "the epoch went back: boot {} on {} ran with epoch {epoch} after boot {} on {} \
                 with epoch {}",
                short(&boot.boot),
                boot.host,
                short(&prev.boot),
                prev.host,
                prev.epoch.unwrap_or(0)
            ));
        }
        if highest.is_none_or(|prev| prev.epoch.is_none_or(|e| epoch >= e)) {
            highest = Some(boot);
        }
    }
}

/// Checks the canary file at `path`. A missing file is an error (nothing ever
/// ran, or the path is wrong); an empty one is clean.
pub fn check_file(path: &Path) -> std::io::Result<CanaryReport> {
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(FILE_MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > FILE_MAX_BYTES {
        return Err(std::io::Error::other(format!(
            "{}: larger than {FILE_MAX_BYTES} bytes",
            path.display()
        )));
    }
    Ok(check_text(&String::from_utf8_lossy(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ms: u64, host: &str, boot: &str, epoch: u64, seq: u64) -> String {
        CanaryLine {
            wall_ms: ms,
            host: host.into(),
            boot: boot.into(),
            epoch: Some(epoch),
            seq,
            event: "tick".into(),
        }
        .render()
    }

    #[test]
    fn lines_round_trip() {
        let l = CanaryLine {
            wall_ms: 5,
            host: "host1".into(),
            boot: "abc".into(),
            epoch: None,
            seq: 2,
            event: "boot".into(),
        };
        assert_eq!(CanaryLine::parse(l.render().trim_end()), Ok(l));
        assert!(CanaryLine::parse("ms=1 host=h").is_err());
    }

    #[test]
    fn successive_boots_with_rising_epochs_are_clean() {
        let text = [
            line(1000, "host1", "a", 1, 0),
            line(1100, "host1", "a", 1, 1),
            line(5000, "host2", "b", 2, 0),
            line(5100, "host2", "b", 2, 1),
            line(9000, "host2", "c", 2, 0),
        ]
        .concat();
        let report = check_text(&text);
        assert!(report.ok(), "{report}");
        assert_eq!(report.boots.len(), 3);
        assert_eq!(report.lines, 5);
    }

    #[test]
    fn overlapping_boots_are_found() {
        let text = [
            line(1000, "host1", "a", 1, 0),
            line(2000, "host2", "b", 2, 0),
            line(2500, "host1", "a", 1, 1),
            line(3000, "host2", "b", 2, 1),
        ]
        .concat();
        let report = check_text(&text);
        assert!(!report.ok());
        assert!(report.problems[0].contains("overlap by 500 ms"), "{report}");
    }

    #[test]
    fn an_epoch_going_back_is_found() {
        let text = [
            line(1000, "host1", "a", 3, 0),
            line(2000, "host2", "b", 2, 0),
        ]
        .concat();
        let report = check_text(&text);
        assert_eq!(report.problem_count, 1);
        assert!(report.problems[0].contains("epoch went back"), "{report}");
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_garbage_in_the_middle_is_not() {
        let text = format!("{}ms=12 host=h", line(1000, "host1", "a", 1, 0));
        assert!(check_text(&text).ok());
        let text = format!("garbage\n{}", line(1000, "host1", "a", 1, 0));
        assert!(!check_text(&text).ok());
    }

    #[test]
    fn a_boot_without_epoch_or_with_seq_going_back_is_found() {
        let no_epoch = "ms=1 host=h boot=x epoch=- seq=0 event=boot\n";
        assert!(!check_text(no_epoch).ok());
        let back = [line(1000, "h", "a", 1, 5), line(1100, "h", "a", 1, 4)].concat();
        assert!(!check_text(&back).ok());
    }
}
