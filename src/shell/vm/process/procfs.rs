//! Reading `/proc`: a process's `stat` line and the boot id.

use std::path::Path;

use super::state::read_bounded;

pub(super) const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The fields of `/proc/<pid>/stat` the process driver and the lab use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `T` (stopped), `Z` (zombie), ...
    pub state: u8,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// Clock ticks after boot at which it started (field 22).
    pub start_ticks: u64,
}

pub(super) fn stat_path(pid: i32) -> String {
    format!("/proc/{pid}/stat")
}

/// `None` when there is no such process.
pub(super) fn read_stat(pid: i32) -> Result<Option<Stat>, String> {
    let path = stat_path(pid);
    let bytes = match read_bounded(Path::new(&path)) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(format!("{path}: {e}")),
    };
    parse_stat(&bytes)
        .map(Some)
        .ok_or_else(|| format!("{path}: unexpected contents"))
}

/// Parses `pid (comm) state ppid pgrp session ... starttime ...`. The command
/// name may hold any byte, parentheses and spaces included: the fields start
/// after its last `)`.
pub fn parse_stat(bytes: &[u8]) -> Option<Stat> {
    let close = bytes.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(bytes.get(close + 1..)?).ok()?;
    // Field 3 (state) is index 0 here, so field N is index N - 3.
    let fields: Vec<&str> = rest.split_ascii_whitespace().take(20).collect();
    let state = fields.first()?.as_bytes();
    if state.len() != 1 {
        return None;
    }
    Some(Stat {
        state: state[0],
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

pub(super) fn parse_boot_id(bytes: &[u8]) -> Option<String> {
    let id = std::str::from_utf8(bytes).ok()?.trim();
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "42 (a) b (c)) S 1 42 43 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0\n";

    #[test]
    fn stat_parses_odd_command_names() {
        let stat = parse_stat(LINE.as_bytes()).unwrap();
        assert_eq!((stat.state, stat.pgrp, stat.session), (b'S', 42, 43));
        assert_eq!(stat.start_ticks, 98765);
        let invalid_utf8 = [&b"7 (\xff\xfe) T"[..], &LINE.as_bytes()[15..]].concat();
        assert_eq!(parse_stat(&invalid_utf8).unwrap().state, b'T');
    }

    #[test]
    fn stat_refuses_garbage() {
        let bad = [
            String::new(),
            "42 (x".into(),
            LINE[..30].into(),
            LINE.replace(") S ", ") SS "),
            LINE.replace(" 98765 ", " -5 "),
            LINE.replace(" 43 ", " x "),
        ];
        for line in &bad {
            assert_eq!(parse_stat(line.as_bytes()), None, "{line:?}");
        }
        assert_eq!(
            parse_stat(&LINE.replace("98765", "9").into_bytes())
                .unwrap()
                .start_ticks,
            9
        );
    }
}
