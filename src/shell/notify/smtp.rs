//! One SMTP conversation (RFC 5321): connect, greeting, `EHLO` (or `HELO`),
//! optional `STARTTLS` (RFC 3207) and `AUTH` (RFC 4954, only over TLS),
//! envelope, `DATA`, `QUIT`. Every blocking step waits at most [`SLICE_MS`]
//! and then looks at the stop flag and the conversation's deadline again.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::message::{
    Capabilities, Reply, base64, body, capabilities, compose, dot_stuff, helo_name, parse_reply,
    rfc2822_date, subject,
};
use super::{Mail, Settings};
use crate::config::EmailConf;
use crate::shell::monitors::{SLICE_MS, Stop};

/// Addresses of the SMTP server tried in turn.
const ADDRESSES_MAX: usize = 4;

/// One SMTP conversation within `smtp_timeout_ms`. `Ok` with the recipients
/// the server refused (while it took at least one).
pub(super) fn send_mail(
    settings: &Settings,
    mail: &Mail,
    stop: &Stop,
) -> Result<Vec<String>, String> {
    let email = &settings.email;
    let deadline = Instant::now() + Duration::from_millis(email.smtp_timeout_ms);
    let host = email
        .smtp_server
        .trim_start_matches('[')
        .trim_end_matches(']');
    let stream = connect(host, email.smtp_port, deadline, stop)?;
    let mut session = Session {
        conn: Conn::Plain(stream),
        buf: Vec::new(),
        deadline,
        stop,
    };
    session.expect("the greeting", &[220])?;
    let result = converse(&mut session, settings, mail, host);
    // Goodbye both after the mail and after a refusal; its failure changes
    // nothing, and it is bounded by the same deadline.
    let _ = session.command("QUIT", "QUIT", &[221]);
    result
}

/// From `EHLO` to the end of `DATA`.
fn converse(
    session: &mut Session<'_>,
    settings: &Settings,
    mail: &Mail,
    host: &str,
) -> Result<Vec<String>, String> {
    let email = &settings.email;
    let helo = helo_name(&mail.hostname);
    let mut caps = session.hello(&helo)?;
    if let Some(tls) = &settings.tls {
        if !caps.starttls {
            return Err("the server does not offer STARTTLS (smtp-starttls=true)".into());
        }
        session.command("STARTTLS", "STARTTLS", &[220])?;
        session.start_tls(Arc::clone(tls), host)?;
        caps = session.hello(&helo)?;
    }
    if let Some(user) = &email.smtp_user {
        if !session.conn.is_tls() {
            return Err("credentials are never sent without TLS (set smtp-starttls=true)".into());
        }
        let password = email.smtp_password.as_deref().unwrap_or_default();
        session.authenticate(&caps, user, password)?;
    }
    let refused = session.envelope(email)?;
    session.command("DATA", "DATA", &[354])?;
    let date = rfc2822_date(mail.unix_secs);
    let message_id = format!(
        "<{}.{}.{}@{helo}>",
        mail.unix_secs,
        mail.serial,
        std::process::id()
    );
    let text = compose(
        &email.source_email,
        &email.destination_emails,
        &subject(&mail.from, &mail.to),
        &body(&mail.hostname, &mail.from, &mail.to),
        &date,
        &message_id,
    );
    session.write_all(dot_stuff(&text).as_bytes())?;
    session.command(".", "the message", &[250])?;
    Ok(refused)
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
    /// After a failed switch to TLS: nothing more may be said.
    Closed,
}

impl Conn {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Conn::Plain(s) => Some(s),
            Conn::Tls(s) => Some(&s.sock),
            Conn::Closed => None,
        }
    }

    fn is_tls(&self) -> bool {
        matches!(self, Conn::Tls(_))
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
            Conn::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
            Conn::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
            Conn::Closed => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

struct Session<'a> {
    conn: Conn,
    /// Bytes received and not yet parsed as a reply.
    buf: Vec<u8>,
    deadline: Instant,
    stop: &'a Stop,
}

