//! The real fence agent (`fence_ipmilan`, fence-agents) against simulated
//! BMCs (`ipmi_sim`, `tests/common/bmc.rs`): the facts the power fencing
//! feature relies on, as docs/fence-agents.md states them, pinned here so
//! that a version of fence-agents, ipmitool or OpenIPMI that changes one
//! fails a test. The truth about a host is its process (`host_running`),
//! never what the BMC or the agent says.
//!
//! Needs the Debian packages openipmi, fence-agents and ipmitool (`.ci/run`
//! installs them); without one, each test says so and skips, and fails under
//! `HE_REQUIRE_PRIVILEGED=1`. No root needed.

mod common;

use std::time::Duration;

use common::bmc::{BmcOptions, Bmcs, Fenced, Host, process_alive, programs_present};

/// Ground truth catches up with a power on within this: the host writes its
/// pid a moment after ipmi_sim starts it.
const SETTLE: Duration = Duration::from_secs(5);

/// `n` BMCs with `options`, or `None` when a program is missing (said why).
fn start(n: usize, options: BmcOptions) -> Option<Bmcs> {
    if !programs_present() {
        return None;
    }
    Some(Bmcs::start(n, &options))
}

fn off(host: Host) -> BmcOptions {
    BmcOptions {
        host,
        ..BmcOptions::default()
    }
}

fn on(host: Host) -> BmcOptions {
    BmcOptions {
        host,
        powered_on: true,
        ..BmcOptions::default()
    }
}

/// `ran` exited with `code` and printed exactly `stdout` (trimmed).
#[track_caller]
fn expect(ran: &Fenced, code: i32, stdout: &str) {
    assert_eq!(ran.code, Some(code), "{ran:#?}");
    assert_eq!(ran.stdout.trim(), stdout, "{ran:#?}");
}

#[test]
fn status_of_a_host_that_is_off_exits_2_and_monitor_0() {
    let Some(bmcs) = start(1, off(Host::Honest)) else {
        return;
    };
    let bmc = &bmcs[0];
    let ran = bmc.fence("status", &[]);
    expect(&ran, 2, "Status: OFF");
    // Fast: one ipmitool call with cipher 3.
    assert!(ran.took < Duration::from_secs(5), "{ran:#?}");
    assert!(!bmc.host_running());
    // monitor asks whether the BMC answers, not whether the host is on.
    expect(&bmc.fence("monitor", &[]), 0, "");
}

#[test]
fn on_starts_the_host_and_status_then_exits_0() {
    let Some(bmcs) = start(1, off(Host::Honest)) else {
        return;
    };
    let bmc = &bmcs[0];
    expect(&bmc.fence("on", &[]), 0, "Success: Powered ON");
    assert!(bmc.wait_host_running(true, SETTLE), "{}", bmc.log());
    expect(&bmc.fence("status", &[]), 0, "Status: ON");
    expect(&bmc.fence("on", &[]), 0, "Success: Already ON");
    assert!(bmc.host_running());
}

#[test]
fn off_kills_the_host_before_it_returns_and_status_then_exits_2() {
    let Some(bmcs) = start(1, on(Host::Honest)) else {
        return;
    };
    let bmc = &bmcs[0];
    assert!(bmc.wait_host_running(true, SETTLE), "{}", bmc.log());
    expect(&bmc.fence("status", &[]), 0, "Status: ON");
    let ran = bmc.fence("off", &[]);
    expect(&ran, 0, "Success: Powered OFF");
    // No wait: ipmi_sim says off only once the host is reaped, and the agent
    // returns only once it reads off.
    assert!(!bmc.host_running(), "{ran:#?}");
    expect(&bmc.fence("status", &[]), 2, "Status: OFF");
    expect(&bmc.fence("off", &[]), 0, "Success: Already OFF");
}

#[test]
fn the_default_power_wait_is_2_s() {
    let Some(bmcs) = start(1, off(Host::Honest)) else {
        return;
    };
    let bmc = &bmcs[0];
    let mut options = bmc.fence_options();
    options.retain(|(key, _)| key != "power_wait");
    options.push(("action".into(), "on".into()));
    let ran = common::bmc::run_fence_agent(&options);
    expect(&ran, 0, "Success: Powered ON");
    assert!(ran.took >= Duration::from_secs(2), "{ran:#?}");
}

#[test]
fn without_an_action_line_the_agent_reboots() {
    let Some(bmcs) = start(1, on(Host::Honest)) else {
        return;
    };
    let bmc = &bmcs[0];
    assert!(bmc.wait_host_running(true, SETTLE), "{}", bmc.log());
    let before = bmc.host_pid().unwrap();
    let ran = common::bmc::run_fence_agent(&bmc.fence_options());
    expect(&ran, 0, "Success: Rebooted");
    // The default method, onoff: off (the old host dies), then on (a new one).
    assert!(!process_alive(before), "{ran:#?}");
    assert!(bmc.wait_host_running(true, SETTLE), "{}", bmc.log());
    assert_ne!(bmc.host_pid(), Some(before));
}

