//! State-change notification mail (`docs/compat.md` section 9): on
//! every transition whose `<Old>-<New>` matches `[notify] state_transition`, a
//! mail with the reference's subject and body goes to `destination-emails`.
//!
//! Ours on top of the reference (which has neither): STARTTLS and
//! authentication, and credentials are never sent without TLS.
//!
//! The agent loop only queues: [`Notifier::transition`] takes a mutex that is
//! never held during I/O and never waits for the network. One worker thread
//! speaks SMTP, every step of a conversation bounded by `smtp-timeout-secs`
//! and interruptible by a stop within
//! [`SLICE_MS`](super::monitors::SLICE_MS). A full queue drops its
//! oldest mail; a mail that fails is tried once more after a short delay and
//! then dropped. What went wrong is in [`Notifier::last_error`] and
//! [`Notifier::stats`].
//!
//! Which CAs to trust for STARTTLS is [`NotifierOptions::ca_file`] (the
//! system's store by default); `broker.conf` has no key for it yet.

mod message;
mod smtp;

use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

pub use message::{
    REPLY_LINE_MAX_BYTES, REPLY_LINES_MAX, REPLY_MAX_BYTES, Reply, base64, body, compose,
    dot_stuff, parse_reply, rfc2822_date, subject,
};

use super::monitors::Stop;
use crate::config::{BrokerConf, EmailConf, NotifyConf};
use message::cut;
use smtp::{io_text, send_mail};

/// Mails waiting for the worker at most; a new one beyond this drops the oldest.
pub const QUEUE_MAX: usize = 64;
/// Tries per mail: the first and one retry.
pub const ATTEMPTS_MAX: u32 = 2;
/// Default pause before the retry.
pub const RETRY_DELAY_MS: u64 = 2_000;
/// Longest accepted pause before the retry.
pub const RETRY_DELAY_MAX_MS: u64 = 60_000;
/// Bytes of a CA file read at most (a whole system bundle is about 200 KiB).
pub const CA_FILE_MAX_BYTES: u64 = 4 << 20;
/// Bytes kept of the host name and of a state name in a mail.
pub const FIELD_MAX_BYTES: usize = 255;
/// How long dropping a [`Notifier`] waits for its worker. A worker inside a
/// connect (which cannot be interrupted) is left to end by itself within
/// `smtp-timeout-secs`.
pub const JOIN_WAIT_MS: u64 = 1_000;
/// Longest [`Notifier::wait_idle`] (one hour).
pub const WAIT_MAX_MS: u64 = 3_600_000;

/// What the daemon chooses beyond `broker.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifierOptions {
    /// PEM file of the certificate authorities trusted for STARTTLS; `None`:
    /// the system's store.
    pub ca_file: Option<PathBuf>,
    /// Pause before the retry of a failed mail.
    pub retry_delay_ms: u64,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            ca_file: None,
            retry_delay_ms: RETRY_DELAY_MS,
        }
    }
}

/// Counters since the notifier started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NotifyStats {
    /// Transitions that matched the filter and were queued.
    pub queued: u64,
    /// Mails the server accepted.
    pub sent: u64,
    /// Mails given up after [`ATTEMPTS_MAX`] tries.
    pub failed: u64,
    /// Mails pushed out of a full queue unsent.
    pub dropped: u64,
}

/// Why a notifier could not start.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("system certificate store: {0}")]
    SystemRoots(String),
    #[error("tls settings: {0}")]
    Tls(String),
    #[error("retry delay {0} ms is over {RETRY_DELAY_MAX_MS} ms")]
    RetryDelay(u64),
    #[error("cannot start the mail thread: {0}")]
    Spawn(String),
}

/// One queued mail.
#[derive(Clone, Debug)]
struct Mail {
    hostname: String,
    from: String,
    to: String,
    unix_secs: u64,
    serial: u64,
}

#[derive(Default)]
struct Queue {
    mails: VecDeque<Mail>,
    busy: bool,
    stopping: bool,
    stats: NotifyStats,
    last_error: Option<String>,
}

struct Settings {
    email: EmailConf,
    notify: NotifyConf,
    tls: Option<Arc<ClientConfig>>,
    retry_delay_ms: u64,
}

struct Shared {
    queue: Mutex<Queue>,
    changed: Condvar,
    stop: Stop,
    settings: Settings,
}

/// Sends notification mail from its own thread.
pub struct Notifier {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    /// Disconnected once the worker has returned.
    exited: mpsc::Receiver<()>,
}

