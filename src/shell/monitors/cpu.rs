//! The host's CPU load without the engine VM (`docs/compat.md`
//! section 4), from `/proc/stat` and the VM process's `/proc/<pid>/stat`.
//!
//! Like the reference (`cpu-load-no-engine`): load = (host busy - VM busy) /
//! host total over an interval, in jiffies; the VM's busy time counts only when
//! the same process (pid and start time) is seen at both ends of the interval.
//! Deliberate differences: busy is total minus idle and iowait, so that irq,
//! softirq and steal time count as load (the reference counts user, nice and
//! system only), and the total leaves out guest and guest_nice, which the kernel
//! already counts in user and nice (the reference adds them twice). The value is
//! a time-weighted average over the last few intervals rather than one
//! 60-second interval.

use std::collections::VecDeque;
use std::io;
use std::path::Path;

use super::net::io_text;
use super::read_prefix;

/// Intervals averaged by default.
pub const CPU_WINDOW: usize = 5;
/// Intervals averaged at most.
pub const CPU_WINDOW_MAX: usize = 1_000;
/// Bytes read from `/proc/stat` (its first line is all we need) and from
/// `/proc/<pid>/stat` (one line of a few hundred bytes).
const STAT_MAX_BYTES: usize = 4096;
/// `/proc/stat` fields that make up the total: user, nice, system, idle,
/// iowait, irq, softirq, steal (guest and guest_nice are inside user and nice).
const TOTAL_FIELDS: usize = 8;

/// The host's CPU time so far, in clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostTimes {
    pub total: u64,
    pub busy: u64,
}

/// One process's CPU time so far, in clock ticks, and what identifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessTimes {
    pub pid: u32,
    /// Start time after boot, in clock ticks: tells a reused pid apart.
    pub start_time: u64,
    /// utime + stime (guest time is inside utime).
    pub busy: u64,
}

/// The aggregate `cpu` line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Result<HostTimes, String> {
    let line = text
        .lines()
        .find(|line| line.split_whitespace().next() == Some("cpu"))
        .ok_or("no aggregate cpu line")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(TOTAL_FIELDS)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| "malformed cpu line".to_string())?;
    if fields.len() < 4 {
        return Err("cpu line has fewer than 4 fields".into());
    }
    let sum = |values: &[u64]| {
        values
            .iter()
            .try_fold(0u64, |acc, &v| acc.checked_add(v))
            .ok_or("cpu times overflow".to_string())
    };
    let total = sum(&fields)?;
    let idle = sum(&fields[3..fields.len().min(5)])?;
    Ok(HostTimes {
        total,
        busy: total - idle,
    })
}

/// `/proc/<pid>/stat` of process `pid`. The command name is in parentheses and
/// may itself contain spaces and parentheses, so fields count from the last `)`.
pub fn parse_process_stat(pid: u32, text: &str) -> Result<ProcessTimes, String> {
    let (head, rest) = text.rsplit_once(')').ok_or("no command name")?;
    let own_pid = head.split_whitespace().next().and_then(|p| p.parse().ok());
    if own_pid != Some(pid) {
        return Err(format!("not the stat of process {pid}"));
    }
    // `rest` starts at field 3 (state): utime is field 14, stime 15, starttime 22.
    let fields: Vec<&str> = rest.split_whitespace().take(20).collect();
    let field = |number: usize| -> Result<u64, String> {
        fields
            .get(number - 3)
            .and_then(|f| f.parse().ok())
            .ok_or(format!("malformed field {number}"))
    };
    let busy = field(14)?
        .checked_add(field(15)?)
        .ok_or("cpu times overflow")?;
    Ok(ProcessTimes {
        pid,
        start_time: field(22)?,
        busy,
    })
}

/// Reads `<proc_root>/stat`.
pub fn read_host_times(proc_root: &Path) -> Result<HostTimes, String> {
    let path = proc_root.join("stat");
    let text = read_prefix(&path, STAT_MAX_BYTES)
        .map_err(|e| format!("{}: {}", path.display(), io_text(&e)))?;
    parse_proc_stat(&text).map_err(|why| format!("{}: {why}", path.display()))
}

/// Reads `<proc_root>/<pid>/stat`; `Ok(None)` when the process is gone.
pub fn read_process_times(proc_root: &Path, pid: u32) -> Result<Option<ProcessTimes>, String> {
    let path = proc_root.join(pid.to_string()).join("stat");
    match read_prefix(&path, STAT_MAX_BYTES) {
        Ok(text) => parse_process_stat(pid, &text)
            .map(Some)
            .map_err(|why| format!("{}: {why}", path.display())),
        // ESRCH: the process exited while being read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            Ok(None)
        }
        Err(e) => Err(format!("{}: {}", path.display(), io_text(&e))),
    }
}

/// One interval: ticks that passed and ticks busy outside the VM (<= total).
#[derive(Clone, Copy, Debug)]
struct Interval {
    total: u64,
    busy: u64,
}

/// The load over the last few intervals.
#[derive(Clone, Debug)]
pub struct CpuLoad {
    window: usize,
    last: Option<(HostTimes, Option<ProcessTimes>)>,
    history: VecDeque<Interval>,
}

impl CpuLoad {
    /// Averages over the last `window` intervals (1..=[`CPU_WINDOW_MAX`]).
    pub fn new(window: usize) -> Self {
        assert!(
            (1..=CPU_WINDOW_MAX).contains(&window),
            "cpu window {window} outside 1..={CPU_WINDOW_MAX}"
        );
        CpuLoad {
            window,
            last: None,
            history: VecDeque::with_capacity(window),
        }
    }

