//! Where to run: the [`Target`] `[user@]host[:port]`, parsed and checked
//! (user and host names that cannot be options or carry a second target).

use std::fmt;

use super::DEFAULT_PORT;
use super::error::RemoteError;
use super::local_user::default_user;

/// Where to run: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub(super) user: String,
    pub(super) host: String,
    pub(super) port: u16,
}

impl Target {
    /// Parses `[user@]host[:port]`; an IPv6 address with a port goes in brackets
    /// (`[::1]:2222`). The user defaults to `$USER`, then `$LOGNAME`, then the
    /// effective uid's name; the port to 22.
    pub fn parse(spec: &str) -> Result<Target, RemoteError> {
        Target::parse_with(spec, default_user)
    }

    /// A target from its parts, checked as [`Target::parse`] checks them.
    pub fn new(user: &str, host: &str, port: u16) -> Result<Target, RemoteError> {
        let spec = format!("{user}@{host}:{port}");
        let bad = |reason: &str| RemoteError::BadTarget {
            spec: spec.clone(),
            reason: reason.to_owned(),
        };
        check_user(user).map_err(bad)?;
        check_host(host).map_err(bad)?;
        if port == 0 {
            return Err(bad("port 0 is not a port (1-65535)"));
        }
        Ok(Target {
            user: user.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    /// `[user@]host[:port]` split and checked, without defaults: the user and
    /// the port when given.
    pub fn split(spec: &str) -> Result<(Option<String>, String, Option<u16>), RemoteError> {
        let bad = |reason: String| RemoteError::BadTarget {
            spec: spec.to_owned(),
            reason,
        };
        let (user, rest) = match spec.split_once('@') {
            Some((user, rest)) => {
                check_user(user).map_err(|r| bad(r.into()))?;
                (Some(user.to_owned()), rest)
            }
            None => (None, spec),
        };
        let (host, port) = split_host_port(rest).map_err(&bad)?;
        let port = match port {
            None => None,
            Some(text) => match text.parse::<u16>() {
                Ok(p) if p > 0 => Some(p),
                _ => return Err(bad(format!("bad port {text:?} (1-65535)"))),
            },
        };
        check_host(host).map_err(|r| bad(r.into()))?;
        Ok((user, host.to_owned(), port))
    }

    fn parse_with(
        spec: &str,
        default_user: impl FnOnce() -> Option<String>,
    ) -> Result<Target, RemoteError> {
        let (user, host, port) = Target::split(spec)?;
        let user = match user {
            Some(user) => user,
            None => default_user().ok_or_else(|| RemoteError::BadTarget {
                spec: spec.to_owned(),
                reason: "cannot tell the user name ($USER unset); write user@host".into(),
            })?,
        };
        Ok(Target {
            user,
            host,
            port: port.unwrap_or(DEFAULT_PORT),
        })
    }

    /// The remote user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The host name or address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The host as `known_hosts` names it: `host` on port 22, else `[host]:port`.
    pub fn known_hosts_pattern(&self) -> String {
        if self.port == DEFAULT_PORT {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Target {
    /// `user@host:port`, IPv6 in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            write!(f, "{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`, or a bare IPv6 address.
fn split_host_port(text: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(inner) = text.strip_prefix('[') {
        let Some((host, after)) = inner.split_once(']') else {
            return Err("missing ']' after the IPv6 address".into());
        };
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("unexpected {after:?} after ']'")),
            },
        };
    }
    match text.matches(':').count() {
        0 => Ok((text, None)),
        1 => text
            .split_once(':')
            .map(|(h, p)| (h, Some(p)))
            .ok_or_else(String::new),
        _ if text.parse::<std::net::Ipv6Addr>().is_ok() => Ok((text, None)),
        _ => Err("an IPv6 address with a port goes in brackets: [::1]:2222".into()),
    }
}

fn check_user(user: &str) -> Result<(), &'static str> {
    if user.is_empty() {
        return Err("empty user name");
    }
    let bad = |c: char| c.is_control() || c.is_whitespace() || c == '@';
    if user.len() > 256 || user.chars().any(bad) {
        return Err("bad user name");
    }
    Ok(())
}

fn check_host(host: &str) -> Result<(), &'static str> {
    if host.is_empty() {
        return Err("empty host name");
    }
    if host.len() > 253 {
        return Err("host name longer than 253 characters");
    }
    if host.starts_with('-') || host.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("bad host name");
    }
    if host.contains(['@', '[', ']', '/']) {
        return Err("bad character in host name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(spec: &str) -> Result<Target, RemoteError> {
        Target::parse_with(spec, || Some("me".into()))
    }

    fn parts(t: &Target) -> (&str, &str, u16) {
        (t.user(), t.host(), t.port())
    }

    #[test]
    fn parses_every_form() {
        let cases = [
            ("host", ("me", "host", 22)),
            ("root@host", ("root", "host", 22)),
            ("host:2222", ("me", "host", 2222)),
            ("root@10.0.0.1:2222", ("root", "10.0.0.1", 2222)),
            ("[::1]:2222", ("me", "::1", 2222)),
            ("root@[fe80::1]", ("root", "fe80::1", 22)),
            ("::1", ("me", "::1", 22)),
            ("h.example.com:65535", ("me", "h.example.com", 65535)),
        ];
        for (spec, want) in cases {
            let target = parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(parts(&target), want, "{spec}");
        }
    }

    #[test]
    fn rejects_bad_targets_with_a_reason() {
        let cases = [
            ("", "empty host name"),
            ("root@", "empty host name"),
            ("@host", "empty user name"),
            (":22", "empty host name"),
            ("host:", "bad port \"\""),
            ("host:0", "bad port \"0\""),
            ("host:65536", "bad port \"65536\""),
            ("host:ssh", "bad port \"ssh\""),
            ("[::1", "missing ']'"),
            ("[::1]x", "unexpected \"x\""),
            ("fe80::1:2222x", "in brackets"),
            ("a@b@c", "bad character"),
            ("-oProxyCommand=x", "bad host name"),
            ("host name", "bad host name"),
        ];
        for (spec, want) in cases {
            let message = parse(spec).expect_err(spec).to_string();
            assert!(message.contains(want), "{spec}: {message}");
            assert!(message.contains("[user@]host[:port]"), "{message}");
        }
    }

    #[test]
    fn the_user_defaults_and_fails_clearly_without_one() {
        let message = Target::parse_with("host", || None).unwrap_err().to_string();
        assert!(message.contains("cannot tell the user name"), "{message}");
        assert_eq!(parse("host").unwrap().user(), "me");
        assert!(Target::parse("host").is_ok_and(|t| !t.user().is_empty()));
    }

    #[test]
    fn displays_and_names_the_known_hosts_entry() {
        let t = parse("root@[::1]:2222").unwrap();
        assert_eq!(t.to_string(), "root@[::1]:2222");
        assert_eq!(t.known_hosts_pattern(), "[::1]:2222");
        let t = parse("root@host").unwrap();
        assert_eq!(t.to_string(), "root@host:22");
        assert_eq!(t.known_hosts_pattern(), "host");
        assert!(Target::new("root", "", 22).is_err());
        assert!(Target::new("root", "h", 0).is_err());
        assert_eq!(
            Target::new("root", "h", 2).unwrap(),
            parse("root@h:2").unwrap()
        );
    }
}
