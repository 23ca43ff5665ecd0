//! `hosted-engine --history`: why did the engine move? Every host's recent
//! events (`metadata::history`), read from the shared storage, merged into
//! one timeline, newest last.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::ctx::{Ctx, warn};
use super::failure::{EXIT_OK, Failure, FailureKind, Outcome};
use super::hostfacts::shown;
use super::spec::Invocation;
use crate::metadata::HostId;
use crate::metadata::history::{Event, HISTORY_DIR, RING_BYTES, decode_ring};

/// A ring file that could not be read.
struct Unreadable {
    host_id: HostId,
    error: String,
}

/// `--history [--since=<time>] [--host=<id>] [--json]`.
pub fn history(ctx: &Ctx, inv: &Invocation) -> Outcome {
    let he = ctx.deployed_conf()?;
    let now_ms = unix_ms_now();
    let since = inv
        .value("since")
        .map(|text| parse_since(text, now_ms))
        .transpose()?;
    let host = inv
        .value("host")
        .map(|text| {
            text.parse::<HostId>()
                .ok()
                .filter(|id| (1..=crate::metadata::HOST_ID_MAX).contains(id))
                .ok_or_else(|| {
                    Failure::new(
                        FailureKind::Usage,
                        format!("Invalid value '{text}' for --host (a host id, 1 to 2000)"),
                    )
                })
        })
        .transpose()?;
    let volume = he
        .metadata_volume_path()
        .map_err(|e| Failure::config(e.to_string()))?;
    let dir = volume.parent().unwrap_or(Path::new("/")).join(HISTORY_DIR);
    let timeout = Duration::from_millis(ctx.timings().storage_timeout_ms.max(1000));
    let (mut events, unreadable) = read_all(&dir, host, timeout)?;
    events.retain(|e| since.is_none_or(|t| e.unix_ms >= t));
    events.sort_by_key(|e| (e.unix_ms, e.host_id, e.seq));
    let out = if inv.flag("json") {
        json_text(&events, &unreadable)
    } else {
        for u in &unreadable {
            warn(&format!(
                "host {}'s history is unreadable: {}",
                u.host_id,
                shown(&u.error)
            ));
        }
        if events.is_empty() {
            warn("no events recorded (yet) for this selection");
        }
        events.iter().map(line).collect()
    };
    super::super::write_stdout(&out)
        .map_err(|e| Failure::new(FailureKind::Io, format!("stdout: {e}")))?;
    Ok(EXIT_OK)
}

/// Every host's events (or only `host`'s) in `dir`, each file read within
/// `timeout`; files that could not be read, with why.
fn read_all(
    dir: &Path,
    host: Option<HostId>,
    timeout: Duration,
) -> Result<(Vec<Event>, Vec<Unreadable>), Failure> {
    let listing = {
        let dir = dir.to_path_buf();
        crate::deadline::run("history-list", timeout, move || std::fs::read_dir(&dir))
    };
    let entries = match listing {
        Ok(Ok(entries)) => entries,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Vec::new(), Vec::new()));
        }
        Ok(Err(e)) => {
            return Err(Failure::new(
                FailureKind::Storage,
                format!("reading {}: {e}", dir.display()),
            ));
        }
        Err(e) => {
            return Err(Failure::new(
                FailureKind::Storage,
                format!("reading {}: {e}", dir.display()),
            ));
        }
    };
    let mut ids: Vec<HostId> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let id: HostId = name
                .strip_prefix("host-")?
                .strip_suffix(".ring")?
                .parse()
                .ok()?;
            // Exactly the name the writer uses (`host-01.ring` is not host 1's).
            (name == format!("host-{id}.ring")).then_some(id)
        })
        .filter(|id: &HostId| (1..=crate::metadata::HOST_ID_MAX).contains(id))
        .filter(|id| host.is_none_or(|h| h == *id))
        .collect();
    ids.sort_unstable();
    let mut events = Vec::new();
    let mut unreadable = Vec::new();
    for id in ids {
        let path = crate::shell::history::ring_path(dir.parent().unwrap_or(dir), id);
        let read = {
            let path = path.clone();
            crate::deadline::run("history-read", timeout, move || read_ring(&path))
        };
        match read {
            Ok(Ok(bytes)) => events.extend(decode_ring(id, &bytes)),
            Ok(Err(e)) => unreadable.push(Unreadable {
                host_id: id,
                error: e.to_string(),
            }),
            Err(e) => unreadable.push(Unreadable {
                host_id: id,
                error: e.to_string(),
            }),
        }
    }
    Ok((events, unreadable))
}

/// A ring file, at most [`RING_BYTES`] of it: a regular file, never
/// reached through a symbolic link (nor a FIFO, which would never end).
fn read_ring(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::with_capacity(RING_BYTES);
    file.take(RING_BYTES as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The last `n` events of every host beside the metadata `volume`, oldest
/// first, one line each as `--history` prints them (`he-lab status`).
pub fn recent_lines(volume: &Path, n: usize, timeout: Duration) -> Vec<String> {
    let dir = volume.parent().unwrap_or(Path::new("/")).join(HISTORY_DIR);
    let Ok((mut events, _)) = read_all(&dir, None, timeout) else {
        return Vec::new();
    };
    events.sort_by_key(|e| (e.unix_ms, e.host_id, e.seq));
    let skip = events.len().saturating_sub(n);
    events[skip..].iter().map(line).collect()
}

fn line(e: &Event) -> String {
    format!(
        "{}  host {:<4} {:<11} {}\n",
        local_time(e.unix_ms),
        e.host_id,
        e.kind.name(),
        shown(&e.text)
    )
}

fn json_text(events: &[Event], unreadable: &[Unreadable]) -> String {
    let events: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            json!({
                "time": local_time(e.unix_ms),
                "unix-ms": e.unix_ms,
                "host-id": e.host_id,
                "seq": e.seq,
                "kind": e.kind.name(),
                "text": e.text,
            })
        })
        .collect();
    let unreadable: Vec<serde_json::Value> = unreadable
        .iter()
        .map(|u| json!({"host-id": u.host_id, "error": u.error}))
        .collect();
    let mut text = json!({"events": events, "unreadable": unreadable}).to_string();
    text.push('\n');
    text
}

