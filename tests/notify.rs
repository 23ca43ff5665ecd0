//! Integration tests of the notification mailer against a real SMTP sink on
//! loopback, written here: the reference's subject and body, STARTTLS with a
//! private CA, AUTH PLAIN and LOGIN, credentials never in clear text, a dead
//! and a hung server that never delay `transition()`, dot-stuffing on the
//! wire, and a full queue that drops its oldest mail.

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use hosted_engine::config::{EmailConf, NotifyConf};
use hosted_engine::shell::notify::{JOIN_WAIT_MS, Notifier, NotifierOptions, QUEUE_MAX};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// `transition()` must return faster than this, whatever the server does.
const ENQUEUE_MAX: Duration = Duration::from_millis(50);
/// Longest the sink keeps one connection or the tests wait for anything.
const PATIENCE: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// The sink.

/// How the sink behaves.
#[derive(Clone, Default)]
struct Spec {
    /// Offer STARTTLS with this server configuration.
    tls: Option<Arc<ServerConfig>>,
    /// `AUTH` mechanisms offered (e.g. "PLAIN LOGIN"), also in clear text.
    auth: Option<&'static str>,
    /// Answer `EHLO` with 502 (an old server that only knows `HELO`).
    reject_ehlo: bool,
    /// Accept connections and never say a word.
    hang: bool,
}

/// One received message.
#[derive(Clone, Debug)]
struct Message {
    mail_from: String,
    rcpt_to: Vec<String>,
    /// `DATA` as it came over the wire, up to the final `.` line.
    raw: String,
    /// `DATA` with the dot-stuffing undone.
    data: String,
    tls: bool,
}

#[derive(Debug, Default)]
struct Log {
    connections: usize,
    /// Every command line, and whether it came over TLS.
    commands: Vec<(bool, String)>,
    messages: Vec<Message>,
}

struct Sink {
    port: u16,
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sink {
    fn start(spec: Spec) -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (Arc::clone(&log), Arc::clone(&stop));
        let thread = thread::spawn(move || accept_loop(&listener, &spec, &log2, &stop2));
        Sink {
            port,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn commands(&self) -> Vec<String> {
        self.log().commands.iter().map(|(_, c)| c.clone()).collect()
    }

    fn messages(&self) -> Vec<Message> {
        self.log().messages.clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, spec: &Spec, log: &Mutex<Log>, stop: &AtomicBool) {
    let started = Instant::now();
    // Hung connections are kept open until the sink is dropped.
    let mut held = Vec::new();
    while !stop.load(Ordering::SeqCst) && started.elapsed() < PATIENCE * 3 {
        let tcp = match listener.accept() {
            Ok((tcp, _)) => tcp,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5));
                continue;
            }
            Err(e) => panic!("sink accept: {e}"),
        };
        log.lock().unwrap().connections += 1;
        if spec.hang {
            held.push(tcp);
            continue;
        }
        tcp.set_nonblocking(false).unwrap();
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        // A client that hangs up mid-conversation is what some tests do.
        let _ = serve(tcp, spec, log);
    }
}

enum Io {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Io {
    fn stream(&mut self) -> &mut dyn ReadWrite {
        match self {
            Io::Plain(s) => s,
            Io::Tls(s) => s.as_mut(),
        }
    }

    fn send(&mut self, text: &str) -> io::Result<()> {
        let stream = self.stream();
        stream.write_all(text.as_bytes())?;
        stream.flush()
    }