#[test]
fn wrong_credentials_exit_1_quickly_and_switch_nothing() {
    let Some(bmcs) = start(1, on(Host::Honest)) else {
        return;
    };
    let bmc = &bmcs[0];
    assert!(bmc.wait_host_running(true, SETTLE), "{}", bmc.log());
    for (key, value) in [("password", "WRONG"), ("username", "nobody")] {
        let ran = bmc.fence("off", &[(key, value)]);
        expect(&ran, 1, "");
        // The same message as any unreadable status: fence_ipmilan never
        // reports a login failure as such.
        assert!(
            ran.stderr
                .contains("Failed: Unable to obtain correct plug status or plug is not available"),
            "{ran:#?}"
        );
        assert!(ran.took < Duration::from_secs(5), "{ran:#?}");
        assert!(bmc.host_running(), "{key}={value}: {ran:#?}");
    }
    expect(&bmc.fence("status", &[]), 0, "Status: ON");
}

#[test]
fn a_paused_bmc_makes_status_exit_1_after_power_timeout() {
    let Some(bmcs) = start(1, on(Host::Honest)) else {
        return;
    };
    let bmc = &bmcs[0];
    assert!(bmc.wait_host_running(true, SETTLE), "{}", bmc.log());
    bmc.pause();
    let ran = bmc.fence("status", &[("power_timeout", "3")]);
    bmc.resume();
    expect(&ran, 1, "");
    assert!(ran.stderr.contains("Connection timed out"), "{ran:#?}");
    // power_timeout bounds the ipmitool call in seconds here (it counts
    // polls in the wait for on or off).
    assert!(ran.took >= Duration::from_secs(3), "{ran:#?}");
    assert!(ran.took < Duration::from_secs(8), "{ran:#?}");
    // The host never noticed; the BMC answers again once resumed.
    assert!(bmc.host_running());
    expect(&bmc.fence("status", &[]), 0, "Status: ON");
}

#[test]
fn a_leaky_host_runs_on_while_its_bmc_says_off() {
    let Some(bmcs) = start(1, off(Host::Leaky)) else {
        return;
    };
    let bmc = &bmcs[0];
    expect(&bmc.fence("on", &[]), 0, "Success: Powered ON");
    assert!(bmc.wait_host_running(true, SETTLE), "{}", bmc.log());
    let host = bmc.host_pid().unwrap();
    expect(&bmc.fence("off", &[]), 0, "Success: Powered OFF");
    expect(&bmc.fence("status", &[]), 2, "Status: OFF");
    // A successful off proves nothing about the host.
    assert!(bmc.host_running());
    assert_eq!(bmc.host_pid(), Some(host));
}

#[test]
fn three_bmcs_have_independent_power() {
    let Some(bmcs) = start(3, off(Host::Honest)) else {
        return;
    };
    assert_eq!(bmcs.len(), 3);
    let ports: std::collections::BTreeSet<u16> = bmcs.iter().map(|b| b.port()).collect();
    assert_eq!(ports.len(), 3, "one port each");
    expect(&bmcs[1].fence("on", &[]), 0, "Success: Powered ON");
    assert!(bmcs[1].wait_host_running(true, SETTLE));
    expect_power(&bmcs, [false, true, false]);

    expect(&bmcs[0].fence("on", &[]), 0, "Success: Powered ON");
    expect(&bmcs[2].fence("on", &[]), 0, "Success: Powered ON");
    expect(&bmcs[1].fence("off", &[]), 0, "Success: Powered OFF");
    assert!(bmcs[0].wait_host_running(true, SETTLE));
    assert!(bmcs[2].wait_host_running(true, SETTLE));
    expect_power(&bmcs, [true, false, true]);
}

/// Each BMC's status and its host's ground truth are `on`.
#[track_caller]
fn expect_power(bmcs: &Bmcs, on: [bool; 3]) {
    for (i, (bmc, on)) in bmcs.iter().zip(on).enumerate() {
        let ran = bmc.fence("status", &[]);
        let (code, stdout) = if on {
            (0, "Status: ON")
        } else {
            (2, "Status: OFF")
        };
        assert_eq!(
            (ran.code, ran.stdout.trim()),
            (Some(code), stdout),
            "BMC {i}: {ran:#?}"
        );
        assert_eq!(bmc.host_running(), on, "BMC {i}'s host");
    }
}

