//! Logging in: public keys only, the ssh-agent's first, then the identity
//! files, each attempt noted for the error that says what was tried.

use std::path::{Path, PathBuf};

use ssh2::{ErrorCode, Session};

use super::Options;
use super::deadline::Deadline;
use super::error::{LIBSSH2_ERROR_TIMEOUT, RemoteError, Step, is_fatal, is_timeout, lowercase};
use super::local_user::home_dir;
use super::target::Target;

/// How many agent keys are offered at most (servers stop after `MaxAuthTries`,
/// 6 by default, anyway).
const AGENT_KEYS_MAX: usize = 16;

/// Logs in with the agent's keys, then the identity files.
pub(super) fn authenticate(
    session: &Session,
    target: &Target,
    options: &Options,
    deadline: &Deadline,
) -> Result<(), RemoteError> {
    let step = Step::Authenticating;
    deadline.arm(session, step)?;
    let methods = match session.auth_methods(&target.user) {
        Ok(methods) => methods.to_owned(),
        Err(_) if session.authenticated() => return Ok(()),
        Err(e) => return Err(deadline.ssh(step, &e)),
    };
    let failed = |tried| RemoteError::AuthFailed {
        target: target.to_string(),
        tried,
    };
    if !methods.split(',').any(|m| m == "publickey") {
        let why = format!("nothing: the server offers only {methods}, and only keys are used");
        return Err(failed(vec![why]));
    }
    let mut tried = Vec::new();
    let attempts = offer_keys(session, &target.user, options, deadline, &mut tried);
    match attempts {
        Ok(true) => Ok(()),
        Ok(false) => {
            if options.identity.is_none() && tried.len() == 1 {
                tried.push("no key in ~/.ssh (id_ed25519, id_ecdsa, id_rsa)".into());
            }
            Err(failed(tried))
        }
        Err(e) if is_timeout(&e) => Err(deadline.ssh(step, &e)),
        Err(_) => {
            tried.push("then the server hung up (too many keys for its MaxAuthTries?)".into());
            Err(failed(tried))
        }
    }
}

/// Offers the agent's keys, then the identity files, noting each in `tried`:
/// `Ok(true)` once one is accepted, `Err` when the session is lost.
fn offer_keys(
    session: &Session,
    user: &str,
    options: &Options,
    deadline: &Deadline,
    tried: &mut Vec<String>,
) -> Result<bool, ssh2::Error> {
    match &options.agent_socket {
        Some(socket) => {
            if try_agent(session, user, socket, deadline, tried)? {
                return Ok(true);
            }
        }
        None => tried.push("ssh-agent: none (SSH_AUTH_SOCK unset)".to_owned()),
    }
    for path in identity_files(options) {
        if !path.exists() {
            if options.identity.is_some() {
                tried.push(format!("{}: no such file", path.display()));
            }
            continue;
        }
        arm(session, deadline)?;
        match session.userauth_pubkey_file(user, None, &path, None) {
            Ok(()) if session.authenticated() => return Ok(true),
            Ok(()) => tried.push(format!("{}: not enough for the server", path.display())),
            Err(e) if is_fatal(&e) => return Err(e),
            Err(e) => tried.push(format!("{}: {}", path.display(), key_refusal(&e))),
        }
    }
    Ok(false)
}

/// [`Deadline::arm`] for code that speaks libssh2 errors.
fn arm(session: &Session, deadline: &Deadline) -> Result<(), ssh2::Error> {
    match deadline.left_ms(Step::Authenticating) {
        Ok(ms) => {
            session.set_timeout(ms);
            Ok(())
        }
        Err(_) => Err(ssh2::Error::new(
            ErrorCode::Session(LIBSSH2_ERROR_TIMEOUT),
            "timed out",
        )),
    }
}

/// Offers the agent's keys; `Ok(true)` once one is accepted.
fn try_agent(
    session: &Session,
    user: &str,
    socket: &Path,
    deadline: &Deadline,
    tried: &mut Vec<String>,
) -> Result<bool, ssh2::Error> {
    let name = format!("ssh-agent {}", socket.display());
    let mut agent = match session.agent() {
        Ok(agent) => agent,
        Err(e) => {
            tried.push(format!("{name}: {}", lowercase(e.message())));
            return Ok(false);
        }
    };
    let listed = agent
        .set_identity_path(socket)
        .and_then(|()| agent.connect())
        .and_then(|()| agent.list_identities())
        .and_then(|()| agent.identities());
    let identities = match listed {
        Ok(identities) => identities,
        Err(e) => {
            tried.push(format!("{name}: unreachable ({})", lowercase(e.message())));
            return Ok(false);
        }
    };
    let mut refused = 0;
    for identity in identities.iter().take(AGENT_KEYS_MAX) {
        arm(session, deadline)?;
        match agent.userauth(user, identity) {
            Ok(()) if session.authenticated() => {
                let _ = agent.disconnect();
                return Ok(true);
            }
            Err(e) if is_fatal(&e) => return Err(e),
            _ => refused += 1,
        }
    }
    let _ = agent.disconnect();
    tried.push(match refused {
        0 => format!("{name}: no keys"),
        n => format!("{name}: {n} key(s) refused"),
    });
    Ok(false)
}

fn key_refusal(e: &ssh2::Error) -> String {
    const LIBSSH2_ERROR_FILE: i32 = -16;
    const LIBSSH2_ERROR_AUTHENTICATION_FAILED: i32 = -18;
    const LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED: i32 = -19;
    match e.code() {
        ErrorCode::Session(
            LIBSSH2_ERROR_AUTHENTICATION_FAILED | LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED,
        ) => "refused by the server".into(),
        ErrorCode::Session(LIBSSH2_ERROR_FILE) => format!(
            "unusable ({}; an encrypted key needs ssh-agent)",
            lowercase(e.message())
        ),
        _ => lowercase(e.message()),
    }
}

/// The identity files to offer, in order.
fn identity_files(options: &Options) -> Vec<PathBuf> {
    if let Some(path) = &options.identity {
        return vec![path.clone()];
    }
    let Some(home) = home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| home.join(".ssh").join(name))
        .collect()
}
