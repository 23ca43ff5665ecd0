//! Value parsers shared by the typed files, and a reader that turns a bad value into
//! an error naming file, line and key while it keeps reading the rest.

use std::path::PathBuf;

use super::document::KvDocument;
use super::error::{ConfigError, ConfigErrors, ErrorKind};

// The core states the rules and words their seconds; the files are read here.
pub use crate::core::violation::{DURATION_MAX_MS, Violation, format_secs};

/// Collects typed values from a document; every problem is kept, so one load
/// reports all of them.
pub(crate) struct Fields<'a> {
    doc: &'a KvDocument,
    errors: Vec<ConfigError>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(doc: &'a KvDocument) -> Self {
        Fields {
            doc,
            errors: Vec::new(),
        }
    }

    /// The raw value; an empty value (`key=`) reads as absent, as setup tools write
    /// empty keys for "not configured".
    pub(crate) fn raw(&self, section: &str, key: &str) -> Option<&'a str> {
        self.doc.get(section, key).filter(|v| !v.is_empty())
    }

    /// The parsed value, `None` when absent or invalid (the error is recorded).
    pub(crate) fn value<T>(
        &mut self,
        section: &str,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.raw(section, key)?;
        match parse(raw) {
            Ok(value) => Some(value),
            Err(message) => {
                let line = self.doc.line_of(section, key);
                let error = ConfigError::new(ErrorKind::Value, self.doc.path(), message);
                self.errors.push(error.at_line(line).with_key(key));
                None
            }
        }
    }

    /// The parsed value, or `default` when absent (or invalid: the error is recorded).
    pub(crate) fn or<T>(
        &mut self,
        section: &str,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        self.value(section, key, parse).unwrap_or(default)
    }

    /// The parsed value of a mandatory key; absence is recorded as an error, and
    /// so is an empty value (`key=`), on its line.
    pub(crate) fn required<T>(
        &mut self,
        section: &str,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        if self.raw(section, key).is_none() {
            let (line, message) = match self.doc.get(section, key) {
                Some(_) => (self.doc.line_of(section, key), "required key is empty"),
                None => (None, "required key is missing"),
            };
            let error = ConfigError::new(ErrorKind::Missing, self.doc.path(), message);
            self.errors.push(error.at_line(line).with_key(key));
            return None;
        }
        self.value(section, key, parse)
    }

    /// Ok when every value parsed.
    pub(crate) fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// Ties a violation to a file: one key is a value error on that key's line,
/// several keys a relation error on the line of the first one the file sets.
pub(crate) fn violation_error(v: Violation, doc: &KvDocument, section: &str) -> ConfigError {
    let line = v.keys.iter().find_map(|k| doc.line_of(section, k));
    if let [key] = v.keys[..] {
        let error = ConfigError::new(ErrorKind::Value, doc.path(), v.message);
        return error.at_line(line).with_key(key);
    }
    ConfigError::relation(doc.path(), line, &v.keys, v.message)
}

/// Turns violations into errors; Ok when there are none.
pub(crate) fn errors_from(errors: Vec<ConfigError>) -> Result<(), ConfigErrors> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ConfigErrors(errors))
    }
}

/// `True`/`False` as the reference writes booleans.
pub fn format_bool(value: bool) -> &'static str {
    if value { "True" } else { "False" }
}

/// Accepts true/false, yes/no, on/off, 1/0 in any case (the reference writes
/// `True`/`False`; hand-edited files use the others).
pub fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "{raw:?} is not a boolean (true/false, yes/no, 1/0)"
        )),
    }
}

/// Seconds with up to three decimals (`10`, `0.5`, `0.125`) to whole milliseconds,
/// without going through floating point, so `0.1` is exactly 100 ms.
pub fn parse_secs_ms(raw: &str) -> Result<u64, String> {
    let not_secs = || format!("{raw:?} is not a duration in seconds (e.g. 10 or 0.5)");
    let (whole, fraction) = raw.split_once('.').unwrap_or((raw, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || (raw.contains('.') && fraction.is_empty())
    {
        return Err(not_secs());
    }
    if fraction.len() > 3 {
        return Err(format!(
            "{raw:?} is finer than a millisecond (at most 3 decimals)"
        ));
    }
    let too_long = || format!("{raw:?} is longer than {} seconds", DURATION_MAX_MS / 1000);
    // More than 12 digits cannot fit below the limit; refusing early keeps the
    // multiplication below from overflowing.
    if whole.len() > 12 {
        return Err(too_long());
    }
    let whole_ms = whole.parse::<u64>().map_err(|_| not_secs())? * 1000;
    let fraction_ms = format!("{fraction:0<3}")
        .parse::<u64>()
        .map_err(|_| not_secs())?;
    let total_ms = whole_ms + fraction_ms;
    if total_ms > DURATION_MAX_MS {
        return Err(too_long());
    }
    Ok(total_ms)
}

/// A whole number within `min..=max`.
pub fn parse_u32_in(raw: &str, min: u32, max: u32) -> Result<u32, String> {
    match raw.parse::<u32>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(format!("{raw:?} is not a whole number in {min}..={max}")),
    }
}

/// A finite decimal number (range checks are the caller's).
pub fn parse_number(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(value),
        _ => Err(format!("{raw:?} is not a number")),
    }
}

