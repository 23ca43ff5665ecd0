//! The daemon's log: `tracing` events written one line per event on stderr.
//!
//! - Under journald (stderr is the stream named by `JOURNAL_STREAM`), each line
//!   starts with its syslog priority, `<4>storage failure: ...`, which journald
//!   strips and keeps as the entry's priority (sd-daemon(3)).
//! - Otherwise each line starts with a UTC time stamp in `ctime` form,
//!   `Mon Mar  6 21:29:16 2023 storage failure: ...`.
//!
//! A message never spans lines: line breaks inside it are written as `\n`, so a
//! reader (journald, `grep`, the tests) sees exactly one line per event. Fields
//! other than the message follow it as ` key=value`.
//!
//! The level comes from [`LOG_LEVEL_VAR`] (`HE_LOG=debug`), default `info`.
//! Priorities: ERROR 3, WARN 4, INFO 6 (5, notice, for state transitions, which
//! use [`TRANSITION_TARGET`]), DEBUG and TRACE 7.

use std::fmt::{self, Write as _};
use std::io;
use std::os::unix::fs::MetadataExt;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;

/// The environment variable that sets the daemon's log level.
pub const LOG_LEVEL_VAR: &str = "HE_LOG";
/// The level when [`LOG_LEVEL_VAR`] is unset or empty.
pub const LOG_LEVEL_DEFAULT: LevelFilter = LevelFilter::INFO;
/// The target of state transition events (`EngineUp -> EngineStop: reason`):
/// priority notice (5) at level INFO.
pub const TRANSITION_TARGET: &str = "ovirt_ha_agent::transition";
/// Longest line written (the rest is cut and marked): journald's own line limit
/// is 48 KiB, and no event of ours comes near this.
pub const LINE_BYTES_MAX: usize = 16 * 1024;

/// How lines start: a priority for journald, a time stamp for anyone else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineStyle {
    Journald,
    Timestamped,
}

impl LineStyle {
    /// [`LineStyle::Journald`] when `JOURNAL_STREAM` names the file that stderr
    /// is (its `device:inode`, as systemd.exec(5) advises to check), so that a
    /// program started from a service's shell with stderr redirected elsewhere
    /// still writes time stamps.
    pub fn detect() -> LineStyle {
        let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
            return LineStyle::Timestamped;
        };
        let stderr = std::fs::metadata("/proc/self/fd/2");
        match (value.to_str().and_then(parse_journal_stream), stderr) {
            (Some((dev, ino)), Ok(meta)) if meta.dev() == dev && meta.ino() == ino => {
                LineStyle::Journald
            }
            _ => LineStyle::Timestamped,
        }
    }
}

/// `JOURNAL_STREAM`'s `device:inode`, both decimal.
pub fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// The level [`LOG_LEVEL_VAR`] asks for: `off`, `error`, `warn`, `info`,
/// `debug` or `trace` (any case); unset or empty means [`LOG_LEVEL_DEFAULT`].
pub fn level_from(value: Option<&str>) -> Result<LevelFilter, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(LOG_LEVEL_DEFAULT),
        Some(raw) => {
            let known = ["off", "error", "warn", "info", "debug", "trace"];
            let lower = raw.to_ascii_lowercase();
            if !known.contains(&lower.as_str()) {
                return Err(format!(
                    "{LOG_LEVEL_VAR}: {raw:?} is not a log level ({})",
                    known.join(", ")
                ));
            }
            lower.parse().map_err(|e| format!("{LOG_LEVEL_VAR}: {e}"))
        }
    }
}

/// The syslog priority of an event.
pub fn priority(level: &Level, target: &str) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO if target == TRANSITION_TARGET => 5,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Installs the daemon's subscriber: level from [`LOG_LEVEL_VAR`], lines on
/// stderr in the [`LineStyle::detect`]ed style. Returns the level. A second
/// call keeps the first subscriber.
pub fn init_logging() -> Result<LevelFilter, String> {
    let level = level_from(std::env::var(LOG_LEVEL_VAR).ok().as_deref())?;
    // Err only when a subscriber is already installed: keep that one.
    let _ =
        tracing::subscriber::set_global_default(subscriber(LineStyle::detect(), level, io::stderr));
    Ok(level)
}

/// A subscriber writing [`LineFormat`] lines at `level` and above to `writer`.
pub fn subscriber<W>(style: LineStyle, level: LevelFilter, writer: W) -> impl Subscriber
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .event_format(LineFormat { style })
        .with_writer(writer)
        .finish()
}

