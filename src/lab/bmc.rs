//! OpenIPMI's `ipmi_sim` as a simulated BMC, and `ipmitool` to talk to it
//! (docs/fence-agents.md, section 6, has the facts behind every choice):
//! the command file every BMC shares, a BMC's `lan.conf`, how `ipmi_sim` is
//! started, and the programs it all needs. Used by the lab's BMCs (`he-lab
//! up --fencing`, [`super::cluster::fencing`]) and by the fence-agent tests'
//! harness (`tests/common/bmc.rs`).

use std::fmt::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The IPMI over LAN port (UDP) a real BMC listens on.
pub const IPMI_PORT: u16 = 623;
/// Longest IPMI user name (IPMI 2.0).
pub const USER_NAME_MAX_BYTES: usize = 16;
/// Longest password `ipmitool user set password` sets without asking for
/// the 20-byte form (IPMI 2.0 allows 20).
pub const PASSWORD_MAX_BYTES: usize = 16;

/// The programs a simulated BMC and its fencing need, each with the Debian
/// package that has it.
pub const PROGRAMS: [(&str, &str); 3] = [
    ("ipmi_sim", "openipmi"),
    ("fence_ipmilan", "fence-agents"),
    ("ipmitool", "ipmitool"),
];

/// One BMC management controller at IPMB 0x20 with the chassis device bit
/// (0x9f), shared by every BMC (docs/fence-agents.md, "ipmi_sim").
pub const BMC_EMU: &str = "\
# ipmi_sim command file: one BMC MC at IPMB 0x20 (chassis device bit set in 0x9f)
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
";

/// Where `name` is: on `PATH`, else in /usr/sbin or /sbin (where Debian puts
/// the fence agents, not on every user's `PATH`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The [`PROGRAMS`] missing here, each as `package (program)`.
pub fn missing_programs() -> Vec<String> {
    PROGRAMS
        .iter()
        .filter(|(program, _)| find_program(program).is_none())
        .map(|(program, package)| format!("{package} ({program})"))
        .collect()
}

/// One IPMI user of a BMC: an administrator.
#[derive(Debug, Clone, Copy)]
pub struct BmcUser<'a> {
    /// 2 and up (user 1 is the anonymous user, left out: no anonymous access).
    pub number: u8,
    pub name: &'a str,
    pub password: &'a str,
}

/// A BMC's `lan.conf` (docs/fence-agents.md shows one).
#[derive(Debug, Clone)]
pub struct LanConf<'a> {
    /// Names its state directory (`ipmi_sim/<name>/`).
    pub name: &'a str,
    /// Makes its GUID (needed for IPMI 2.0) its own.
    pub guid_index: u32,
    /// IPMI over LAN: the address and UDP port.
    pub addr: &'a str,
    pub port: u16,
    /// Channel 15 (the VM serial interface) on TCP: it must exist for power
    /// control; nothing needs to connect to it.
    pub serial_addr: &'a str,
    pub serial_port: u16,
    /// What power on runs (`/bin/sh -c "exec <startcmd>"`): the host.
    pub startcmd: &'a str,
    /// Powered on as soon as it runs.
    pub startnow: bool,
    /// 1-second ticks between its SIGTERM and its SIGKILL of a host that
    /// did not die at power off (0: never).
    pub kill_wait_ticks: u32,
    pub users: &'a [BmcUser<'a>],
}

impl LanConf<'_> {
    /// Why ipmi_sim would not read this as meant: user names and passwords
    /// of letters and digits only (it reads them quoted), a startcmd without
    /// quotes or backslashes.
    pub fn check(&self) -> Result<(), String> {
        for user in self.users {
            check_credential(user.name, USER_NAME_MAX_BYTES)?;
            check_credential(user.password, PASSWORD_MAX_BYTES)?;
            if user.number < 2 {
                return Err(format!("user {}: users are numbered from 2", user.number));
            }
        }
        if self.startcmd.contains(['"', '\\', '\n']) {
            return Err(format!(
                "{:?}: no quotes, backslashes or newlines in a startcmd",
                self.startcmd
            ));
        }
        Ok(())
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut text = format!(
            r#"name "{name}"
set_working_mc 0x20
  startlan 1
    addr {addr} {port}
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa1234567{guid:08x}
  endlan
  # Channel 15 must exist for startcmd power control.
  serial 15 {serial_addr} {serial_port} codec VM
  startcmd "{startcmd}"
  startnow {startnow}
  poweroff_wait 2
  kill_wait {kill_wait}
"#,
            name = self.name,
            addr = self.addr,
            port = self.port,
            guid = self.guid_index,
            serial_addr = self.serial_addr,
            serial_port = self.serial_port,
            startcmd = self.startcmd,
            startnow = self.startnow,
            kill_wait = self.kill_wait_ticks,
        );
        for user in self.users {
            let _ = writeln!(
                text,
                r#"  user {} true "{}" "{}" admin 10 none md2 md5 straight"#,
                user.number, user.name, user.password
            );
        }
        text
    }
}

