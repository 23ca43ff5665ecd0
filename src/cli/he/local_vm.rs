//! This host's engine VM driven directly, for the few commands that act on it
//! while the agent is down (`--vm-shutdown --force`, `--vm-poweroff --force`,
//! the local-maintenance and disconnect checks) and for the console commands.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::process::Command;

use crate::config::{Config, ConfigPaths};
use crate::core::LocalVm;
use crate::shell::VmDriver;
use crate::shell::vm::{VM_LOG_FILE, from_config};

/// How long a console password stays valid.
const CONSOLE_PASSWORD_VALID_SECS: i64 = 2 * 3600;

/// Whether the engine VM may run on this host, as `driver` sees it directly:
/// only a VM manager that does not know the VM says no. A failed query, or
/// a VM it knows in any state, counts as running, the safe answer for the
/// commands that must not act under it (`--disconnect-storage`, local
/// maintenance with the agent down) and for `--force`, which then acts on it.
pub fn runs_here(driver: &mut dyn VmDriver) -> bool {
    !matches!(driver.status(), LocalVm::NotPresent)
}

/// The engine VM driver this host's agent uses.
pub fn driver(config: &Config, paths: &ConfigPaths) -> Result<Box<dyn VmDriver>, String> {
    Ok(Box::new(from_config(config, paths)?))
}

fn is_libvirt(config: &Config) -> bool {
    config.hosted_engine.vm_driver == crate::config::VmDriverKind::Libvirt
}

/// The libvirt domain: its UUID is `vmid` (the driver finds it by UUID).
fn domain(config: &Config) -> Result<&str, String> {
    config
        .hosted_engine
        .vmid
        .as_deref()
        .ok_or_else(|| "hosted-engine.conf has no vmid".to_owned())
}

/// The command that shows the engine VM's console: `virsh console` for a
/// libvirt domain; the process driver's VM has no console, so its output log
/// is followed instead.
pub fn console_command(config: &Config, paths: &ConfigPaths) -> Result<Vec<String>, String> {
    if is_libvirt(config) {
        return Ok(vec![
            "virsh".into(),
            "-c".into(),
            config.hosted_engine.libvirt_uri.clone(),
            "console".into(),
            domain(config)?.to_owned(),
        ]);
    }
    let log = paths.state_dir.join(VM_LOG_FILE);
    if !log.exists() {
        return Err(format!(
            "the engine VM (process driver) has no console, and its output log {} does not exist",
            log.display()
        ));
    }
    Ok(vec![
        "tail".into(),
        "-n".into(),
        "50".into(),
        "-F".into(),
        log.display().to_string(),
    ])
}

