//! The pure parts of a notification mail: the reference's subject and body,
//! the message with its headers, dot-stuffing, SMTP replies, the `Date:` header
//! and base64 for `AUTH`.

use std::fmt::Write as _;

use super::FIELD_MAX_BYTES;

/// Bytes of one SMTP reply (all its lines) read at most.
pub const REPLY_MAX_BYTES: usize = 16 * 1024;
/// Lines of one multi-line SMTP reply at most.
pub const REPLY_LINES_MAX: usize = 100;
/// Bytes of one reply line at most (RFC 5321 4.5.3.1.5 allows 512; we are lenient).
pub const REPLY_LINE_MAX_BYTES: usize = 2048;

/// The reference's subject (`docs/compat.md` section 9).
pub fn subject(from: &str, to: &str) -> String {
    format!("ovirt-hosted-engine state transition {from}-{to}")
}

/// The reference's body (`docs/compat.md` section 9).
pub fn body(hostname: &str, from: &str, to: &str) -> String {
    format!("Hosted engine host: {hostname} changed state: {from}-{to}.")
}

/// The whole message: headers, a blank line, the body; lines end in CRLF.
/// Header values lose control characters (no header injection); the body is
/// kept as it is, [`dot_stuff`] makes it safe for `DATA`.
pub fn compose(
    source: &str,
    destinations: &[String],
    subject: &str,
    body: &str,
    date: &str,
    message_id: &str,
) -> String {
    let mut text = String::new();
    let mut header = |name: &str, value: &str| {
        let clean: String = value
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let _ = write!(text, "{name}: {clean}\r\n");
    };
    header("From", source);
    header("To", &destinations.join(", "));
    header("Subject", subject);
    header("Date", date);
    header("Message-ID", message_id);
    header("MIME-Version", "1.0");
    header("Content-Type", "text/plain; charset=utf-8");
    header("Content-Transfer-Encoding", "8bit");
    text.push_str("\r\n");
    text.push_str(body);
    text.push_str("\r\n");
    text
}

/// Text ready for SMTP `DATA` (RFC 5321 4.5.2): every line ends in CRLF (bare
/// CR or LF included), a line that starts with `.` gets one more. The caller
/// sends `.` CRLF after it.
pub fn dot_stuff(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    let body = normalized.strip_suffix('\n').unwrap_or(&normalized);
    for line in body.split('\n') {
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out
}

/// One SMTP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// The text of each line, without code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    /// Code and first line, for messages.
    pub fn summary(&self) -> String {
        let first = self.lines.first().map_or("", String::as_str);
        let shown: String = first.chars().take(120).collect();
        format!("{} {shown}", self.code).trim_end().to_owned()
    }
}

/// Parses one reply from the start of `buf` (RFC 5321 4.2): lines `NNN-text`
/// continue it, `NNN text` or `NNN` ends it; every line must carry the same
/// code. `Ok(None)`: incomplete; `Ok(Some((reply, bytes used)))`; `Err`: not
/// SMTP, or over the limits.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    let mut lines = Vec::new();
    let mut code = None;
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            if rest.len() > REPLY_LINE_MAX_BYTES {
                return Err(format!("reply line over {REPLY_LINE_MAX_BYTES} bytes"));
            }
            if at + rest.len() > REPLY_MAX_BYTES {
                return Err(format!("reply over {REPLY_MAX_BYTES} bytes"));
            }
            return Ok(None);
        };
        if end > REPLY_LINE_MAX_BYTES {
            return Err(format!("reply line over {REPLY_LINE_MAX_BYTES} bytes"));
        }
        let raw = &rest[..end];
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        at += end + 1;
        let (this_code, last, text) = parse_reply_line(line)?;
        if *code.get_or_insert(this_code) != this_code {
            return Err(format!(
                "reply mixes codes {} and {this_code}",
                code.unwrap_or(0)
            ));
        }
        lines.push(text);
        if last {
            let code = code.unwrap_or(this_code);
            return Ok(Some((Reply { code, lines }, at)));
        }
        if lines.len() >= REPLY_LINES_MAX {
            return Err(format!("reply over {REPLY_LINES_MAX} lines"));
        }
        if at > REPLY_MAX_BYTES {
            return Err(format!("reply over {REPLY_MAX_BYTES} bytes"));
        }
    }
}

fn parse_reply_line(line: &[u8]) -> Result<(u16, bool, String), String> {
    let shown = || String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
    let digits = line
        .get(..3)
        .filter(|d| matches!(d[0], b'2'..=b'5') && d[1].is_ascii_digit() && d[2].is_ascii_digit());
    let Some(digits) = digits else {
        return Err(format!("not an SMTP reply: {:?}", shown()));
    };
    let code = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    let (last, text) = match line.get(3) {
        None => (true, &[][..]),
        Some(b' ') => (true, &line[4..]),
        Some(b'-') => (false, &line[4..]),
        Some(_) => return Err(format!("not an SMTP reply: {:?}", shown())),
    };
    Ok((code, last, String::from_utf8_lossy(text).into_owned()))
}

/// What `EHLO` advertised.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Capabilities {
    pub starttls: bool,
    /// `AUTH` mechanisms, upper case.
    pub auth: Vec<String>,
}