impl Notifier {
    /// Starts the worker. With `smtp_starttls` the trusted certificates are
    /// loaded now, so that a broken CA file is an error at start, not at the
    /// first mail.
    pub fn new(
        email: EmailConf,
        notify: NotifyConf,
        options: NotifierOptions,
    ) -> Result<Notifier, NotifyError> {
        if options.retry_delay_ms > RETRY_DELAY_MAX_MS {
            return Err(NotifyError::RetryDelay(options.retry_delay_ms));
        }
        let tls = match email.smtp_starttls {
            true => Some(tls_config(options.ca_file.as_deref())?),
            false => None,
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            stop: Stop::new(),
            settings: Settings {
                email,
                notify,
                tls,
                retry_delay_ms: options.retry_delay_ms,
            },
        });
        let (exit_tx, exited) = mpsc::channel::<()>();
        let for_worker = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("notify-mail".into())
            .stack_size(256 * 1024)
            .spawn(move || {
                let _exit = exit_tx;
                run_worker(&for_worker);
            })
            .map_err(|e| NotifyError::Spawn(e.to_string()))?;
        Ok(Notifier {
            shared,
            worker: Some(worker),
            exited,
        })
    }

    /// [`Notifier::new`] with the settings of `broker.conf`.
    pub fn from_conf(conf: &BrokerConf, options: NotifierOptions) -> Result<Notifier, NotifyError> {
        Notifier::new(conf.email.clone(), conf.notify.clone(), options)
    }

    /// Queues the mail for `from` -> `to` if the filter wants it; `true` when
    /// queued. Never waits for the network.
    pub fn transition(&self, hostname: &str, from: &str, to: &str) -> bool {
        if !self.shared.settings.notify.wants(from, to) {
            return false;
        }
        // Wall-clock time is display data here (the `Date:` header), never control.
        let unix_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut queue = self.shared.lock();
        if queue.stopping {
            return false;
        }
        if queue.mails.len() >= QUEUE_MAX {
            queue.mails.pop_front();
            queue.stats.dropped += 1;
        }
        queue.stats.queued += 1;
        let mail = Mail {
            hostname: cut(hostname),
            from: cut(from),
            to: cut(to),
            unix_secs,
            serial: queue.stats.queued,
        };
        queue.mails.push_back(mail);
        drop(queue);
        self.shared.changed.notify_all();
        true
    }

    /// The latest failure (of any try), object first; kept after later successes.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    pub fn stats(&self) -> NotifyStats {
        self.shared.lock().stats
    }

    /// Waits until every queued mail was sent or given up, at most `timeout_ms`;
    /// `true` when idle.
    pub fn wait_idle(&self, timeout_ms: u64) -> bool {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms.min(WAIT_MAX_MS));
        let mut queue = self.shared.lock();
        loop {
            if queue.mails.is_empty() && !queue.busy {
                return true;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            queue = self
                .shared
                .changed
                .wait_timeout(queue, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for Notifier {
    /// Stops the worker; queued mails are lost. Waits at most [`JOIN_WAIT_MS`].
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.changed.notify_all();
        self.shared.stop.stop();
        let Some(worker) = self.worker.take() else {
            return;
        };
        match self
            .exited
            .recv_timeout(Duration::from_millis(JOIN_WAIT_MS))
        {
            // The worker never sends: disconnected means it has returned.
            Err(mpsc::RecvTimeoutError::Disconnected) | Ok(()) => {
                let _ = worker.join();
            }
            // Still inside a connect: it ends by itself within the SMTP timeout.
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next mail to send, marking the worker busy; `None` when stopping.
    fn next_mail(&self) -> Option<Mail> {
        let mut queue = self.lock();
        queue.busy = false;
        self.changed.notify_all();
        loop {
            if queue.stopping {
                return None;
            }
            if let Some(mail) = queue.mails.pop_front() {
                queue.busy = true;
                return Some(mail);
            }
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn record_error(&self, error: String) {
        self.lock().last_error = Some(error);
    }
}

fn run_worker(shared: &Shared) {
    while let Some(mail) = shared.next_mail() {
        let delivered = deliver(shared, &mail);
        let mut queue = shared.lock();
        match delivered {
            true => queue.stats.sent += 1,
            false => queue.stats.failed += 1,
        }
    }
}

/// Sends one mail with one retry; `true` when the server took it.
fn deliver(shared: &Shared, mail: &Mail) -> bool {
    let email = &shared.settings.email;
    let peer = format!("smtp {}:{}", email.smtp_server, email.smtp_port);
    let transition = format!("{}-{}", mail.from, mail.to);
    for attempt in 1..=ATTEMPTS_MAX {
        match send_mail(&shared.settings, mail, &shared.stop) {
            Ok(refused) => {
                if !refused.is_empty() {
                    shared.record_error(format!(
                        "{peer}: mail {transition}: recipients refused: {}",
                        refused.join("; ")
                    ));
                }
                return true;
            }
            // A stop ends the conversation; that is no error of the mail server.
            Err(_) if shared.stop.is_stopped() => return false,
            Err(why) if attempt < ATTEMPTS_MAX => {
                shared.record_error(format!(
                    "{peer}: {why} (mail {transition}, try {attempt} of {ATTEMPTS_MAX}, retrying)"
                ));
                if shared.stop.sleep_ms(shared.settings.retry_delay_ms) {
                    return false;
                }
            }
            Err(why) => {
                shared.record_error(format!(
                    "{peer}: {why} (mail {transition} dropped after {ATTEMPTS_MAX} tries)"
                ));
            }
        }
    }
    false
}

/// The client settings for STARTTLS: the CAs of `ca_file`, or of the system's
/// store; TLS 1.2 or 1.3 with the `ring` provider.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, NotifyError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let ca_error = |reason: String| NotifyError::CaFile {
                path: path.to_owned(),
                reason,
            };
            let pem = read_bounded(path).map_err(ca_error)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| ca_error(format!("not PEM: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| ca_error(format!("unusable certificate: {e}")))?;
            }
            if roots.is_empty() {
                return Err(ca_error("holds no certificate".into()));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                let why = native.errors.first().map_or_else(
                    || "no certificate found (name a CA file)".to_owned(),
                    ToString::to_string,
                );
                return Err(NotifyError::SystemRoots(why));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NotifyError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| io_text(&e))?;
    let mut bytes = Vec::new();
    file.take(CA_FILE_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_text(&e))?;
    if bytes.len() as u64 > CA_FILE_MAX_BYTES {
        return Err(format!("larger than {CA_FILE_MAX_BYTES} bytes"));
    }
    Ok(bytes)
}
