//! Free memory for the score (`docs/compat.md` section 4), from
//! `/proc/meminfo`: `MemAvailable`, or on kernels without it (before 3.14)
//! `MemFree + Buffers + Cached`. The reference asks vdsm for `memFree`, which
//! vdsm computes from the same file.

use std::path::Path;

use super::net::io_text;
use super::read_prefix;

/// Bytes of `/proc/meminfo` read at most (it is about 1.5 KiB).
const MEMINFO_MAX_BYTES: usize = 16 * 1024;
const KIB_PER_MIB: u64 = 1024;

/// Free memory in MiB from `<proc_root>/meminfo`.
pub fn free_memory_mib(proc_root: &Path) -> Result<u64, String> {
    let path = proc_root.join("meminfo");
    let text = read_prefix(&path, MEMINFO_MAX_BYTES)
        .map_err(|e| format!("{}: {}", path.display(), io_text(&e)))?;
    parse_meminfo_mib(&text).map_err(|why| format!("{}: {why}", path.display()))
}

/// Free memory in MiB from the text of `/proc/meminfo`.
pub fn parse_meminfo_mib(text: &str) -> Result<u64, String> {
    if let Some(kib) = field_kib(text, "MemAvailable")? {
        return Ok(kib / KIB_PER_MIB);
    }
    let mut sum = 0u64;
    for key in ["MemFree", "Buffers", "Cached"] {
        let kib = field_kib(text, key)?.ok_or(format!("no MemAvailable and no {key}"))?;
        sum = sum.checked_add(kib).ok_or("memory size overflow")?;
    }
    Ok(sum / KIB_PER_MIB)
}

/// The value of `key` in kB; `Ok(None)` when absent, `Err` when malformed.
fn field_kib(text: &str, key: &str) -> Result<Option<u64>, String> {
    let Some(line) = text
        .lines()
        .find(|line| line.split_once(':').is_some_and(|(k, _)| k == key))
    else {
        return Ok(None);
    };
    let value = line.split_once(':').map_or("", |(_, v)| v);
    let mut words = value.split_whitespace();
    let number = words.next().and_then(|n| n.parse::<u64>().ok());
    match (number, words.next(), words.next()) {
        (Some(kib), Some("kB"), None) => Ok(Some(kib)),
        _ => Err(format!("malformed {key} line")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_wins() {
        let text = "MemTotal:       16318412 kB\nMemFree:          512000 kB\n\
                    MemAvailable:    8388608 kB\nBuffers:          102400 kB\nCached:          1048576 kB\n";
        assert_eq!(parse_meminfo_mib(text), Ok(8192));
    }

    #[test]
    fn old_kernels_add_free_buffers_and_cached() {
        let text = "MemTotal: 16318412 kB\nMemFree: 512000 kB\nBuffers: 102400 kB\n\
                    Cached: 1048576 kB\nSwapCached: 0 kB\n";
        assert_eq!(
            parse_meminfo_mib(text),
            Ok((512000 + 102400 + 1048576) / 1024)
        );
    }

    #[test]
    fn malformed() {
        for text in [
            "",
            "MemAvailable: lots kB\n",
            "MemAvailable: 100\n",
            "MemAvailable: 100 MB\n",
            "MemAvailable: -5 kB\n",
            "MemFree: 1 kB\nBuffers: 1 kB\n",
            "MemFree: 18446744073709551615 kB\nBuffers: 1 kB\nCached: 1 kB\n",
        ] {
            assert!(parse_meminfo_mib(text).is_err(), "{text:?}");
        }
    }
}