fn unix_ms_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in local time.
pub fn local_time(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let local = secs + i64::from(crate::clock::utc_offset_secs(secs));
    let (y, m, d, h, mi, s) = crate::metadata::civil_time(local);
    format!(
        "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{:03}",
        unix_ms.rem_euclid(1000)
    )
}

/// Days since 1970-01-01 of a civil date (the inverse of `civil_from_days`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `--since`'s value as Unix milliseconds: `90s`/`15m`/`2h`/`1d` back from
/// `now_ms`, Unix seconds (with up to three decimals), or a local
/// `YYYY-MM-DD HH:MM[:SS]` / `HH:MM[:SS]`.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, Failure> {
    let bad = || {
        Failure::new(
            FailureKind::Usage,
            format!(
                "Invalid value '{text}' for --since (a duration such as 15m, 2h or 1d, Unix \
                 seconds, or a local time YYYY-MM-DD HH:MM[:SS] or HH:MM[:SS])"
            ),
        )
    };
    let t = text.trim();
    if let Some(unit) = t.chars().last().filter(|c| "smhd".contains(*c)) {
        let n: i64 = t[..t.len() - 1].parse().map_err(|_| bad())?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => 86_400,
        };
        return n
            .checked_mul(secs * 1000)
            .filter(|back| *back >= 0)
            .map(|back| now_ms.saturating_sub(back))
            .ok_or_else(bad);
    }
    let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !whole.is_empty()
        && digits(whole)
        && fraction.len() <= 3
        && digits(fraction)
        && !t.ends_with('.')
    {
        let ms: i64 = format!("{fraction:0<3}").parse().map_err(|_| bad())?;
        return whole
            .parse::<i64>()
            .ok()
            .and_then(|s| s.checked_mul(1000)?.checked_add(ms))
            .ok_or_else(bad);
    }
    let (date, clock) = match t.split_once(' ') {
        Some((date, clock)) => (Some(date), clock),
        None => (None, t),
    };
    let numbers =
        |s: &str, sep: char| -> Option<Vec<i64>> { s.split(sep).map(|p| p.parse().ok()).collect() };
    let hms = numbers(clock, ':')
        .filter(|v| (2..=3).contains(&v.len()))
        .ok_or_else(bad)?;
    let (h, mi, s) = (hms[0], hms[1], hms.get(2).copied().unwrap_or(0));
    if !(0..24).contains(&h) || !(0..60).contains(&mi) || !(0..60).contains(&s) {
        return Err(bad());
    }
    let now_secs = now_ms.div_euclid(1000);
    let days = match date {
        Some(date) => {
            let ymd = numbers(date, '-')
                .filter(|v| v.len() == 3)
                .ok_or_else(bad)?;
            if !(1970..=9999).contains(&ymd[0])
                || !(1..=12).contains(&ymd[1])
                || !(1..=31).contains(&ymd[2])
            {
                return Err(bad());
            }
            days_from_civil(ymd[0], ymd[1], ymd[2])
        }
        None => {
            let local = now_secs + i64::from(crate::clock::utc_offset_secs(now_secs));
            local.div_euclid(86_400)
        }
    };
    let as_if_utc = days * 86_400 + h * 3600 + mi * 60 + s;
    // The zone's offset at the instant meant, not at the UTC reading of it
    // (they differ within an offset of a daylight-saving change).
    let offset = |t: i64| i64::from(crate::clock::utc_offset_secs(t));
    let guess = as_if_utc - offset(as_if_utc);
    let unix = as_if_utc - offset(guess);
    Ok(unix * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_unix_seconds_and_local_times() {
        let now = 1_765_000_000_000;
        assert_eq!(parse_since("90s", now).unwrap(), now - 90_000);
        assert_eq!(parse_since("15m", now).unwrap(), now - 900_000);
        assert_eq!(parse_since("2h", now).unwrap(), now - 7_200_000);
        assert_eq!(parse_since("1d", now).unwrap(), now - 86_400_000);
        assert_eq!(parse_since("1765000000", now).unwrap(), now);
        assert_eq!(parse_since("1765000000.25", now).unwrap(), now + 250);
        let at = parse_since("2026-12-07 07:31:45", now).unwrap();
        assert_eq!(local_time(at), "2026-12-07 07:31:45.000");
        let today = parse_since("07:31", now).unwrap();
        assert!(
            local_time(today).ends_with(" 07:31:00.000"),
            "{}",
            local_time(today)
        );
        for bad in [
            "999999999999-01-01 00:00",
            "99999999999999999999",
            "9999999999999999s",
            "",
            "x",
            "5y",
            "-5m",
            "25:00",
            "2026-13-01 00:00",
            "12:61",
            "1:2:3:4",
            "1.2345",
            "1.",
        ] {
            assert!(parse_since(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn civil_days_round_trip() {
        for days in [-1000, 0, 59, 60, 365, 20_000, 20_429] {
            let (y, m, d) = crate::metadata::civil_from_days(days);
            assert_eq!(days_from_civil(y, i64::from(m), i64::from(d)), days);
        }
    }
}