/// The extensions of an `EHLO` reply that matter here.
pub(super) fn capabilities(reply: &Reply) -> Capabilities {
    let mut caps = Capabilities::default();
    // The first line is the server's greeting name.
    for line in reply.lines.iter().skip(1) {
        let upper = line.to_ascii_uppercase();
        let mut words = upper.split([' ', '=']);
        match words.next() {
            Some("STARTTLS") => caps.starttls = true,
            Some("AUTH") => caps
                .auth
                .extend(words.filter(|w| !w.is_empty()).map(String::from)),
            _ => {}
        }
    }
    caps.auth.sort();
    caps.auth.dedup();
    caps
}

/// The name we give in `EHLO`: the host name when it is a domain name, else an
/// address literal (RFC 5321 4.1.1.1).
pub(super) fn helo_name(hostname: &str) -> String {
    let domain = !hostname.is_empty()
        && hostname.len() <= 253
        && !hostname.starts_with(['-', '.'])
        && hostname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    match domain {
        true => hostname.to_owned(),
        false => "[127.0.0.1]".to_owned(),
    }
}

/// Standard base64 with padding (RFC 4648), for `AUTH`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `Date:` value for a Unix time (RFC 5322 3.3), in UTC:
/// `Thu, 01 Jan 1970 00:00:00 +0000`.
pub fn rfc2822_date(unix_secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (year, month, day) = crate::metadata::civil_from_days(days as i64);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `s` cut to [`FIELD_MAX_BYTES`](super::FIELD_MAX_BYTES) at a character boundary.
pub(super) fn cut(s: &str) -> String {
    let mut end = s.len().min(FIELD_MAX_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_and_body_are_the_reference_strings() {
        assert_eq!(
            subject("EngineDown", "EngineStart"),
            "ovirt-hosted-engine state transition EngineDown-EngineStart"
        );
        assert_eq!(
            body("host1.lab", "EngineDown", "EngineStart"),
            "Hosted engine host: host1.lab changed state: EngineDown-EngineStart."
        );
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_and_ends_lines_in_crlf() {
        assert_eq!(dot_stuff("a\n.b\r\n..c\rd"), "a\r\n..b\r\n...c\r\nd\r\n");
        assert_eq!(dot_stuff(".\n"), "..\r\n");
        assert_eq!(dot_stuff("x\r\n"), "x\r\n");
        assert_eq!(dot_stuff(""), "\r\n");
        // No line of the output is a lone ".": the message cannot end early.
        let hostile = "h\n.\nMAIL FROM:<x@y>\r\n.\r\n";
        assert!(!dot_stuff(hostile).split("\r\n").any(|l| l == "."));
    }

    #[test]
    fn replies_single_multi_line_and_incomplete() {
        let (reply, used) = parse_reply(b"250 ok\r\nrest").unwrap().unwrap();
        assert_eq!(
            (reply.code, reply.lines.clone(), used),
            (250, vec!["ok".into()], 8)
        );
        let multi = b"250-mail.lab\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n";
        let (reply, used) = parse_reply(multi).unwrap().unwrap();
        assert_eq!(used, multi.len());
        assert_eq!(reply.lines.len(), 4);
        let caps = capabilities(&reply);
        assert!(caps.starttls);
        assert_eq!(caps.auth, vec!["LOGIN".to_string(), "PLAIN".to_string()]);
        assert_eq!(parse_reply(b"250-a\r\n250 b").unwrap(), None);
        assert_eq!(parse_reply(b"").unwrap(), None);
        let (bare, _) = parse_reply(b"354\n").unwrap().unwrap();
        assert_eq!((bare.code, bare.lines), (354, vec![String::new()]));
        let (bye, _) = parse_reply(b"221 bye\r\n").unwrap().unwrap();
        assert_eq!(bye.summary(), "221 bye");
    }

    #[test]
    fn replies_that_are_not_smtp_or_too_big_are_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\n"[..],
            b"250x\r\n",
            b"25\r\n",
            b"250-a\r\n251 b\r\n",
        ] {
            assert!(
                parse_reply(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = vec![b'2'; REPLY_LINE_MAX_BYTES + 1];
        assert!(parse_reply(&long).is_err());
        let many = "250-x\r\n".repeat(REPLY_LINES_MAX + 1);
        assert!(parse_reply(many.as_bytes()).is_err());
    }

    #[test]
    fn dates_follow_rfc_2822() {
        assert_eq!(rfc2822_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc2822_date(1_700_000_000),
            "Tue, 14 Nov 2023 22:13:20 +0000"
        );
        assert_eq!(
            rfc2822_date(4_102_444_799),
            "Thu, 31 Dec 2099 23:59:59 +0000"
        );
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(b"\0user\0secret"), "AHVzZXIAc2VjcmV0");
    }

    #[test]
    fn headers_cannot_be_injected() {
        let text = compose(
            "root@localhost",
            &["a@b".into(), "c@d".into()],
            "s\r\nBcc: x@y",
            "body",
            "Thu, 01 Jan 1970 00:00:00 +0000",
            "<1@h>",
        );
        assert!(
            text.starts_with("From: root@localhost\r\nTo: a@b, c@d\r\nSubject: s  Bcc: x@y\r\n")
        );
        assert!(text.ends_with("\r\n\r\nbody\r\n"));
    }

    #[test]
    fn helo_name_is_a_domain_or_an_address_literal() {
        assert_eq!(helo_name("host1.lab"), "host1.lab");
        assert_eq!(helo_name("bad host"), "[127.0.0.1]");
        assert_eq!(helo_name(""), "[127.0.0.1]");
    }

    #[test]
    fn fields_are_cut_at_a_character_boundary() {
        let long = "é".repeat(200);
        let short = cut(&long);
        assert!(short.len() <= FIELD_MAX_BYTES && short.chars().all(|c| c == 'é'));
    }
}