    /// Adds a sample and returns the load (`None` until two samples exist).
    /// Counters that went backwards (a CPU taken offline, a different file)
    /// make that interval a new starting point instead of a value.
    pub fn add(&mut self, host: HostTimes, vm: Option<ProcessTimes>) -> Option<f64> {
        let Some((before, vm_before)) = self.last.replace((host, vm)) else {
            return self.load();
        };
        let total = host.total.checked_sub(before.total);
        let busy = host.busy.checked_sub(before.busy);
        let (Some(total), Some(busy)) = (total, busy) else {
            return self.load();
        };
        if total == 0 {
            return self.load();
        }
        let vm_busy = match (vm_before, vm) {
            (Some(a), Some(b)) if a.pid == b.pid && a.start_time == b.start_time => {
                b.busy.saturating_sub(a.busy)
            }
            _ => 0,
        };
        if self.history.len() == self.window {
            self.history.pop_front();
        }
        self.history.push_back(Interval {
            total,
            busy: busy.saturating_sub(vm_busy).min(total),
        });
        self.load()
    }

    /// Busy ticks over total ticks of the remembered intervals, in 0..=1.
    pub fn load(&self) -> Option<f64> {
        let total: u128 = self.history.iter().map(|i| u128::from(i.total)).sum();
        let busy: u128 = self.history.iter().map(|i| u128::from(i.busy)).sum();
        if total == 0 {
            return None;
        }
        Some((busy as f64 / total as f64).clamp(0.0, 1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 10 50 800 40 5 5 0 20 0\n\
                        cpu0 50 5 25 400 20 2 3 0 10 0\n\
                        intr 12345 0 0\nctxt 99\n";

    #[test]
    fn aggregate_line() {
        let times = parse_proc_stat(STAT).unwrap();
        assert_eq!(times.total, 100 + 10 + 50 + 800 + 40 + 5 + 5);
        assert_eq!(times.busy, 100 + 10 + 50 + 5 + 5);
        let old_kernel = parse_proc_stat("cpu 1 2 3 4\n").unwrap();
        assert_eq!(old_kernel, HostTimes { total: 10, busy: 6 });
    }

    #[test]
    fn malformed_stat() {
        for text in [
            "",
            "cpu0 1 2 3 4\n",
            "cpu 1 2 3\n",
            "cpu 1 x 3 4\n",
            "cpu -1 2 3 4\n",
            "cpu 18446744073709551615 1 0 0\n",
        ] {
            assert!(parse_proc_stat(text).is_err(), "{text:?}");
        }
    }

    fn pid_stat(pid: u32, comm: &str, utime: u64, stime: u64, start: u64) -> String {
        format!(
            "{pid} ({comm}) S 1 {pid} {pid} 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 3 0 {start} 1000 200 18446744073709551615"
        )
    }

    #[test]
    fn process_line() {
        let text = pid_stat(42, "qemu (kvm) ) x", 300, 20, 777);
        let times = parse_process_stat(42, &text).unwrap();
        assert_eq!(
            times,
            ProcessTimes {
                pid: 42,
                start_time: 777,
                busy: 320
            }
        );
        assert!(parse_process_stat(43, &text).is_err());
        assert!(parse_process_stat(42, "42 (qemu) S 1 2").is_err());
        assert!(parse_process_stat(42, "42 qemu").is_err());
        assert!(parse_process_stat(42, "").is_err());
    }

    fn host(total: u64, busy: u64) -> HostTimes {
        HostTimes { total, busy }
    }

    fn vm(pid: u32, start_time: u64, busy: u64) -> Option<ProcessTimes> {
        Some(ProcessTimes {
            pid,
            start_time,
            busy,
        })
    }

    #[test]
    fn load_excludes_the_vm_and_weights_by_time() {
        let mut load = CpuLoad::new(2);
        assert_eq!(load.add(host(1000, 100), vm(7, 5, 0)), None);
        // 100 ticks, 80 busy of which the VM 50: 0.3.
        assert_eq!(load.add(host(1100, 180), vm(7, 5, 50)), Some(0.3));
        // 300 ticks, 300 busy, VM 0: (30 + 300) / 400.
        assert_eq!(load.add(host(1400, 480), vm(7, 5, 50)), Some(330.0 / 400.0));
        // The window keeps two intervals: the first one drops out.
        assert_eq!(load.add(host(1500, 480), vm(7, 5, 50)), Some(300.0 / 400.0));
    }

    #[test]
    fn a_new_vm_process_is_not_subtracted_and_nothing_goes_negative() {
        let mut load = CpuLoad::new(5);
        load.add(host(0, 0), vm(7, 5, 1000));
        // Same pid, different start time: a reused pid, not the VM's time.
        assert_eq!(load.add(host(100, 40), vm(7, 9, 1030)), Some(0.4));
        let mut load = CpuLoad::new(1);
        load.add(host(0, 0), vm(7, 5, 0));
        // The VM claims more than the host was busy: clamp at 0.
        assert_eq!(load.add(host(100, 10), vm(7, 5, 90)), Some(0.0));
    }

    #[test]
    fn counters_going_back_or_standing_still_give_no_new_interval() {
        let mut load = CpuLoad::new(5);
        load.add(host(1000, 500), None);
        assert_eq!(load.add(host(1000, 500), None), None);
        assert_eq!(load.add(host(900, 400), None), None);
        assert_eq!(load.add(host(1000, 450), None), Some(0.5));
        // Busy grew by more than total: at most 1.
        let mut load = CpuLoad::new(5);
        load.add(host(0, 0), None);
        assert_eq!(load.add(host(10, 50), None), Some(1.0));
    }

    #[test]
    #[should_panic(expected = "cpu window 0")]
    fn an_empty_window_is_a_programmer_error() {
        CpuLoad::new(0);
    }
}