    /// One line without its CRLF; `None` at the end of the stream.
    fn line(&mut self) -> io::Result<Option<String>> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.len() < 10_000 {
            if self.stream().read(&mut byte)? == 0 {
                return Ok(None);
            }
            if byte[0] == b'\n' {
                let text = String::from_utf8_lossy(&line).into_owned();
                return Ok(Some(text.trim_end_matches('\r').to_owned()));
            }
            line.push(byte[0]);
        }
        Err(io::Error::other("line too long"))
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn serve(tcp: TcpStream, spec: &Spec, log: &Mutex<Log>) -> io::Result<()> {
    let mut io = Io::Plain(tcp);
    // A multi-line greeting, as some servers send.
    io.send("220-sink.test ESMTP\r\n220 ready\r\n")?;
    let (mut from, mut rcpt) = (String::new(), Vec::new());
    while let Some(line) = io.line()? {
        let tls = matches!(io, Io::Tls(_));
        log.lock().unwrap().commands.push((tls, line.clone()));
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" if spec.reject_ehlo => io.send("502 what is EHLO\r\n")?,
            "EHLO" => io.send(&ehlo_reply(spec, tls))?,
            "HELO" | "RSET" | "NOOP" => io.send("250 ok\r\n")?,
            "STARTTLS" if spec.tls.is_some() && !tls => {
                io.send("220 go ahead\r\n")?;
                let Io::Plain(tcp) = io else { unreachable!() };
                let config = Arc::clone(spec.tls.as_ref().unwrap());
                let server = ServerConnection::new(config).map_err(io::Error::other)?;
                io = Io::Tls(Box::new(StreamOwned::new(server, tcp)));
            }
            "AUTH" if line.eq_ignore_ascii_case("AUTH LOGIN") => {
                io.send("334 VXNlcm5hbWU6\r\n")?;
                let user = io.line()?.unwrap_or_default();
                io.send("334 UGFzc3dvcmQ6\r\n")?;
                let password = io.line()?.unwrap_or_default();
                let mut log = log.lock().unwrap();
                log.commands.push((tls, format!("LOGIN-USER {user}")));
                log.commands
                    .push((tls, format!("LOGIN-PASSWORD {password}")));
                drop(log);
                io.send("235 welcome\r\n")?;
            }
            "AUTH" if spec.auth.is_some() => io.send("235 welcome\r\n")?,
            "MAIL" => {
                from = address(&line);
                rcpt.clear();
                io.send("250 sender ok\r\n")?;
            }
            "RCPT" if address(&line).starts_with("refused") => io.send("550 no such user\r\n")?,
            "RCPT" => {
                rcpt.push(address(&line));
                io.send("250 recipient ok\r\n")?;
            }
            "DATA" => {
                io.send("354 end with .\r\n")?;
                let (raw, data) = read_data(&mut io)?;
                let message = Message {
                    mail_from: from.clone(),
                    rcpt_to: rcpt.clone(),
                    raw,
                    data,
                    tls,
                };
                log.lock().unwrap().messages.push(message);
                io.send("250 queued\r\n")?;
            }
            "QUIT" => {
                io.send("221 bye\r\n")?;
                return Ok(());
            }
            _ => io.send("500 unknown command\r\n")?,
        }
    }
    Ok(())
}

fn ehlo_reply(spec: &Spec, tls: bool) -> String {
    let mut reply = String::from("250-sink.test greets you\r\n");
    if spec.tls.is_some() && !tls {
        reply.push_str("250-STARTTLS\r\n");
    }
    if let Some(mechanisms) = spec.auth {
        reply.push_str(&format!("250-AUTH {mechanisms}\r\n"));
    }
    reply.push_str("250 8BITMIME\r\n");
    reply
}

/// The address between `<` and `>`.
fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line.rfind('>').unwrap_or(line.len());
    line[start..end].to_owned()
}

/// Reads `DATA` up to the lone `.`: as sent, and un-stuffed (RFC 5321 4.5.2).
fn read_data(io: &mut Io) -> io::Result<(String, String)> {
    let (mut raw, mut data) = (String::new(), String::new());
    for _ in 0..10_000 {
        let Some(line) = io.line()? else {
            return Err(io::Error::other("end of stream in DATA"));
        };
        if line == "." {
            return Ok((raw, data));
        }
        raw.push_str(&line);
        raw.push_str("\r\n");
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
        data.push_str("\r\n");
    }
    Err(io::Error::other("DATA too long"))
}

// ---------------------------------------------------------------------------
// Certificates.

struct Pki {
    /// The CA's certificate in a PEM file, for `NotifierOptions::ca_file`.
    ca_file: tempfile::NamedTempFile,
    /// The sink's TLS settings: a certificate for 127.0.0.1 signed by the CA.
    server: Arc<ServerConfig>,
}

