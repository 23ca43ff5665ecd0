//! Scenario files: a cluster, timed commands and checks, run in virtual time.
//!
//! ```text
//! # Test plan case 3: the engine VM is killed; it restarts on the same host.
//! hosts 3
//! option boot 60
//! at 600 vm-kill
//! check 800 engine-on 1
//! check 800 starts 2
//! run 1200
//! ```
//!
//! Lines: `hosts N` (1..=16), `option NAME VALUE` (`boot SECS`, `recovery on|off`,
//! `watchdog SECS|off`, `latency MS`, `fencing on|off` (every host with a
//! working fence device, see [`super::fencing`]), `fence-after SECS` and
//! `fence-timeout SECS` (one fence-agent call's bound; after `fencing on`),
//! `timings reference|default`: the
//! reference's timings unless set, with the watchdog at the longest timeout
//! the lease allows unless a `watchdog` option says otherwise), `at SECS COMMAND` (see [`Command`]),
//! `check SECS WHAT` and `run SECS` (the end). Comment lines start with `#`.
//! Checks: `engine-on H|none` (exactly one healthy engine, on host H; or no VM at
//! all), `starts N` (VM starts so far), `state H NAME` (the agent's state),
//! `no-start-on H` (host H never started the VM), `vm-on H` (a VM exists on H),
//! `fences N` (fences begun so far).

use std::fmt::Write as _;

use super::fencing::SimFencing;
use super::fuzz::FuzzTimings;
use super::{Command, Sim, SimParams, fmt_time};
use crate::core::{Millis, State};
use crate::metadata::HostId;

/// Lines a scenario may have (a limit on everything).
const SCENARIO_LINES_MAX: usize = 1000;
/// Longest simulated time of a scenario.
const SCENARIO_SECS_MAX: u64 = 7 * 24 * 3600;

/// What a check looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    EngineOn(Option<HostId>),
    Starts(usize),
    State(HostId, State),
    NoStartOn(HostId),
    VmOn(HostId),
    /// Fences begun so far.
    Fences(usize),
}

/// A parsed scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    pub description: String,
    pub params: SimParams,
    pub commands: Vec<(Millis, Command)>,
    pub checks: Vec<(Millis, Check)>,
    pub end: Millis,
}

/// The result of running a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The full log: world events, agent decisions, check results.
    pub log: String,
    pub violations: Vec<String>,
    pub failed_checks: Vec<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty() && self.failed_checks.is_empty()
    }
}

fn parse_secs(text: &str) -> Result<Millis, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("bad time {text:?} (seconds)"))?;
    if !(0.0..=SCENARIO_SECS_MAX as f64).contains(&secs) {
        return Err(format!("time {text} out of range 0..={SCENARIO_SECS_MAX}"));
    }
    Ok(Millis((secs * 1000.0).round() as u64))
}

fn parse_check(words: &[&str]) -> Result<Check, String> {
    let host = |raw: &str| -> Result<HostId, String> {
        raw.parse::<HostId>()
            .ok()
            .filter(|h| *h >= 1)
            .ok_or(format!("bad host id {raw:?}"))
    };
    match words {
        ["engine-on", "none"] => Ok(Check::EngineOn(None)),
        ["engine-on", h] => Ok(Check::EngineOn(Some(host(h)?))),
        ["starts", n] => n
            .parse()
            .map(Check::Starts)
            .map_err(|_| format!("bad count {n:?}")),
        ["state", h, name] => {
            let state = State::from_name(name).ok_or(format!("unknown state {name:?}"))?;
            Ok(Check::State(host(h)?, state))
        }
        ["no-start-on", h] => Ok(Check::NoStartOn(host(h)?)),
        ["vm-on", h] => Ok(Check::VmOn(host(h)?)),
        ["fences", n] => n
            .parse()
            .map(Check::Fences)
            .map_err(|_| format!("bad count {n:?}")),
        _ => Err(format!("unknown check {:?}", words.join(" "))),
    }
}