impl Session<'_> {
    /// Arms the socket for the next blocking step: at most [`SLICE_MS`], never
    /// past the deadline; an error once stopped or late.
    fn arm(&self, doing: &str) -> Result<(), String> {
        let tcp = self.conn.tcp().ok_or("connection closed")?;
        arm(tcp, self.deadline, self.stop, doing)
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> Result<(), String> {
        let doing = "the server to take data";
        while !bytes.is_empty() {
            self.arm(doing)?;
            match self.conn.write(bytes) {
                Ok(0) => return Err("connection closed while sending".into()),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if is_retry(&e) => {}
                Err(e) => return Err(io_text(&e)),
            }
        }
        // Over TLS, `write` only buffers what a blocked socket did not take.
        loop {
            self.arm(doing)?;
            match self.conn.flush() {
                Ok(()) => return Ok(()),
                Err(e) if is_retry(&e) => {}
                Err(e) => return Err(io_text(&e)),
            }
        }
    }

    /// Reads one reply, whatever its code; `what` names it in errors.
    fn reply(&mut self, what: &str) -> Result<Reply, String> {
        loop {
            match parse_reply(&self.buf) {
                Ok(Some((reply, used))) => {
                    self.buf.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(why) => return Err(format!("{what}: {why}")),
            }
            self.arm(what)?;
            let mut chunk = [0u8; 1024];
            match self.conn.read(&mut chunk) {
                Ok(0) => return Err(format!("connection closed waiting for {what}")),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if is_retry(&e) => {}
                Err(e) => return Err(format!("{what}: {}", io_text(&e))),
            }
        }
    }

    /// Reads one reply that must carry one of the `expect`ed codes.
    fn expect(&mut self, what: &str, expect: &[u16]) -> Result<Reply, String> {
        let reply = self.reply(what)?;
        match expect.contains(&reply.code) {
            true => Ok(reply),
            false => Err(refusal(what, &reply)),
        }
    }

    /// Sends one command line and reads the reply, whatever its code. `what`
    /// names it in errors (never the line itself, which may carry credentials).
    fn exchange(&mut self, line: &str, what: &str) -> Result<Reply, String> {
        assert!(!line.contains(['\r', '\n']), "one SMTP command line");
        self.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply(what)
    }

    /// [`Session::exchange`] where the reply must carry one of the `expect`ed codes.
    fn command(&mut self, line: &str, what: &str, expect: &[u16]) -> Result<Reply, String> {
        let reply = self.exchange(line, what)?;
        match expect.contains(&reply.code) {
            true => Ok(reply),
            false => Err(refusal(what, &reply)),
        }
    }

    /// `EHLO`, or `HELO` (no extensions) for a server that refuses `EHLO` in
    /// clear text (RFC 5321 3.2).
    fn hello(&mut self, name: &str) -> Result<Capabilities, String> {
        let reply = self.exchange(&format!("EHLO {name}"), "EHLO")?;
        if reply.code == 250 {
            return Ok(capabilities(&reply));
        }
        if self.conn.is_tls() || reply.code < 500 {
            return Err(refusal("EHLO", &reply));
        }
        self.command(&format!("HELO {name}"), "HELO", &[250])
            .map_err(|helo| format!("{}; {helo}", refusal("EHLO", &reply)))?;
        Ok(Capabilities::default())
    }

    /// Switches to TLS after the server's `220` to `STARTTLS`.
    fn start_tls(&mut self, config: Arc<ClientConfig>, host: &str) -> Result<(), String> {
        // Bytes already here came in clear text and would pass as protected
        // (the STARTTLS command injection of CVE-2011-0411).
        if !self.buf.is_empty() {
            return Err("the server sent data after accepting STARTTLS".into());
        }
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| format!("{host:?} is not a name a certificate can carry"))?;
        let client = ClientConnection::new(config, name).map_err(|e| format!("tls: {e}"))?;
        let Conn::Plain(tcp) = std::mem::replace(&mut self.conn, Conn::Closed) else {
            return Err("STARTTLS twice".into());
        };
        let mut tls = Box::new(StreamOwned::new(client, tcp));
        while tls.conn.is_handshaking() {
            arm(&tls.sock, self.deadline, self.stop, "the TLS handshake")?;
            match tls.conn.complete_io(&mut tls.sock) {
                Ok(_) => {}
                Err(e) if is_retry(&e) => {}
                Err(e) => return Err(format!("tls handshake: {e}")),
            }
        }
        self.conn = Conn::Tls(tls);
        Ok(())
    }

    /// `AUTH PLAIN`, else `AUTH LOGIN` (RFC 4954); only over TLS.
    fn authenticate(
        &mut self,
        caps: &Capabilities,
        user: &str,
        password: &str,
    ) -> Result<(), String> {
        assert!(self.conn.is_tls(), "credentials only over TLS");
        let offers = |m: &str| caps.auth.iter().any(|a| a == m);
        if offers("PLAIN") {
            let token = base64(format!("\0{user}\0{password}").as_bytes());
            self.command(&format!("AUTH PLAIN {token}"), "AUTH PLAIN", &[235])?;
        } else if offers("LOGIN") {
            self.command("AUTH LOGIN", "AUTH LOGIN", &[334])?;
            self.command(&base64(user.as_bytes()), "the user name", &[334])?;
            self.command(&base64(password.as_bytes()), "AUTH LOGIN", &[235])?;
        } else {
            return Err(format!(
                "the server offers no AUTH PLAIN or LOGIN (offers: {})",
                caps.auth.join(" ")
            ));
        }
        Ok(())
    }

    /// `MAIL FROM` and one `RCPT TO` per destination; the refused recipients,
    /// an error when all are.
    fn envelope(&mut self, email: &EmailConf) -> Result<Vec<String>, String> {
        let from = format!("MAIL FROM:<{}>", email.source_email);
        self.command(&from, "MAIL FROM", &[250])?;
        let mut refused = Vec::new();
        for to in &email.destination_emails {
            let what = format!("RCPT TO:<{to}>");
            let reply = self.exchange(&what, &what)?;
            if !matches!(reply.code, 250 | 251) {
                refused.push(refusal(&what, &reply));
            }
        }
        if refused.len() == email.destination_emails.len() {
            return Err(refused.join("; "));
        }
        Ok(refused)
    }
}