fn pki() -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "notify test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server_params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let server_cert = server_params.signed_by(&server_key, &*ca).unwrap();

    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    ca_file.write_all(ca.pem().as_bytes()).unwrap();
    ca_file.flush().unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
    let server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Pki {
        ca_file,
        server: Arc::new(server),
    }
}

// ---------------------------------------------------------------------------
// Helpers.

fn email(port: u16) -> EmailConf {
    EmailConf {
        smtp_server: "127.0.0.1".into(),
        smtp_port: port,
        source_email: "he@host1.lab".into(),
        destination_emails: vec!["ops@lab".into(), "root@lab".into()],
        smtp_timeout_ms: 5_000,
        ..EmailConf::default()
    }
}

fn options(ca_file: Option<PathBuf>) -> NotifierOptions {
    NotifierOptions {
        ca_file,
        retry_delay_ms: 50,
    }
}

fn notifier(email: EmailConf, ca_file: Option<PathBuf>) -> Notifier {
    Notifier::new(email, NotifyConf::default(), options(ca_file)).unwrap()
}

/// `transition()`, asserting that it returned at once.
fn transition_fast(notifier: &Notifier, hostname: &str, from: &str, to: &str) -> bool {
    let started = Instant::now();
    let queued = notifier.transition(hostname, from, to);
    let took = started.elapsed();
    assert!(took < ENQUEUE_MAX, "transition() took {took:?}");
    queued
}