/// `value` as an IPMI user name or password: 1 to `max_bytes` letters or
/// digits.
pub fn check_credential(value: &str, max_bytes: usize) -> Result<(), String> {
    if !value.is_empty()
        && value.len() <= max_bytes
        && value.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        Ok(())
    } else {
        Err(format!("{value:?}: 1 to {max_bytes} letters or digits"))
    }
}

/// `ipmi_sim` (at `sim`) for one BMC: `-n`, no console (without it, and
/// stdin not a terminal, it aborts or shuts down); `-c`, `-f` and `-s`
/// always given (Debian's build looks in /usr/etc otherwise); stdin from
/// /dev/null; a process group of its own, which its host joins, so that one
/// group kill ends both (ipmi_sim leaves its host running when it ends).
pub fn ipmi_sim_command(sim: &Path, lan_conf: &Path, emu: &Path, state_dir: &Path) -> Command {
    let mut command = Command::new(sim);
    command
        .arg("-n")
        .arg("-c")
        .arg(lan_conf)
        .arg("-f")
        .arg(emu)
        .arg("-s")
        .arg(state_dir)
        .stdin(Stdio::null())
        .process_group(0);
    command
}

/// `ipmitool` (at `tool`) to the BMC at `addr`:`port` as `user`: IPMI 2.0
/// (lanplus) with cipher suite 3 (any other choice makes ipmitool spend
/// 10-14 s asking ipmi_sim for its suites), one try of one second (`-N 1
/// -R 1`), the password in the environment (`-E`), not on the command line.
/// The caller adds the command (`chassis power status`).
pub fn ipmitool(tool: &Path, addr: &str, port: u16, user: &str, password: &str) -> Command {
    let mut command = Command::new(tool);
    command
        .args(["-I", "lanplus", "-C", "3", "-H", addr, "-p"])
        .arg(port.to_string())
        .args(["-U", user, "-E", "-N", "1", "-R", "1"])
        .env("IPMI_PASSWORD", password)
        .stdin(Stdio::null());
    command
}

/// The power `ipmitool chassis power status` printed: `Chassis Power is
/// on` or `off`.
pub fn chassis_power(stdout: &str) -> Option<bool> {
    stdout.lines().find_map(
        |line| match line.trim().strip_prefix("Chassis Power is ")? {
            "on" => Some(true),
            "off" => Some(false),
            _ => None,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf<'a>(users: &'a [BmcUser<'a>]) -> LanConf<'a> {
        LanConf {
            name: "bmc1",
            guid_index: 1,
            addr: "127.0.0.1",
            port: 9001,
            serial_addr: "127.0.0.1",
            serial_port: 9002,
            startcmd: "/lab/host /lab/bmc1",
            startnow: false,
            kill_wait_ticks: 2,
            users,
        }
    }

    #[test]
    fn lan_conf_is_the_documented_one() {
        let users = [BmcUser {
            number: 2,
            name: "admin",
            password: "secret",
        }];
        let text = conf(&users).render();
        // docs/fence-agents.md, "lan.conf, verbatim as the harness writes it".
        assert!(text.starts_with("name \"bmc1\"\nset_working_mc 0x20\n  startlan 1\n"));
        assert!(text.contains("    addr 127.0.0.1 9001\n"));
        assert!(text.contains("    guid a123456789abcdefa123456700000001\n"));
        assert!(text.contains("  serial 15 127.0.0.1 9002 codec VM\n"));
        assert!(text.contains("  startcmd \"/lab/host /lab/bmc1\"\n  startnow false\n"));
        assert!(text.contains("  kill_wait 2\n"));
        assert!(
            text.ends_with("  user 2 true \"admin\" \"secret\" admin 10 none md2 md5 straight\n")
        );
        assert_eq!(conf(&users).check(), Ok(()));
    }

    #[test]
    fn what_ipmi_sim_would_misread_is_refused() {
        let bad = [BmcUser {
            number: 2,
            name: "ad min",
            password: "secret",
        }];
        assert!(conf(&bad).check().is_err());
        let long = [BmcUser {
            number: 2,
            name: "admin",
            password: "0123456789abcdefX",
        }];
        assert!(conf(&long).check().is_err());
        let mut quoted = conf(&[]);
        quoted.startcmd = "/x \"y\"";
        assert!(quoted.check().is_err());
    }

    #[test]
    fn chassis_power_is_read_from_ipmitool() {
        assert_eq!(chassis_power("Chassis Power is on\n"), Some(true));
        assert_eq!(chassis_power("Chassis Power is off\n"), Some(false));
        assert_eq!(chassis_power("Error: Unable to establish\n"), None);
    }
}