/// A TCP port, 1..=65535.
pub fn parse_port(raw: &str) -> Result<u16, String> {
    match raw.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("{raw:?} is not a port (1..=65535)")),
    }
}

/// One word: no spaces, at most 255 bytes (host names, ids, bridge names).
pub fn parse_word(raw: &str) -> Result<String, String> {
    if raw.len() > 255 || raw.chars().any(char::is_whitespace) {
        return Err(format!("{raw:?} is not a single word of at most 255 bytes"));
    }
    Ok(raw.to_string())
}

/// An absolute path.
pub fn parse_absolute_path(raw: &str) -> Result<PathBuf, String> {
    if !raw.starts_with('/') {
        return Err(format!("{raw:?} is not an absolute path"));
    }
    Ok(PathBuf::from(raw))
}

/// One path component that cannot climb out of its directory (storage domain ids).
pub fn parse_path_component(raw: &str) -> Result<String, String> {
    let ok = raw.len() <= 255
        && raw != "."
        && raw != ".."
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !ok {
        return Err(format!(
            "{raw:?} is not an id (letters, digits, '-', '_', '.')"
        ));
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_parse_exactly() {
        assert_eq!(parse_secs_ms("10"), Ok(10_000));
        assert_eq!(parse_secs_ms("0.5"), Ok(500));
        assert_eq!(parse_secs_ms("0.1"), Ok(100));
        assert_eq!(parse_secs_ms("1.25"), Ok(1_250));
        assert_eq!(parse_secs_ms("0.001"), Ok(1));
        assert_eq!(parse_secs_ms("0"), Ok(0));
        assert_eq!(parse_secs_ms("86400"), Ok(DURATION_MAX_MS));
    }

    #[test]
    fn seconds_refuse_garbage() {
        for raw in [
            "", "abc", "-1", "1.", ".5", "1.2.3", "1e3", " 1", "1s", "+1",
        ] {
            assert!(parse_secs_ms(raw).is_err(), "{raw:?} accepted");
        }
        assert_eq!(
            parse_secs_ms("0.0001").unwrap_err(),
            "\"0.0001\" is finer than a millisecond (at most 3 decimals)"
        );
        assert!(
            parse_secs_ms("86400.001")
                .unwrap_err()
                .contains("longer than 86400 seconds")
        );
        assert!(parse_secs_ms("99999999999999999999").is_err());
    }

    #[test]
    fn seconds_format_round_trips() {
        for ms in [
            0,
            1,
            10,
            100,
            500,
            1_000,
            1_250,
            10_000,
            600_000,
            DURATION_MAX_MS,
        ] {
            assert_eq!(parse_secs_ms(&format_secs(ms)), Ok(ms), "{ms}");
        }
        assert_eq!(format_secs(500), "0.5");
        assert_eq!(format_secs(10_000), "10");
        assert_eq!(format_secs(1_250), "1.25");
    }

    #[test]
    fn booleans_accept_common_spellings() {
        for raw in ["True", "true", "TRUE", "yes", "On", "1"] {
            assert_eq!(parse_bool(raw), Ok(true), "{raw}");
        }
        for raw in ["False", "false", "no", "OFF", "0"] {
            assert_eq!(parse_bool(raw), Ok(false), "{raw}");
        }
        assert!(parse_bool("maybe").is_err());
        assert_eq!(format_bool(true), "True");
        assert_eq!(format_bool(false), "False");
    }

    #[test]
    fn small_parsers_check_ranges() {
        assert_eq!(parse_port("25"), Ok(25));
        assert!(parse_port("0").is_err());
        assert!(parse_port("65536").is_err());
        assert_eq!(parse_u32_in("100", 0, 100), Ok(100));
        assert!(parse_u32_in("101", 0, 100).is_err());
        assert!(parse_u32_in("-1", 0, 100).is_err());
        assert!(parse_number("nan").is_err());
        assert_eq!(parse_number("0.4"), Ok(0.4));
        assert!(parse_path_component("..").is_err());
        assert!(parse_path_component("a/b").is_err());
        assert!(parse_absolute_path("relative").is_err());
        assert!(parse_word("two words").is_err());
    }
}