/// Sets a temporary VNC password on the running libvirt domain (valid for two
/// hours): `virsh update-device --live` with the domain's live VNC graphics
/// element carrying it, from a file only root can read, so the password never
/// shows in a process list. The element must be the live one: libvirt refuses
/// an update that changes anything but the password, and a fresh element
/// lacks the listen address libvirt fills in (so every such update was
/// refused). QEMU accepts a password only on a display started with one, as
/// vdsm defines the engine VM's (an expired one).
pub fn set_console_password(config: &Config, password: &str) -> Result<(), String> {
    if !is_libvirt(config) {
        return Err("the engine VM (process driver) has no VNC console".into());
    }
    if password.contains(['\'', '"', '<', '>', '&']) {
        return Err("the password may not contain quotes, <, > or &".into());
    }
    let valid_to = time_text(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
            + CONSOLE_PASSWORD_VALID_SECS,
    );
    let live = virsh(config, &["dumpxml", domain(config)?])?;
    let Some(xml) = vnc_graphics_with_password(&live, password, &valid_to) else {
        return Err(format!(
            "the engine VM's domain {} has no VNC display (<graphics type='vnc'>): no console \
             password to set",
            domain(config)?
        ));
    };
    let dir = tempfile_dir()?;
    let file = dir.join("graphics.xml");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .and_then(|mut f| f.write_all(xml.as_bytes()));
    let result = written
        .map_err(|e| format!("{}: {e}", file.display()))
        .and_then(|()| {
            let file = file.display().to_string();
            virsh(config, &["update-device", domain(config)?, &file, "--live"]).map(|_| ())
        });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `virsh -c <uri> <args>`'s stdout, or its error.
fn virsh(config: &Config, args: &[&str]) -> Result<String, String> {
    let out = Command::new("virsh")
        .args(["-c", &config.hosted_engine.libvirt_uri])
        .args(args)
        .output()
        .map_err(|e| format!("running virsh: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "virsh {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The first VNC graphics element of a domain's XML (as libvirt formats it:
/// single quotes, `type` first) with `passwd` and `passwdValidTo` set in place
/// of any it had; `None` without one.
fn vnc_graphics_with_password(domain_xml: &str, password: &str, valid_to: &str) -> Option<String> {
    const OPEN: &str = "<graphics type='vnc'";
    let rest = &domain_xml[domain_xml.find(OPEN)?..];
    let tag_len = rest.find('>')? + 1;
    let element_len = if rest[..tag_len].ends_with("/>") {
        tag_len
    } else {
        rest.find("</graphics>")? + "</graphics>".len()
    };
    let attributes = without_attribute(
        &without_attribute(&rest[OPEN.len()..tag_len], "passwd"),
        "passwdValidTo",
    );
    Some(format!(
        "{OPEN} passwd='{password}' passwdValidTo='{valid_to}'{attributes}{}\n",
        &rest[tag_len..element_len]
    ))
}

/// `attributes` (of a start tag) without the attribute `name`.
fn without_attribute(attributes: &str, name: &str) -> String {
    let key = format!(" {name}='");
    let Some(at) = attributes.find(&key) else {
        return attributes.to_owned();
    };
    let value = at + key.len();
    match attributes[value..].find('\'') {
        Some(len) => format!("{}{}", &attributes[..at], &attributes[value + len + 1..]),
        None => attributes.to_owned(),
    }
}

/// A private directory for the password file.
fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("hosted-engine-console-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// `YYYY-MM-DDTHH:MM:SS` in UTC, as libvirt's `passwdValidTo` takes it.
fn time_text(unix: i64) -> String {
    let (year, month, day, h, m, s) = crate::metadata::civil_time(unix);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::{time_text, vnc_graphics_with_password};

    #[test]
    fn the_live_vnc_element_gets_the_password() {
        let live = "<domain>\n  <devices>\n    <graphics type='spice' autoport='yes'/>\n    \
            <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1' \
            passwdValidTo='1970-01-01T00:00:01'>\n      \
            <listen type='address' address='127.0.0.1'/>\n    </graphics>\n  </devices>\n</domain>\n";
        assert_eq!(
            vnc_graphics_with_password(live, "pw", "2030-01-01T00:00:00").unwrap(),
            "<graphics type='vnc' passwd='pw' passwdValidTo='2030-01-01T00:00:00' port='5900' \
             autoport='yes' listen='127.0.0.1'>\n      \
             <listen type='address' address='127.0.0.1'/>\n    </graphics>\n"
        );
        let short = "<graphics type='vnc' port='5901' autoport='no' passwd='old'/>";
        assert_eq!(
            vnc_graphics_with_password(short, "pw", "T").unwrap(),
            "<graphics type='vnc' passwd='pw' passwdValidTo='T' port='5901' autoport='no'/>\n"
        );
        assert_eq!(
            vnc_graphics_with_password("<graphics type='spice'/>", "pw", "T"),
            None
        );
    }

    #[test]
    fn libvirt_time_text() {
        assert_eq!(time_text(0), "1970-01-01T00:00:00");
        assert_eq!(time_text(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(time_text(1_804_200_000), "2027-03-04T22:40:00");
    }
}