/// Polls `done` every 5 ms for at most [`PATIENCE`].
fn wait_for(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < PATIENCE {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

fn idle(notifier: &Notifier) {
    assert!(
        notifier.wait_idle(PATIENCE.as_millis() as u64),
        "mailer never idle"
    );
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    let head = data.split("\r\n\r\n").next()?;
    let prefix = format!("{name}: ");
    head.split("\r\n")
        .find_map(|l| l.strip_prefix(prefix.as_str()))
}

fn body_of(data: &str) -> &str {
    data.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

// ---------------------------------------------------------------------------
// Tests.

#[test]
fn a_matching_transition_mails_the_reference_subject_and_body() {
    let sink = Sink::start(Spec::default());
    let mailer = notifier(email(sink.port), None);
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineDown",
        "EngineStart"
    ));
    // Not matched by the default `maintenance|start|stop|up|down`.
    assert!(!transition_fast(
        &mailer,
        "host1.lab",
        "ReinitializeFSM",
        "UnknownLocalVmState"
    ));
    idle(&mailer);

    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let m = &messages[0];
    assert_eq!(m.mail_from, "he@host1.lab");
    assert_eq!(m.rcpt_to, vec!["ops@lab", "root@lab"]);
    assert!(!m.tls);
    assert_eq!(
        header(&m.data, "Subject"),
        Some("ovirt-hosted-engine state transition EngineDown-EngineStart")
    );
    assert_eq!(header(&m.data, "From"), Some("he@host1.lab"));
    assert_eq!(header(&m.data, "To"), Some("ops@lab, root@lab"));
    assert_eq!(
        body_of(&m.data),
        "Hosted engine host: host1.lab changed state: EngineDown-EngineStart.\r\n"
    );
    let date = header(&m.data, "Date").unwrap();
    assert!(date.ends_with(" +0000") && date.len() == 31, "{date}");
    let id = header(&m.data, "Message-ID").unwrap();
    assert!(id.starts_with('<') && id.ends_with("@host1.lab>"), "{id}");

    let commands = sink.commands();
    assert_eq!(commands.first().map(String::as_str), Some("EHLO host1.lab"));
    assert_eq!(commands.last().map(String::as_str), Some("QUIT"));
    assert!(!commands.iter().any(|c| c.starts_with("AUTH")));
    let stats = mailer.stats();
    assert_eq!(
        (stats.queued, stats.sent, stats.failed, stats.dropped),
        (1, 1, 0, 0)
    );
    assert_eq!(mailer.last_error(), None);
}

#[test]
fn a_transition_the_filter_does_not_want_sends_nothing() {
    let sink = Sink::start(Spec::default());
    let mailer = notifier(email(sink.port), None);
    assert!(!transition_fast(
        &mailer,
        "h",
        "ReinitializeFSM",
        "UnknownLocalVmState"
    ));
    // A filter of one's own, matched against `<Old>-<New>` ignoring case.
    let only_starts = NotifyConf {
        state_transition: regex::RegexBuilder::new("^enginedown-enginestart$")
            .case_insensitive(true)
            .build()
            .unwrap(),
    };
    let picky = Notifier::new(email(sink.port), only_starts, options(None)).unwrap();
    assert!(!transition_fast(&picky, "h", "EngineUp", "EngineDown"));
    assert!(!transition_fast(&picky, "h", "EngineStart", "EngineDown"));
    idle(&mailer);
    idle(&picky);
    // Give a wrongly queued mail time to arrive before looking.
    thread::sleep(Duration::from_millis(200));
    assert_eq!(sink.log().connections, 0);
    assert_eq!(mailer.stats().queued + picky.stats().queued, 0);
    // The same filter does let its own transition through.
    assert!(transition_fast(&picky, "h", "EngineDown", "EngineStart"));
    idle(&picky);
    assert_eq!(sink.messages().len(), 1);
}

#[test]
fn starttls_then_auth_plain_with_a_private_ca() {
    let pki = pki();
    let sink = Sink::start(Spec {
        tls: Some(Arc::clone(&pki.server)),
        auth: Some("PLAIN LOGIN"),
        ..Spec::default()
    });
    let conf = EmailConf {
        smtp_starttls: true,
        smtp_user: Some("user".into()),
        smtp_password: Some("secret".into()),
        ..email(sink.port)
    };
    let mailer = notifier(conf, Some(pki.ca_file.path().to_owned()));
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineUp",
        "LocalMaintenance"
    ));
    idle(&mailer);
    assert_eq!(mailer.last_error(), None);

    let log = sink.log();
    let seen: Vec<(bool, &str)> = log.commands.iter().map(|(t, c)| (*t, c.as_str())).collect();
    assert_eq!(
        &seen[..4],
        &[
            (false, "EHLO host1.lab"),
            (false, "STARTTLS"),
            (true, "EHLO host1.lab"),
            // base64 of "\0user\0secret"
            (true, "AUTH PLAIN AHVzZXIAc2VjcmV0"),
        ]
    );
    assert_eq!(log.messages.len(), 1);
    let m = &log.messages[0];
    assert!(m.tls);
    assert_eq!(
        header(&m.data, "Subject"),
        Some("ovirt-hosted-engine state transition EngineUp-LocalMaintenance")
    );
    assert_eq!(
        body_of(&m.data),
        "Hosted engine host: host1.lab changed state: EngineUp-LocalMaintenance.\r\n"
    );
}

#[test]
fn auth_login_when_the_server_offers_no_plain() {
    let pki = pki();
    let sink = Sink::start(Spec {
        tls: Some(Arc::clone(&pki.server)),
        auth: Some("LOGIN"),
        ..Spec::default()
    });
    let conf = EmailConf {
        smtp_starttls: true,
        smtp_user: Some("user".into()),
        smtp_password: Some("secret".into()),
        ..email(sink.port)
    };
    let mailer = notifier(conf, Some(pki.ca_file.path().to_owned()));
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineStop",
        "EngineDown"
    ));
    idle(&mailer);
    assert_eq!(mailer.last_error(), None);
    let log = sink.log();
    let over_tls = |wanted: &str| log.commands.iter().any(|(t, c)| *t && c == wanted);
    assert!(over_tls("AUTH LOGIN"));
    assert!(over_tls("LOGIN-USER dXNlcg==")); // "user"
    assert!(over_tls("LOGIN-PASSWORD c2VjcmV0")); // "secret"
    assert_eq!(log.messages.len(), 1);
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused() {
    let (trusted, other) = (pki(), pki());
    let sink = Sink::start(Spec {
        tls: Some(Arc::clone(&other.server)),
        auth: Some("PLAIN"),
        ..Spec::default()
    });
    let conf = EmailConf {
        smtp_starttls: true,
        smtp_user: Some("user".into()),
        smtp_password: Some("secret".into()),
        ..email(sink.port)
    };
    let mailer = notifier(conf, Some(trusted.ca_file.path().to_owned()));
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineDown",
        "EngineStart"
    ));
    idle(&mailer);
    let error = mailer.last_error().unwrap();
    assert!(
        error.contains("tls handshake") && error.contains("certificate"),
        "{error}"
    );
    assert!(
        !sink
            .commands()
            .iter()
            .any(|c| c.contains("AUTH") || c.starts_with("MAIL"))
    );
    assert_eq!(mailer.stats().failed, 1);
}