fn refusal(what: &str, reply: &Reply) -> String {
    format!("{what}: the server answered {}", reply.summary())
}

fn arm(tcp: &TcpStream, deadline: Instant, stop: &Stop, doing: &str) -> Result<(), String> {
    if stop.is_stopped() {
        return Err("stopped".into());
    }
    let left = deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("timed out waiting for {doing}"))?;
    let slice = Some(left.min(Duration::from_millis(SLICE_MS)));
    tcp.set_read_timeout(slice)
        .and_then(|()| tcp.set_write_timeout(slice))
        .map_err(|e| io_text(&e))
}

fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

/// One lowercase phrase per I/O error, as everywhere in the shell.
pub(super) use crate::shell::monitors::net::io_text;

/// Resolves `host` (in a helper thread: `getaddrinfo` has no timeout) and
/// connects to the first address that answers, all before `deadline`.
fn connect(host: &str, port: u16, deadline: Instant, stop: &Stop) -> Result<TcpStream, String> {
    // The same bounded resolver as the monitors (getaddrinfo has no timeout).
    let addrs = crate::shell::monitors::net::resolve(host, port, deadline, stop)?;
    let mut last = format!("{host}: no address");
    for addr in addrs.iter().take(ADDRESSES_MAX) {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        if left.is_zero() || stop.is_stopped() {
            break;
        }
        match TcpStream::connect_timeout(addr, left) {
            Ok(stream) => {
                // Commands are single short lines: no reason to wait for more.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            // The address is news only when a name was resolved.
            Err(e) if addr.ip().to_string() == host => last = io_text(&e),
            Err(e) => last = format!("{addr}: {}", io_text(&e)),
        }
    }
    Err(last)
}