#[test]
fn argument_errors_exit_1_not_2() {
    if !programs_present() {
        return;
    }
    let lines = |lines: &[(&str, &str)]| -> Vec<(String, String)> {
        lines
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // 2 is only ever "status: off", although the library's EC_BAD_ARGS is 2.
    for (input, message) in [
        (
            lines(&[("action", "status"), ("lanplus", "1")]),
            "Failed: You have to enter fence address",
        ),
        (
            lines(&[("port", "127.0.0.1"), ("action", "status")]),
            "Failed: You have to enter fence address",
        ),
        (
            lines(&[("ip", "127.0.0.1"), ("action", "explode")]),
            "Failed: Unrecognised action 'explode'",
        ),
    ] {
        let ran = common::bmc::run_fence_agent(&input);
        assert_eq!(ran.code, Some(1), "{input:?}: {ran:#?}");
        assert!(ran.stderr.contains(message), "{input:?}: {ran:#?}");
    }
}

#[test]
fn dropping_the_bmcs_ends_ipmi_sim_and_every_host() {
    let Some(bmcs) = start(2, on(Host::Leaky)) else {
        return;
    };
    let mut pids = Vec::new();
    for bmc in bmcs.iter() {
        assert!(bmc.wait_host_running(true, SETTLE), "{}", bmc.log());
        pids.extend([bmc.pid(), bmc.host_pid().unwrap()]);
    }
    // The first host outlives its power off (leaky): only the group kill
    // ends it.
    expect(&bmcs[0].fence("off", &[]), 0, "Success: Powered OFF");
    assert!(bmcs[0].host_running());
    bmcs[1].pause();
    drop(bmcs);
    // SIGKILL is sent by the time drop returns; dying takes a moment more.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|&pid| process_alive(pid)) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in pids {
        assert!(!process_alive(pid), "process {pid} outlived its BMC");
    }
}

/// `fencing.conf` beside `host`'s metadata volume, one device a BMC (host
/// ids 1..), its passwords in 0600 files, calls bounded at 3 polls.
fn write_fencing_conf(host: &common::he::Host, bmcs: &Bmcs) {
    let agent = common::bmc::find_program("fence_ipmilan").unwrap();
    let mut text = String::from("[fencing]\ntimeout-secs = 10\n");
    for (index, bmc) in bmcs.iter().enumerate() {
        let id = index + 1;
        // Where this host keeps them: fencing/ beside its agent.conf.
        let secrets = host.path("etc/ovirt-hosted-engine-ha/fencing");
        std::fs::create_dir_all(&secrets).unwrap();
        let password = secrets.join(format!("host{id}.password"));
        std::fs::write(&password, format!("{}\n", bmc.password())).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
        text += &format!(
            "[host {id}]\nagent = {}\npassword-file = {}\n",
            agent.display(),
            password.display()
        );
        for (key, value) in bmc.fence_options() {
            if key != "password" {
                text += &format!("{key} = {value}\n");
            }
        }
        text += "power_timeout = 3\n";
    }
    let path = host.volume().parent().unwrap().join("fencing.conf");
    std::fs::write(path, text).unwrap();
}

/// `hosted-engine --check-fencing` asks every device from this host: an
/// answering BMC says on or off, a hung one (SIGSTOP) is unreachable, with
/// the fence agent's reason; exit 1 then, 0 once every device answers. The
/// passwords come from their files and are never shown.
#[test]
fn check_fencing_asks_every_device_and_says_which_did_not_answer() {
    let Some(bmcs) = start(3, on(Host::Honest)) else {
        return;
    };
    expect(&bmcs[1].fence("off", &[]), 0, "Success: Powered OFF");
    let host = common::he::Host::deployed();
    write_fencing_conf(&host, &bmcs);
    bmcs[2].pause();
    let ran = host.he(&["--check-fencing", "--json"]);
    bmcs[2].resume();
    assert_eq!(ran.code, Some(1), "{ran:?}");
    let json: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let hosts = json["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "{json}");
    assert_eq!(hosts[0]["power"], "on", "{json}");
    assert_eq!(hosts[1]["power"], "off", "{json}");
    assert_eq!(hosts[2]["reachable"], false, "{json}");
    let error = hosts[2]["error"].as_str().unwrap();
    assert!(error.contains("Connection timed out"), "{json}");
    let took = hosts[2]["took-ms"].as_u64().unwrap();
    assert!(
        (2_500..10_000).contains(&took),
        "all at once, bounded: {json}"
    );
    let table = host.he(&["--check-fencing"]);
    assert_eq!(table.code, Some(0), "{table:?}");
    for (id, power) in [(1, "on"), (2, "off"), (3, "on")] {
        let row = table
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {id} ")));
        let row = row.unwrap_or_else(|| panic!("no row {id}: {}", table.stdout));
        assert!(
            row.contains("| yes ") && row.contains(&format!("| {power} ")),
            "{row}"
        );
    }
    for bmc in bmcs.iter() {
        let shown = format!(
            "{}{}{}{}",
            ran.stdout, ran.stderr, table.stdout, table.stderr
        );
        assert!(!shown.contains(bmc.password()), "a password shown: {shown}");
    }
}

/// Without a `fencing.conf`, `--check-fencing` says there is none and where
/// it would be (exit 1); no fence agent is needed for that.
#[test]
fn check_fencing_without_a_fencing_conf_says_where_it_would_be() {
    let host = common::he::Host::deployed();
    let ran = host.he(&["--check-fencing"]);
    assert_eq!(ran.code, Some(1), "{ran:?}");
    assert!(ran.stderr.contains("fencing.conf: no such file"), "{ran:?}");
    assert!(ran.stdout.is_empty(), "{ran:?}");
}
