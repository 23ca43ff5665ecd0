//! `broker.conf`: where state-change notification mail goes (`[email]`) and which
//! transitions are mailed (`[notify]`) (`docs/compat.md` section 9).
//!
//! Ours on top of the reference: STARTTLS, authentication and a timeout for the
//! SMTP conversation (the reference has none of them).

use std::fmt;

use regex::Regex;

use super::ConfFile;
use super::document::{KvDocument, Syntax};
use super::error::ConfigErrors;
use super::values::{
    Fields, Violation, errors_from, format_secs, parse_bool, parse_port, parse_secs_ms, parse_word,
    violation_error,
};

/// Section of the mail settings.
pub const EMAIL_SECTION: &str = "email";
/// Section of the notification filter.
pub const NOTIFY_SECTION: &str = "notify";
/// The reference's default filter.
pub const DEFAULT_STATE_TRANSITION: &str = "maintenance|start|stop|up|down";
/// Most recipients of one notification.
pub const DESTINATION_EMAILS_MAX: usize = 100;
/// Longest SMTP conversation we allow for.
pub const SMTP_TIMEOUT_MAX_MS: u64 = 300_000;
/// Bound on the compiled size of the `state_transition` regex.
const STATE_TRANSITION_SIZE_MAX_BYTES: usize = 1 << 20;

/// `[email]`.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailConf {
    /// `smtp-server`, default `localhost`.
    pub smtp_server: String,
    /// `smtp-port`, default 25.
    pub smtp_port: u16,
    /// `source-email`, default `root@localhost`.
    pub source_email: String,
    /// `destination-emails`, comma separated, default `root@localhost`.
    pub destination_emails: Vec<String>,
    /// Ours: `smtp-starttls`, default false.
    pub smtp_starttls: bool,
    /// Ours: `smtp-user`; needs `smtp-password` and `smtp-starttls=true`.
    pub smtp_user: Option<String>,
    /// Ours: `smtp-password`. The file is created mode 0600 for this reason.
    pub smtp_password: Option<String>,
    /// Ours: `smtp-timeout-secs`, default 10: bound on the whole SMTP conversation.
    pub smtp_timeout_ms: u64,
}

// The password must not reach logs through `{:?}`.
impl fmt::Debug for EmailConf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConf")
            .field("smtp_server", &self.smtp_server)
            .field("smtp_port", &self.smtp_port)
            .field("source_email", &self.source_email)
            .field("destination_emails", &self.destination_emails)
            .field("smtp_starttls", &self.smtp_starttls)
            .field("smtp_user", &self.smtp_user)
            .field(
                "smtp_password",
                &self.smtp_password.as_ref().map(|_| "<redacted>"),
            )
            .field("smtp_timeout_ms", &self.smtp_timeout_ms)
            .finish()
    }
}

impl Default for EmailConf {
    fn default() -> Self {
        EmailConf {
            smtp_server: "localhost".into(),
            smtp_port: 25,
            source_email: "root@localhost".into(),
            destination_emails: vec!["root@localhost".into()],
            smtp_starttls: false,
            smtp_user: None,
            smtp_password: None,
            smtp_timeout_ms: 10_000,
        }
    }
}

impl EmailConf {
    /// Every key of `[email]`.
    pub fn keys() -> Vec<&'static str> {
        vec![
            "smtp-server",
            "smtp-port",
            "source-email",
            "destination-emails",
            "smtp-starttls",
            "smtp-user",
            "smtp-password",
            "smtp-timeout-secs",
        ]
    }

    fn read(f: &mut Fields<'_>) -> Self {
        let d = EmailConf::default();
        let s = EMAIL_SECTION;
        EmailConf {
            smtp_server: f.or(s, "smtp-server", d.smtp_server, parse_word),
            smtp_port: f.or(s, "smtp-port", d.smtp_port, parse_port),
            source_email: f.or(s, "source-email", d.source_email, parse_address),
            destination_emails: f.or(
                s,
                "destination-emails",
                d.destination_emails,
                parse_address_list,
            ),
            smtp_starttls: f.or(s, "smtp-starttls", d.smtp_starttls, parse_bool),
            smtp_user: f.value(s, "smtp-user", parse_word),
            smtp_password: f.value(s, "smtp-password", |raw| Ok(raw.to_string())),
            smtp_timeout_ms: f.or(s, "smtp-timeout-secs", d.smtp_timeout_ms, parse_secs_ms),
        }
    }

    /// Every broken rule.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        if self.smtp_user.is_some() != self.smtp_password.is_some() {
            found.push(Violation::new(
                &["smtp-user", "smtp-password"],
                "smtp-user and smtp-password must be set together".into(),
            ));
        }
        // Credentials in clear text over the network are refused outright rather
        // than sent once by accident.
        if self.smtp_user.is_some() && !self.smtp_starttls {
            found.push(Violation::new(
                &["smtp-user", "smtp-starttls"],
                "smtp-user needs smtp-starttls=true (credentials are never sent in clear text)"
                    .into(),
            ));
        }
        if self.smtp_timeout_ms == 0 || self.smtp_timeout_ms > SMTP_TIMEOUT_MAX_MS {
            let message = format!(
                "smtp-timeout-secs ({}) must be greater than 0 and at most {}",
                format_secs(self.smtp_timeout_ms),
                format_secs(SMTP_TIMEOUT_MAX_MS)
            );
            found.push(Violation::new(&["smtp-timeout-secs"], message));
        }
        found
    }
}