impl Scenario {
    /// Parses a scenario file's text; errors name the line.
    pub fn parse(text: &str) -> Result<Scenario, String> {
        let mut scenario = Scenario {
            description: String::new(),
            params: SimParams::new(3),
            commands: Vec::new(),
            checks: Vec::new(),
            end: Millis::ZERO,
        };
        let mut ended = false;
        for (index, raw) in text.lines().enumerate() {
            if index >= SCENARIO_LINES_MAX {
                return Err(format!("more than {SCENARIO_LINES_MAX} lines"));
            }
            let line = raw.trim();
            if let Some(comment) = line.strip_prefix('#') {
                if scenario.commands.is_empty() && scenario.checks.is_empty() {
                    scenario.description.push_str(comment.trim());
                    scenario.description.push('\n');
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            if ended {
                return Err(format!("line {}: text after `run`", index + 1));
            }
            scenario
                .parse_line(line, &mut ended)
                .map_err(|e| format!("line {}: {e}", index + 1))?;
        }
        if !ended {
            return Err("missing `run SECS` line".into());
        }
        Ok(scenario)
    }

    fn parse_line(&mut self, line: &str, ended: &mut bool) -> Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["hosts", n] => {
                let hosts: u16 = n.parse().map_err(|_| format!("bad host count {n:?}"))?;
                if !(1..=16).contains(&hosts) {
                    return Err(format!("hosts {hosts} out of range 1..=16"));
                }
                self.params.hosts = hosts;
            }
            ["option", name, value] => self.option(name, value)?,
            ["at", t, rest @ ..] => {
                let command = Command::parse(&rest.join(" "))?;
                if command.host().is_some_and(|h| h > self.params.hosts) {
                    return Err(format!("{command}: no such host"));
                }
                self.commands.push((parse_secs(t)?, command));
            }
            ["check", t, rest @ ..] => self.checks.push((parse_secs(t)?, parse_check(rest)?)),
            ["run", t] => {
                self.end = parse_secs(t)?;
                *ended = true;
            }
            _ => return Err(format!("cannot read {line:?}")),
        }
        Ok(())
    }

    fn option(&mut self, name: &str, value: &str) -> Result<(), String> {
        let number = || -> Result<u64, String> {
            value
                .parse()
                .map_err(|_| format!("option {name}: bad number {value:?}"))
        };
        match (name, value) {
            ("boot", _) => self.params.boot_ms = number()? * 1000,
            ("shutdown", _) => self.params.shutdown_ms = number()? * 1000,
            ("recovery", "on") => self.params.recovery = true,
            ("recovery", "off") => self.params.recovery = false,
            ("watchdog", "off") => self.params.watchdog_ms = None,
            ("watchdog", _) => self.params.watchdog_ms = Some(number()? * 1000),
            ("latency", _) => self.params.io_latency_ms = number()?,
            ("fencing", "on") => {
                self.params.fencing = Some(SimFencing::for_timings(&self.params.timings));
            }
            ("fencing", "off") => self.params.fencing = None,
            ("fence-after" | "fence-timeout", _) => {
                let fencing = self.params.fencing.as_mut().ok_or(format!(
                    "option {name}: fencing is off (`option fencing on` first)"
                ))?;
                let ms = number()? * 1000;
                if name == "fence-after" {
                    fencing.fence_after_ms = ms;
                } else {
                    fencing.call_timeout_ms = ms;
                }
            }
            ("timings", _) => {
                let timings =
                    <FuzzTimings as clap::ValueEnum>::from_str(value, false).map_err(|_| {
                        format!("option timings: {value:?} is not reference or default")
                    })?;
                // A `watchdog` option given before keeps its value.
                let old = &self.params;
                let derived = Some(SimParams::watchdog_for(&old.timings));
                let watchdog = (old.watchdog_ms != derived).then_some(old.watchdog_ms);
                self.params = timings.apply(self.params.clone());
                if let Some(watchdog) = watchdog {
                    self.params.watchdog_ms = watchdog;
                }
                if let Some(fencing) = &mut self.params.fencing {
                    // Fencing given before follows the timings, but for a
                    // fence-after given too.
                    let derived = SimFencing::for_timings(&self.params.timings);
                    fencing.fence_after_ms = fencing.fence_after_ms.max(derived.fence_after_ms);
                }
            }
            _ => return Err(format!("unknown option {name} {value}")),
        }
        Ok(())
    }