#[test]
fn credentials_are_never_sent_without_tls() {
    let pki = pki();
    // A server that offers AUTH in clear text and no STARTTLS.
    let sink = Sink::start(Spec {
        auth: Some("PLAIN LOGIN"),
        ..Spec::default()
    });
    let with_user = |starttls| EmailConf {
        smtp_starttls: starttls,
        smtp_user: Some("user".into()),
        smtp_password: Some("secret".into()),
        ..email(sink.port)
    };

    // STARTTLS asked for but not offered.
    let mailer = notifier(with_user(true), Some(pki.ca_file.path().to_owned()));
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineDown",
        "EngineStart"
    ));
    idle(&mailer);
    let error = mailer.last_error().unwrap();
    assert!(error.contains("does not offer STARTTLS"), "{error}");
    assert_eq!(mailer.stats().failed, 1);
    drop(mailer);

    // No STARTTLS configured (broker.conf validation refuses this; the mailer
    // refuses it again rather than leak the password).
    let mailer = notifier(with_user(false), None);
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineDown",
        "EngineStart"
    ));
    idle(&mailer);
    let error = mailer.last_error().unwrap();
    assert!(error.contains("never sent without TLS"), "{error}");

    let commands = sink.commands();
    assert!(
        commands
            .iter()
            .all(|c| !c.contains("AUTH") && !c.contains("c2VjcmV0"))
    );
    assert!(!commands.iter().any(|c| c.starts_with("MAIL")));
    assert!(sink.messages().is_empty());
    // Two tries for each of the two mails, each of them one connection.
    assert_eq!(sink.log().connections, 4);
}

#[test]
fn a_dead_server_never_delays_a_transition_and_is_reported() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mailer = notifier(
        EmailConf {
            smtp_timeout_ms: 1_000,
            ..email(port)
        },
        None,
    );
    let started = Instant::now();
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineDown",
        "EngineStart"
    ));
    assert!(wait_for(|| mailer.last_error().is_some()));
    assert!(started.elapsed() < Duration::from_millis(1_000));
    idle(&mailer);
    let error = mailer.last_error().unwrap();
    assert!(
        error.starts_with(&format!("smtp 127.0.0.1:{port}: ")),
        "{error}"
    );
    assert!(error.contains("connection refused"), "{error}");
    assert!(error.contains("dropped after 2 tries"), "{error}");
    let stats = mailer.stats();
    assert_eq!((stats.sent, stats.failed), (0, 1));
}

#[test]
fn a_hung_server_never_delays_a_transition_and_times_out() {
    let sink = Sink::start(Spec {
        hang: true,
        ..Spec::default()
    });
    let timeout_ms = 300;
    let mailer = notifier(
        EmailConf {
            smtp_timeout_ms: timeout_ms,
            ..email(sink.port)
        },
        None,
    );
    let started = Instant::now();
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineDown",
        "EngineStart"
    ));
    assert!(wait_for(|| mailer.last_error().is_some()));
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(timeout_ms), "{took:?}");
    assert!(took < Duration::from_millis(timeout_ms + 1_000), "{took:?}");
    let error = mailer.last_error().unwrap();
    assert!(
        error.contains("timed out waiting for the greeting"),
        "{error}"
    );
    idle(&mailer);
    assert_eq!(mailer.stats().failed, 1);
    assert_eq!(sink.log().connections, 2);
}