/// A mail address with nothing that could end a header line or start another
/// address: an address is copied into `From:`/`To:` headers.
fn parse_address(raw: &str) -> Result<String, String> {
    let ok = raw.len() <= 254
        && raw
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || ",;<>\"".contains(c));
    if !ok {
        return Err(format!("{raw:?} is not a mail address (user@host)"));
    }
    Ok(raw.to_string())
}

fn parse_address_list(raw: &str) -> Result<Vec<String>, String> {
    let addresses: Vec<&str> = raw
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if addresses.is_empty() || addresses.len() > DESTINATION_EMAILS_MAX {
        return Err(format!(
            "must list 1..={DESTINATION_EMAILS_MAX} comma separated addresses"
        ));
    }
    addresses.into_iter().map(parse_address).collect()
}

/// `[notify]`.
#[derive(Debug, Clone)]
pub struct NotifyConf {
    /// `state_transition`: a transition is mailed when this matches anywhere in
    /// `<Old>-<New>`, ignoring case (the reference searches with `re.I`).
    pub state_transition: Regex,
}

impl PartialEq for NotifyConf {
    fn eq(&self, other: &Self) -> bool {
        self.state_transition.as_str() == other.state_transition.as_str()
    }
}

impl Default for NotifyConf {
    fn default() -> Self {
        NotifyConf {
            state_transition: compile_state_transition(DEFAULT_STATE_TRANSITION)
                .expect("the default state_transition compiles"),
        }
    }
}

impl NotifyConf {
    /// Every key of `[notify]`.
    pub fn keys() -> Vec<&'static str> {
        vec!["state_transition"]
    }

    /// Whether the transition `<old>-<new>` is to be mailed.
    pub fn wants(&self, old: &str, new: &str) -> bool {
        self.state_transition.is_match(&format!("{old}-{new}"))
    }
}

fn compile_state_transition(raw: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(raw)
        .case_insensitive(true)
        .size_limit(STATE_TRANSITION_SIZE_MAX_BYTES)
        .build()
        .map_err(|e| {
            // The regex crate's message spans several lines; keep the error on one.
            let detail = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            format!("{raw:?} is not a valid regular expression: {detail}")
        })
}

/// The parsed `broker.conf`. Fields are a read-only view of the document; change
/// the file through [`ConfFile::edit`].
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerConf {
    /// `[email]`.
    pub email: EmailConf,
    /// `[notify]`.
    pub notify: NotifyConf,
    doc: KvDocument,
}

impl ConfFile for BrokerConf {
    const SYNTAX: Syntax = Syntax::Ini;
    const REQUIRED: bool = false;
    // It may hold the SMTP password.
    const NEW_FILE_MODE: u32 = 0o600;

    fn from_document(doc: KvDocument) -> Result<Self, ConfigErrors> {
        let mut f = Fields::new(&doc);
        let email = EmailConf::read(&mut f);
        let notify = f.value(NOTIFY_SECTION, "state_transition", compile_state_transition);
        f.finish()?;
        let conf = BrokerConf {
            email,
            notify: notify
                .map(|state_transition| NotifyConf { state_transition })
                .unwrap_or_default(),
            doc,
        };
        conf.validate()?;
        Ok(conf)
    }

    fn document(&self) -> &KvDocument {
        &self.doc
    }

    fn known_keys() -> Vec<(&'static str, &'static str)> {
        let email = EmailConf::keys().into_iter().map(|k| (EMAIL_SECTION, k));
        email
            .chain(NotifyConf::keys().into_iter().map(|k| (NOTIFY_SECTION, k)))
            .collect()
    }

    fn validate(&self) -> Result<(), ConfigErrors> {
        let errors = self
            .email
            .violations()
            .into_iter()
            .map(|v| violation_error(v, &self.doc, EMAIL_SECTION))
            .collect();
        errors_from(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_filter_matches_like_the_reference() {
        let notify = NotifyConf::default();
        assert!(notify.wants("EngineDown", "EngineStart"));
        assert!(notify.wants("EngineUp", "LocalMaintenance"));
        assert!(!notify.wants("ReinitializeFSM", "UnknownLocalVmState"));
    }

    #[test]
    fn addresses_refuse_header_injection() {
        assert_eq!(parse_address("root@localhost"), Ok("root@localhost".into()));
        for bad in [
            "root",
            "@host",
            "a@",
            "a b@c",
            "a@b\r\nBcc: x@y",
            "a@b,c@d",
            "<a@b>",
        ] {
            assert!(parse_address(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_address_list(" a@b , c@d ,"),
            Ok(vec!["a@b".to_string(), "c@d".to_string()])
        );
        assert!(parse_address_list(" , ").is_err());
    }

    #[test]
    fn debug_hides_the_password() {
        let email = EmailConf {
            smtp_password: Some("hunter2".into()),
            ..EmailConf::default()
        };
        assert!(!format!("{email:?}").contains("hunter2"));
    }

    #[test]
    fn bad_regex_message_is_one_line() {
        let message = compile_state_transition("(unclosed").unwrap_err();
        assert!(!message.contains('\n'), "{message}");
        assert!(
            message.starts_with("\"(unclosed\" is not a valid regular expression"),
            "{message}"
        );
    }
}
