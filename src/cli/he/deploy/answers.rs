//! The answers of `hosted-engine --deploy`: options over an answer file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::cli::he::failure::{Failure, FailureKind};
use crate::cli::he::spec::Invocation;
use crate::config::{
    BrokerConf, ConfFile, HE_CONF_KEYS, KvDocument, Syntax, WATCHDOG_NONE_ACK_KEY,
    WATCHDOG_NONE_ACK_VALUE, read_bounded,
};

/// Answer-file keys that are not `hosted-engine.conf`'s.
pub(super) const ENABLE_AGENT: &str = "enable_agent";
pub(super) const AGENT_CONF_KEY: &str = "agent_conf";
/// The cluster's `fencing.conf` to copy beside the metadata volume (first host).
pub(super) const FENCING_CONF_KEY: &str = "fencing_conf";
/// A directory of fence device password files for this host's fencing directory.
pub(super) const FENCE_PASSWORDS_KEY: &str = "fence_passwords";
/// `broker.<section>.<key>` sets a key of `broker.conf`.
const BROKER_PREFIX: &str = "broker.";

/// Options that give an answer: (option, answer key).
const OPTION_KEYS: &[(&str, &str)] = &[
    ("storage", "storage"),
    ("domain-type", "domainType"),
    ("sd-uuid", "sdUUID"),
    ("mnt-root", "mnt_root"),
    ("fqdn", "fqdn"),
    ("gateway", "gateway"),
    ("network-test", "network_test"),
    ("hostname", "hostname"),
    ("vm-driver", "vm_driver"),
    ("vm-xml", "vm_xml"),
    ("vm-command", "vm_command"),
    ("watchdog-device", "watchdog_device"),
    ("watchdog-timeout-secs", "watchdog_timeout_secs"),
    ("agent-conf", AGENT_CONF_KEY),
    ("fencing-conf", FENCING_CONF_KEY),
    ("fence-passwords", FENCE_PASSWORDS_KEY),
];

/// This host's own watchdog keys: every host answers them (an added host does
/// not take the first host's from the cluster's copy: its hardware may
/// differ, and running unfenced is each host's own deliberate choice).
pub(super) const WATCHDOG_KEYS: &[&str] = &[
    "watchdog_device",
    "watchdog_timeout_secs",
    WATCHDOG_NONE_ACK_KEY,
];

/// The cluster's identity: an added host takes these from the shared copy and
/// may not answer them differently. (`fqdn` is not one: a host may reach the
/// engine under another name, e.g. through its own resolver.)
pub(super) const IDENTITY_KEYS: &[&str] = &["vmid", "sdUUID", "storage", "domainType"];

/// The answers, by key; options override the answer file.
#[derive(Debug, Default, Clone)]
pub(super) struct Answers(pub(super) BTreeMap<String, String>);

impl Answers {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub(super) fn set(&mut self, key: &str, value: impl Into<String>) {
        self.0.insert(key.to_owned(), value.into());
    }