#[test]
fn a_body_line_starting_with_a_dot_is_stuffed_on_the_wire() {
    let sink = Sink::start(Spec::default());
    let mailer = notifier(email(sink.port), None);
    // A host name no system should have, but one that would end DATA early and
    // smuggle a command if the dots were not stuffed.
    let hostname = "host1\n.hidden\n.\nRSET";
    assert!(transition_fast(
        &mailer,
        hostname,
        "EngineDown",
        "EngineStart"
    ));
    idle(&mailer);
    assert_eq!(mailer.last_error(), None);
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    let sent = "Hosted engine host: host1\r\n..hidden\r\n..\r\nRSET changed state: \
                EngineDown-EngineStart.\r\n";
    assert_eq!(body_of(&m.raw), sent);
    let meant = "Hosted engine host: host1\r\n.hidden\r\n.\r\nRSET changed state: \
                 EngineDown-EngineStart.\r\n";
    assert_eq!(body_of(&m.data), meant);
    assert!(!sink.commands().contains(&"RSET".to_string()));
    // Not a domain name: EHLO falls back to an address literal.
    assert_eq!(sink.commands()[0], "EHLO [127.0.0.1]");
}

#[test]
fn an_old_server_gets_helo() {
    let sink = Sink::start(Spec {
        reject_ehlo: true,
        ..Spec::default()
    });
    let mailer = notifier(email(sink.port), None);
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineDown",
        "EngineStart"
    ));
    idle(&mailer);
    assert_eq!(mailer.last_error(), None);
    assert_eq!(&sink.commands()[..2], &["EHLO host1.lab", "HELO host1.lab"]);
    assert_eq!(sink.messages().len(), 1);
}

#[test]
fn a_refused_recipient_is_reported_while_the_others_get_the_mail() {
    let sink = Sink::start(Spec::default());
    let conf = EmailConf {
        destination_emails: vec!["refused@lab".into(), "ops@lab".into()],
        ..email(sink.port)
    };
    let mailer = notifier(conf, None);
    assert!(transition_fast(
        &mailer,
        "host1.lab",
        "EngineDown",
        "EngineStart"
    ));
    idle(&mailer);
    assert_eq!(sink.messages()[0].rcpt_to, vec!["ops@lab"]);
    let error = mailer.last_error().unwrap();
    assert!(
        error.contains("RCPT TO:<refused@lab>: the server answered 550"),
        "{error}"
    );
    assert_eq!(mailer.stats().sent, 1);
}

#[test]
fn a_full_queue_drops_the_oldest_and_drop_stops_the_worker_promptly() {
    let sink = Sink::start(Spec {
        hang: true,
        ..Spec::default()
    });
    let mailer = notifier(email(sink.port), None);
    assert!(transition_fast(&mailer, "h", "EngineDown", "EngineStart"));
    // The worker holds the first mail, stuck waiting for the greeting.
    assert!(wait_for(|| sink.log().connections == 1));
    let extra = 6;
    for _ in 0..QUEUE_MAX + extra {
        assert!(transition_fast(&mailer, "h", "EngineStart", "EngineUp"));
    }
    let stats = mailer.stats();
    assert_eq!(stats.queued, (QUEUE_MAX + extra + 1) as u64);
    assert_eq!(stats.dropped, extra as u64);
    assert!(!mailer.wait_idle(10));

    let started = Instant::now();
    drop(mailer);
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(JOIN_WAIT_MS / 2),
        "drop took {took:?}"
    );
}

#[test]
fn a_broken_ca_file_is_an_error_at_start() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"not a certificate\n").unwrap();
    let conf = EmailConf {
        smtp_starttls: true,
        ..email(25)
    };
    let path = file.path().to_owned();
    let error = Notifier::new(conf, NotifyConf::default(), options(Some(path.clone())))
        .err()
        .unwrap()
        .to_string();
    assert_eq!(error, format!("{}: holds no certificate", path.display()));
}
