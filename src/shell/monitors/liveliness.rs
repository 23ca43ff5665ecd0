//! The engine's liveliness check (`docs/compat.md` section 3): HTTP
//! GET `http://<fqdn>/ovirt-engine/services/health`; healthy when the first line
//! of the body contains `DB Up`. As in the reference the status code does not
//! matter, only the body's first line; an answer that is not HTTP is not healthy.

use super::net;
use super::stop::{Stop, deadline_in};

/// The engine's health page.
pub const HEALTH_PATH: &str = "/ovirt-engine/services/health";
/// What the first line of a healthy answer contains (the engine answers
/// `DB Up!Welcome to Health Status!`).
pub const HEALTHY_MARKER: &str = "DB Up";
/// Default HTTP port when `fqdn` carries none.
pub const HTTP_PORT: u16 = 80;
/// Bytes of an answer read at most; the first body line is all that matters.
pub const RESPONSE_MAX_BYTES: usize = 64 * 1024;
/// Characters of the first body line kept for an error message.
const LINE_SHOWN_MAX: usize = 80;

/// One-shot liveliness check, for `hosted-engine --check-liveliness`.
///
/// Everything (resolution, connect, request, answer) finishes within
/// `timeout_ms`. `Ok(true)`: healthy. `Ok(false)`: the engine answered, but not
/// `DB Up`. `Err`: no usable answer (unreachable, timed out, not HTTP), which is
/// not up either; the text says why, object first.
pub fn check_liveliness(fqdn: &str, timeout_ms: u64) -> Result<bool, String> {
    check_health(fqdn, timeout_ms, &Stop::new()).map(|answer| answer.healthy)
}

/// What the health page said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthAnswer {
    pub healthy: bool,
    /// The first line of the body (shortened), for messages.
    pub first_line: String,
}

/// [`check_liveliness`] with the first line of the answer, interruptible by
/// `stop` (the socket server's liveliness request, the monitor).
pub fn check_health(fqdn: &str, timeout_ms: u64, stop: &Stop) -> Result<HealthAnswer, String> {
    let deadline = deadline_in(timeout_ms);
    let (host, port) = net::split_host_port(fqdn, HTTP_PORT)?;
    let peer = format!("{fqdn}{HEALTH_PATH}");
    let mut stream = net::connect(&host, port, deadline, stop)?;
    let request = format!(
        "GET {HEALTH_PATH} HTTP/1.0\r\nHost: {fqdn}\r\nAccept: */*\r\n\
         User-Agent: hosted-engine\r\nConnection: close\r\n\r\n"
    );
    net::write_all(&mut stream, request.as_bytes(), deadline, stop, &peer)?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let complete = answer.len() >= RESPONSE_MAX_BYTES;
        if !complete {
            match parse_response(&answer, false) {
                Parse::Incomplete => {}
                done => return finish(done, &peer),
            }
            let n = net::read_some(&mut stream, &mut chunk, deadline, stop, &peer)?;
            if n > 0 {
                let room = RESPONSE_MAX_BYTES - answer.len();
                answer.extend_from_slice(&chunk[..n.min(room)]);
                continue;
            }
        }
        return finish(parse_response(&answer, true), &peer);
    }
}

fn finish(parse: Parse, peer: &str) -> Result<HealthAnswer, String> {
    match parse {
        Parse::Body(line) => {
            let healthy = contains(&line, HEALTHY_MARKER.as_bytes());
            let shown: String = String::from_utf8_lossy(&line)
                .chars()
                .take(LINE_SHOWN_MAX)
                .collect();
            Ok(HealthAnswer {
                healthy,
                first_line: shown,
            })
        }
        Parse::NotHttp(why) => Err(format!("{peer}: {why}")),
        Parse::Incomplete => Err(format!("{peer}: answer ended early")),
    }
}

/// How far an answer got.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// More bytes are needed.
    Incomplete,
    /// The first line of the body (without its line end).
    Body(Vec<u8>),
    /// Not an HTTP answer, or a broken one.
    NotHttp(String),
}

