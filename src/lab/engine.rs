//! `he-lab engine`: a stand-in engine VM for the `process` driver. It serves the
//! engine's health page (`DB Up!Welcome to Health Status!`), says it is shutting
//! down on SIGTERM (as the guest console would) and exits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use anyhow::Context;

use crate::shell::signals;

/// The body the real engine answers on its health page.
pub const HEALTH_BODY: &str = "DB Up!Welcome to Health Status!";
/// The health page's path.
pub const HEALTH_PATH: &str = "/ovirt-engine/services/health";
/// Bound on reading one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request line or header line accepted.
const LINE_MAX: usize = 8192;

/// Serves the health page on `listen` until SIGTERM/SIGINT.
pub fn run(listen: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    signals::install_stop_handlers().context("installing signal handlers")?;
    let listener = TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    listener.set_nonblocking(true)?;
    let epoch = std::env::var("HE_LEASE_EPOCH").unwrap_or_else(|_| "-".into());
    writeln!(
        out,
        "engine: serving {HEALTH_PATH} on {listen} (lease epoch {epoch})"
    )?;
    out.flush()?;
    while !signals::stop_requested() {
        match listener.accept() {
            Ok((stream, _)) => {
                // A client that misbehaves costs one request, never the engine.
                let _ = serve(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).context("accepting a connection"),
        }
    }
    writeln!(out, "engine: VM is shutting down!")?;
    out.flush()?;
    Ok(())
}

fn serve(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(LINE_MAX as u64 * 64);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers up to the empty line.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = if path == HEALTH_PATH {
        ("200 OK", HEALTH_BODY)
    } else {
        ("404 Not Found", "not found")
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