    /// The answer file at `path`: flat `key=value` lines, `#` comments.
    pub(super) fn read_file(&mut self, path: &Path) -> Result<(), Failure> {
        let bytes = read_bounded(path)
            .map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))?
            .ok_or_else(|| {
                Failure::new(
                    FailureKind::Answers,
                    format!("{}: no such answer file", path.display()),
                )
            })?;
        let doc = KvDocument::parse_bytes(path, Syntax::Flat, &bytes)
            .map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))?;
        for entry in doc.entries() {
            let line = entry.line.map_or(String::new(), |l| format!(":{l}"));
            check_key(entry.key).map_err(|why| {
                Failure::new(
                    FailureKind::Answers,
                    format!("{}{line}: {why}", path.display()),
                )
            })?;
            self.set(entry.key, entry.value);
        }
        Ok(())
    }

    /// The options of `inv` that give answers.
    pub(super) fn read_options(&mut self, inv: &Invocation) {
        for (option, key) in OPTION_KEYS {
            if let Some(value) = inv.value(option) {
                self.set(key, value);
            }
        }
        if inv.flag("no-enable-agent") {
            self.set(ENABLE_AGENT, "no");
        }
        if inv.flag("watchdog-none-i-accept-split-brain") {
            self.set(WATCHDOG_NONE_ACK_KEY, WATCHDOG_NONE_ACK_VALUE);
        }
    }

    /// This host's watchdog must be answered (the agent refuses to start
    /// without one, and no default is safe to guess).
    pub(super) fn require_watchdog(&self) -> Result<(), Failure> {
        if self.get("watchdog_device").is_some() {
            return Ok(());
        }
        Err(Failure::new(
            FailureKind::Answers,
            "missing answer: --watchdog-device, this host's watchdog (the agent refuses to \
             start without one): a device such as /dev/watchdog (a hardware watchdog, e.g. \
             iTCO_wdt or ipmi_watchdog, or the kernel's softdog: modprobe softdog), or none \
             with --watchdog-none-i-accept-split-brain to run this host unfenced",
        ))
    }

    pub(super) fn enable_agent(&self) -> Result<bool, Failure> {
        match self.get(ENABLE_AGENT) {
            None | Some("yes" | "true" | "True" | "1") => Ok(true),
            Some("no" | "false" | "False" | "0") => Ok(false),
            Some(other) => Err(Failure::new(
                FailureKind::Answers,
                format!("{ENABLE_AGENT}={other}: expected yes or no"),
            )),
        }
    }

    /// The `hosted-engine.conf` keys, as a document for `path`.
    pub(super) fn he_document(&self, path: &Path) -> KvDocument {
        let mut doc = KvDocument::new(path, Syntax::Flat);
        for (key, value) in &self.0 {
            if HE_CONF_KEYS.contains(&key.as_str()) {
                // Checked when read: a key this file knows with a one-line value.
                let _ = doc.set("", key, value);
            }
        }
        doc
    }

    /// The answer file that repeats this deploy.
    pub(super) fn render(&self, add_host: bool) -> String {
        let mut text = format!(
            "# hosted-engine --deploy{} answers, written by --generate-answer.\n\
             # Use with: hosted-engine --deploy{} --answer-file=<this file>\n",
            if add_host { " --add-host" } else { "" },
            if add_host { " --add-host" } else { "" },
        );
        for (key, value) in &self.0 {
            text.push_str(&format!("{key}={value}\n"));
        }
        text
    }
}

/// Whether `key` may appear in an answer file.
pub(super) fn check_key(key: &str) -> Result<(), String> {
    if key == "host_id" {
        return Err(
            "host_id is not an answer: the first host is 1, an added host takes the \
                    lowest free id"
                .into(),
        );
    }
    if HE_CONF_KEYS.contains(&key)
        || [
            ENABLE_AGENT,
            AGENT_CONF_KEY,
            FENCING_CONF_KEY,
            FENCE_PASSWORDS_KEY,
        ]
        .contains(&key)
    {
        return Ok(());
    }
    if let Some(rest) = key.strip_prefix(BROKER_PREFIX) {
        if let Some((section, name)) = rest.split_once('.')
            && !section.is_empty()
            && !name.is_empty()
        {
            return Ok(());
        }
        return Err(format!(
            "{key}: broker keys are written broker.<section>.<key>, e.g. broker.email.smtp-server"
        ));
    }
    Err(format!(
        "unknown answer {key:?} (the keys of hosted-engine.conf, {ENABLE_AGENT}, \
         {AGENT_CONF_KEY}, {FENCING_CONF_KEY}, {FENCE_PASSWORDS_KEY}, or \
         broker.<section>.<key>)"
    ))
}

/// broker.conf from the `broker.<section>.<key>` answers.
pub(super) fn broker_text(answers: &Answers, path: &Path) -> Result<String, Failure> {
    let mut doc = KvDocument::new(path, Syntax::Ini);
    for (key, value) in &answers.0 {
        if let Some((section, name)) = key
            .strip_prefix(BROKER_PREFIX)
            .and_then(|rest| rest.split_once('.'))
        {
            doc.set(section, name, value)
                .map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))?;
        }
    }
    let text = doc.render();
    BrokerConf::parse(path, &text)
        .map_err(|e| Failure::new(FailureKind::Answers, e.to_string()))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_keys_are_checked() {
        for good in [
            "fqdn",
            "vm_command",
            "enable_agent",
            "agent_conf",
            "fencing_conf",
            "fence_passwords",
            "broker.email.smtp-server",
        ] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["host_id", "bogus", "broker.x", "broker..k", "broker.s."] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }
}