/// Parses an HTTP answer as far as its body's first line. `complete` says that
/// no more bytes will come (end of stream or the size limit). Plain, length
/// delimited and chunked bodies are understood.
pub fn parse_response(bytes: &[u8], complete: bool) -> Parse {
    const PREFIX: &[u8] = b"HTTP/";
    let head = &bytes[..bytes.len().min(PREFIX.len())];
    if head != &PREFIX[..head.len()] {
        return Parse::NotHttp("not an HTTP answer".into());
    }
    let Some((header_len, body_at)) = header_end(bytes) else {
        return match complete {
            true => Parse::NotHttp("incomplete HTTP header".into()),
            false => Parse::Incomplete,
        };
    };
    let header = String::from_utf8_lossy(&bytes[..header_len]);
    let mut lines = header.lines();
    if !valid_status_line(lines.next().unwrap_or("")) {
        return Parse::NotHttp("malformed HTTP status line".into());
    }
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        }
    }
    let raw = &bytes[body_at..];
    let (body, ended) = if chunked {
        match dechunk(raw) {
            Ok(found) => found,
            Err(why) => return Parse::NotHttp(why),
        }
    } else {
        match length {
            Some(len) if raw.len() >= len => (raw[..len].to_vec(), true),
            _ => (raw.to_vec(), false),
        }
    };
    match body.iter().position(|&b| b == b'\n') {
        Some(end) => Parse::Body(trim_cr(&body[..end]).to_vec()),
        None if ended || complete => Parse::Body(trim_cr(&body).to_vec()),
        None => Parse::Incomplete,
    }
}

/// `(end of the header text, start of the body)`, accepting bare `\n` line ends.
fn header_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = find(bytes, b"\r\n\r\n").map(|at| (at, at + 4));
    let lf = find(bytes, b"\n\n").map(|at| (at, at + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

fn valid_status_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let version_ok = words
        .next()
        .and_then(|v| v.strip_prefix("HTTP/"))
        .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'));
    let code_ok = words
        .next()
        .is_some_and(|c| c.len() == 3 && c.chars().all(|d| d.is_ascii_digit()));
    version_ok && code_ok
}

/// The data of the chunks present so far and whether the last chunk was seen.
fn dechunk(mut raw: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = raw.iter().position(|&b| b == b'\n') else {
            return Ok((body, false));
        };
        let size_text = String::from_utf8_lossy(trim_cr(&raw[..line_end]));
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("malformed chunk size {size_text:?}"))?;
        if size == 0 {
            return Ok((body, true));
        }
        let data = &raw[line_end + 1..];
        if data.len() < size {
            body.extend_from_slice(data);
            return Ok((body, false));
        }
        body.extend_from_slice(&data[..size]);
        // Skip the line end after the data, when it has arrived.
        let rest = &data[size..];
        raw = rest
            .strip_prefix(b"\r\n")
            .or_else(|| rest.strip_prefix(b"\n"))
            .unwrap_or(rest);
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Parse {
        Parse::Body(text.as_bytes().to_vec())
    }

    #[test]
    fn plain_bodies() {
        let ok =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nDB Up!Welcome to Health Status!";
        assert_eq!(parse_response(ok, false), Parse::Incomplete);
        assert_eq!(
            parse_response(ok, true),
            body("DB Up!Welcome to Health Status!")
        );
        let lines = b"HTTP/1.0 500 Oops\r\n\r\nDB Down\r\nDB Up\r\n";
        assert_eq!(parse_response(lines, false), body("DB Down"));
        let bare_lf = b"HTTP/1.0 200 OK\nServer: x\n\nDB Up!\n";
        assert_eq!(parse_response(bare_lf, false), body("DB Up!"));
    }

    #[test]
    fn content_length_ends_the_body_without_end_of_stream() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nDB Up";
        assert_eq!(parse_response(answer, false), body("DB Up"));
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nDB Up";
        assert_eq!(parse_response(short, false), Parse::Incomplete);
    }

    #[test]
    fn chunked_bodies() {
        let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nDB \r\n1d;x=y\r\nUp!Welcome to Health Status!\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(answer, false),
            body("DB Up!Welcome to Health Status!")
        );
        let partial = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nDB";
        assert_eq!(parse_response(partial, false), Parse::Incomplete);
        assert_eq!(parse_response(partial, true), body("DB"));
        let broken = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(parse_response(broken, false), Parse::NotHttp(_)));
    }

    #[test]
    fn not_http() {
        for answer in [
            &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
            b"DB Up!Welcome to Health Status!",
            b"HTTP/1.1 OK\r\n\r\nDB Up",
            b"HTTX",
        ] {
            assert!(
                matches!(parse_response(answer, true), Parse::NotHttp(_)),
                "{answer:?}"
            );
        }
        assert_eq!(parse_response(b"HTT", false), Parse::Incomplete);
        assert!(matches!(
            parse_response(b"HTTP/1.1 200 OK\r\n", true),
            Parse::NotHttp(_)
        ));
        assert_eq!(parse_response(b"", false), Parse::Incomplete);
    }

    #[test]
    fn the_marker_must_be_on_the_first_line() {
        let answer = finish(
            parse_response(b"HTTP/1.0 200 OK\r\n\r\nx\nDB Up", true),
            "p",
        );
        assert!(!answer.unwrap().healthy);
        let answer = finish(body("DB Up!Welcome to Health Status!"), "p").unwrap();
        assert!(answer.healthy);
    }
}