    /// Runs the scenario and returns its log and verdicts.
    pub fn run(&self) -> Outcome {
        let mut sim = Sim::new(self.params.clone());
        for (at, command) in &self.commands {
            sim.schedule(*at, command.clone());
        }
        let mut checks = self.checks.clone();
        checks.sort_by_key(|(t, _)| *t);
        let mut failed_checks = Vec::new();
        for (at, check) in &checks {
            sim.run_until(*at);
            let verdict = evaluate(&sim, check);
            let line = match &verdict {
                Ok(()) => format!("{} check {check:?}: ok", fmt_time(*at)),
                Err(why) => format!("{} check {check:?}: FAILED: {why}", fmt_time(*at)),
            };
            if verdict.is_err() {
                failed_checks.push(line.clone());
            }
            sim.world_log_push(line);
        }
        sim.run_until(self.end);
        let world = sim.world();
        let mut log = String::new();
        for line in &world.log {
            let _ = writeln!(log, "{line}");
        }
        Outcome {
            log,
            violations: world.violations.clone(),
            failed_checks,
        }
    }
}

impl Sim {
    fn world_log_push(&mut self, line: String) {
        self.world.borrow_mut().log.push(line);
    }
}

fn evaluate(sim: &Sim, check: &Check) -> Result<(), String> {
    let w = sim.world();
    match check {
        Check::EngineOn(None) => {
            let running = w.running_vms();
            if running.is_empty() {
                Ok(())
            } else {
                Err(format!("engine VM runs on {running:?}"))
            }
        }
        Check::EngineOn(Some(host)) => {
            let healthy = w.healthy_engines();
            if healthy == [*host] {
                Ok(())
            } else {
                Err(format!("healthy engines on {healthy:?}"))
            }
        }
        Check::Starts(n) => {
            if w.starts.len() == *n {
                Ok(())
            } else {
                Err(format!("{} starts", w.starts.len()))
            }
        }
        Check::State(host, state) => match sim.agent(*host).map(|a| a.state()) {
            Some(s) if s == *state => Ok(()),
            other => Err(format!("state is {other:?}")),
        },
        Check::NoStartOn(host) => match w.starts.iter().find(|s| s.host == *host) {
            None => Ok(()),
            Some(s) => Err(format!("started at {}", fmt_time(s.at))),
        },
        Check::Fences(n) => {
            if w.fencing.count == *n {
                Ok(())
            } else {
                Err(format!("{} fences", w.fencing.count))
            }
        }
        Check::VmOn(host) => {
            if w.vms.get(host).is_some_and(|vm| vm.running()) {
                Ok(())
            } else {
                Err("no running VM there".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Timings;

    fn parse(options: &str) -> Result<Scenario, String> {
        Scenario::parse(&format!("hosts 2\n{options}\nrun 10\n"))
    }

    #[test]
    fn the_timings_option_sets_the_timings_and_their_watchdog() {
        let t = Timings::default();
        let s = parse("option timings default").unwrap();
        assert_eq!(s.params.timings, t);
        assert_eq!(s.params.watchdog_ms, Some(t.watchdog_range_ms().1));
        let s = parse("option timings default\noption timings reference").unwrap();
        assert_eq!(s.params, SimParams::new(2));
    }

    #[test]
    fn a_watchdog_option_keeps_its_value_whatever_the_order() {
        for options in [
            "option watchdog off\noption timings default",
            "option timings default\noption watchdog off",
        ] {
            assert_eq!(
                parse(options).unwrap().params.watchdog_ms,
                None,
                "{options}"
            );
        }
        let s = parse("option watchdog 7\noption timings default").unwrap();
        assert_eq!(s.params.watchdog_ms, Some(7_000));
    }

    #[test]
    fn an_unknown_timings_value_is_refused() {
        let err = parse("option timings fast").unwrap_err();
        assert!(err.contains("not reference or default"), "{err}");
    }
}