/// Formats one event as one line (see the module's doc).
#[derive(Clone, Copy, Debug)]
pub struct LineFormat {
    pub style: LineStyle,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = LineFields::default();
        event.record(&mut fields);
        match self.style {
            LineStyle::Journald => write!(writer, "<{}>", priority(meta.level(), meta.target()))?,
            LineStyle::Timestamped => {
                let unix = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                write!(writer, "{} ", crate::metadata::ctime(unix, 0))?;
            }
        }
        writeln!(writer, "{}", fields.line)
    }
}

/// Collects an event's message and fields into one escaped line.
#[derive(Default)]
struct LineFields {
    line: String,
    /// `line` reached [`LINE_BYTES_MAX`] and was cut.
    cut: bool,
}

impl LineFields {
    fn push(&mut self, text: &str) {
        for c in text.chars() {
            if self.line.len() >= LINE_BYTES_MAX {
                if !self.cut {
                    self.line.push_str(" [cut]");
                    self.cut = true;
                }
                return;
            }
            match c {
                '\n' => self.line.push_str("\\n"),
                '\r' => self.line.push_str("\\r"),
                c if c.is_control() && c != '\t' => {
                    let _ = write!(self.line, "\\u{{{:x}}}", u32::from(c));
                }
                c => self.line.push(c),
            }
        }
    }

    fn field(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            // The message comes first whatever the order of the macro's fields.
            let rest = std::mem::take(&mut self.line);
            self.push(value);
            self.line.push_str(&rest);
        } else {
            let name = field.name();
            self.push(&format!(" {name}={value}"));
        }
    }
}

impl Visit for LineFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, &format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer, for reading what a subscriber wrote.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    fn logged(style: LineStyle, level: LevelFilter, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        tracing::subscriber::with_default(subscriber(style, level, buffer.clone()), emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn journald_lines_carry_the_priority_and_stay_one_line() {
        let text = logged(LineStyle::Journald, LevelFilter::INFO, || {
            tracing::info!(target: TRANSITION_TARGET, "EngineUp -> EngineStop: why");
            tracing::warn!(host_id = 3, "storage failure: a\nb");
            tracing::info!("claiming the engine VM lease (epoch 2)");
            tracing::error!("broken");
            tracing::debug!("not at info");
        });
        assert_eq!(
            text,
            "<5>EngineUp -> EngineStop: why\n\
             <4>storage failure: a\\nb host_id=3\n\
             <6>claiming the engine VM lease (epoch 2)\n\
             <3>broken\n"
        );
    }

    #[test]
    fn without_journald_lines_start_with_a_utc_time_stamp() {
        let text = logged(LineStyle::Timestamped, LevelFilter::DEBUG, || {
            tracing::debug!("loop done");
        });
        let (stamp, message) = text.split_at(24);
        // `Mon Mar  6 21:29:16 2023`
        let parts: Vec<&str> = stamp.split_whitespace().collect();
        assert_eq!(parts.len(), 5, "{text:?}");
        assert!(parts[4].parse::<u32>().unwrap() >= 2024, "{text:?}");
        assert_eq!(message, " loop done\n");
    }

    #[test]
    fn the_level_filters_events() {
        let text = logged(LineStyle::Journald, LevelFilter::WARN, || {
            tracing::info!("hidden");
            tracing::warn!("shown");
        });
        assert_eq!(text, "<4>shown\n");
        let text = logged(LineStyle::Journald, LevelFilter::DEBUG, || {
            tracing::debug!("shown");
        });
        assert_eq!(text, "<7>shown\n");
    }

    #[test]
    fn long_and_odd_messages_stay_one_bounded_line() {
        let long = "x".repeat(3 * LINE_BYTES_MAX);
        let text = logged(LineStyle::Journald, LevelFilter::INFO, || {
            tracing::info!("{long}");
            tracing::info!("a\r\u{1b}[31mb\tc");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].len() < LINE_BYTES_MAX + 16 && lines[0].ends_with(" [cut]"));
        assert_eq!(lines[1], "<6>a\\r\\u{1b}[31mb\tc");
    }

    #[test]
    fn levels_parse_from_the_environment_value() {
        assert_eq!(level_from(None), Ok(LevelFilter::INFO));
        assert_eq!(level_from(Some("")), Ok(LevelFilter::INFO));
        assert_eq!(level_from(Some("debug")), Ok(LevelFilter::DEBUG));
        assert_eq!(level_from(Some("WARN")), Ok(LevelFilter::WARN));
        assert_eq!(level_from(Some("off")), Ok(LevelFilter::OFF));
        let err = level_from(Some("loud")).unwrap_err();
        assert!(
            err.starts_with("HE_LOG: \"loud\" is not a log level"),
            "{err}"
        );
        // Numbers and per-target directives are not levels here.
        assert!(level_from(Some("3")).is_err());
    }

    #[test]
    fn journal_stream_values() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("1"), None);
        assert_eq!(parse_journal_stream("a:b"), None);
    }
}
