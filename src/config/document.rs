//! An order-preserving `key=value` document shared by the four configuration files.
//!
//! The document keeps every line as it was read (comments, blank lines, section
//! headers, entries), so writing a file back after an edit changes only the edited
//! line: operators' comments and keys we do not know survive (reference:
//! `docs/compat.md` section 9; the reference rewrote `ha.conf` from a dict
//! and dropped comments: **fix**).
//!
//! Syntax:
//! - `Flat` (`hosted-engine.conf`, `ha.conf`): `key=value` lines and `#` comments.
//!   The first `=` splits; spaces around key and value are ignored. Keys are
//!   case-sensitive (`sdUUID`, `domainType`).
//! - `Ini` (`agent.conf`, `broker.conf`): the same, grouped under `[section]`
//!   headers; `;` also starts a comment. Keys compare case-insensitively, as Python's
//!   `ConfigParser` (which the reference uses) lowercases them; section names are
//!   case-sensitive, as there.
//!
//! Deliberate differences from the reference: a line that is not blank, a comment, a
//! header or `key=value` is an error (the reference skips it silently), and so is a
//! key set twice. Inline comments are not stripped (`key=a # b` has the value
//! `a # b`), as in both reference parsers. CRLF line ends are read; LF is written.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, ErrorKind};

/// Largest configuration file read, checked before reading it whole.
pub const FILE_SIZE_MAX_BYTES: usize = 1 << 20;
/// Longest line accepted, without its line end.
pub const LINE_LENGTH_MAX_BYTES: usize = 4096;
/// The section name of every entry in a flat file.
pub const FLAT_SECTION: &str = "";

/// How a file groups its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// `key=value` lines, no sections.
    Flat,
    /// `[section]` headers, then `key=value` lines.
    Ini,
}

/// One entry as seen by a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// Section name (`""` in a flat file).
    pub section: &'a str,
    /// The key as written in the file.
    pub key: &'a str,
    /// The value, without surrounding spaces.
    pub value: &'a str,
    /// 1-based line number; `None` for an entry added since the file was read.
    pub line: Option<usize>,
}

#[derive(Clone, PartialEq, Eq)]
enum Line {
    /// Blank line or comment, kept byte for byte.
    Other(String),
    Section {
        name: String,
        raw: String,
        /// 1-based line number; `None` for a section added since the file was read.
        line: Option<usize>,
    },
    Entry(Entry),
}

#[derive(Clone, PartialEq, Eq)]
struct Entry {
    section: String,
    key: String,
    value: String,
    /// Everything before the value (`key = `), so an edit keeps the line's style.
    prefix: String,
    /// The line as read, while its value is unchanged.
    raw: Option<String>,
    line: Option<usize>,
}

/// An ordered configuration document: see the module documentation.
#[derive(Clone, PartialEq, Eq)]
pub struct KvDocument {
    path: PathBuf,
    syntax: Syntax,
    lines: Vec<Line>,
}

// Values can be secrets (`smtp-password`), so the document never prints its lines.
impl fmt::Debug for KvDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KvDocument")
            .field("path", &self.path)
            .field("syntax", &self.syntax)
            .field("lines", &self.lines.len())
            .finish()
    }
}

impl KvDocument {
    /// An empty document for `path` (what a missing optional file reads as).
    pub fn new(path: impl Into<PathBuf>, syntax: Syntax) -> Self {
        KvDocument {
            path: path.into(),
            syntax,
            lines: Vec::new(),
        }
    }

    /// Parses file contents; `path` is only used in error messages.
    pub fn parse_bytes(path: &Path, syntax: Syntax, bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.len() > FILE_SIZE_MAX_BYTES {
            return Err(ConfigError::new(
                ErrorKind::TooLarge,
                path,
                format!("file is larger than {FILE_SIZE_MAX_BYTES} bytes"),
            ));
        }
        let mut parser = Parser {
            doc: KvDocument::new(path, syntax),
            section: None,
            seen_keys: BTreeMap::new(),
            seen_sections: BTreeMap::new(),
        };
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        if !bytes.is_empty() {
            for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
                parser.line(index + 1, raw)?;
            }
        }
        Ok(parser.doc)
    }

    /// Parses text; see [`KvDocument::parse_bytes`].
    pub fn parse(path: &Path, syntax: Syntax, text: &str) -> Result<Self, ConfigError> {
        Self::parse_bytes(path, syntax, text.as_bytes())
    }

    /// The file this document belongs to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flat or INI.
    pub fn syntax(&self) -> Syntax {
        self.syntax
    }

    /// The value of `key` in `section` (`""` for flat files).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.find(section, key).map(|e| e.value.as_str())
    }

    /// The 1-based line of `key` in `section`, if it was read from the file.
    pub fn line_of(&self, section: &str, key: &str) -> Option<usize> {
        self.find(section, key).and_then(|e| e.line)
    }

    /// Whether the document has a `[section]` header (always true for `""` in a flat
    /// file).
    pub fn has_section(&self, section: &str) -> bool {
        if self.syntax == Syntax::Flat {
            return section == FLAT_SECTION;
        }
        self.lines
            .iter()
            .any(|l| matches!(l, Line::Section { name, .. } if name == section))
    }

    /// Every `[section]` header, in file order, with its 1-based line (`None`
    /// for one added since the file was read); none in a flat file.
    pub fn sections(&self) -> impl Iterator<Item = (&str, Option<usize>)> {
        self.lines.iter().filter_map(|line| match line {
            Line::Section { name, line, .. } => Some((name.as_str(), *line)),
            _ => None,
        })
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> impl Iterator<Item = EntryRef<'_>> {
        self.lines.iter().filter_map(|line| match line {
            Line::Entry(e) => Some(EntryRef {
                section: &e.section,
                key: &e.key,
                value: &e.value,
                line: e.line,
            }),
            _ => None,
        })
    }

    /// Sets `key` in `section`: in place when present (keeping the line's spacing),
    /// otherwise after the section's last entry, creating the section at the end of
    /// the file when needed. Refuses keys and values that would not read back as the
    /// same single entry.
    pub fn set(&mut self, section: &str, key: &str, value: &str) -> Result<(), ConfigError> {
        self.check_section_arg(section);
        self.check_entry(section, key, value)?;
        let syntax = self.syntax;
        let path = self.path.clone();
        if let Some(entry) = self.find_mut(section, key) {
            // The kept prefix may be longer than `key=` (spaces around '=').
            if entry.prefix.len() + value.len() > LINE_LENGTH_MAX_BYTES {
                let message = format!("line would be longer than {LINE_LENGTH_MAX_BYTES} bytes");
                return Err(ConfigError::new(ErrorKind::Value, &path, message).with_key(key));
            }
            if entry.value != value {
                entry.value = value.to_string();
                entry.raw = None;
            }
            return Ok(());
        }
        let entry = Line::Entry(Entry {
            section: section.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            prefix: format!("{key}="),
            raw: None,
            line: None,
        });
        match self.insertion_index(section) {
            Some(index) => self.lines.insert(index, entry),
            None => {
                debug_assert_eq!(syntax, Syntax::Ini);
                if self.lines.last().is_some_and(|l| !is_blank(l)) {
                    self.lines.push(Line::Other(String::new()));
                }
                self.lines.push(Line::Section {
                    name: section.to_string(),
                    raw: format!("[{section}]"),
                    line: None,
                });
                self.lines.push(entry);
            }
        }
        Ok(())
    }

    /// Removes `key` from `section`; returns whether it was there.
    pub fn remove(&mut self, section: &str, key: &str) -> bool {
        self.check_section_arg(section);
        let syntax = self.syntax;
        let before = self.lines.len();
        self.lines.retain(|line| match line {
            Line::Entry(e) => !(e.section == section && key_eq(syntax, &e.key, key)),
            _ => true,
        });
        self.lines.len() != before
    }

    /// The file's text: unchanged lines byte for byte, every line ending in `\n`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Other(raw) | Line::Section { raw, .. } => out.push_str(raw),
                Line::Entry(e) => match &e.raw {
                    Some(raw) => out.push_str(raw),
                    None => {
                        out.push_str(&e.prefix);
                        out.push_str(&e.value);
                    }
                },
            }
            out.push('\n');
        }
        out
    }

    fn find(&self, section: &str, key: &str) -> Option<&Entry> {
        self.lines.iter().find_map(|line| match line {
            Line::Entry(e) if e.section == section && key_eq(self.syntax, &e.key, key) => Some(e),
            _ => None,
        })
    }

    fn find_mut(&mut self, section: &str, key: &str) -> Option<&mut Entry> {
        let syntax = self.syntax;
        self.lines.iter_mut().find_map(|line| match line {
            Line::Entry(e) if e.section == section && key_eq(syntax, &e.key, key) => Some(e),
            _ => None,
        })
    }

    /// Where a new entry of `section` goes: after its last entry, or right after its
    /// header; `None` when the section does not exist yet.
    fn insertion_index(&self, section: &str) -> Option<usize> {
        if self.syntax == Syntax::Flat {
            let last = self.lines.iter().rposition(|l| matches!(l, Line::Entry(_)));
            return Some(last.map_or(self.lines.len(), |i| i + 1));
        }
        let header = self
            .lines
            .iter()
            .position(|l| matches!(l, Line::Section { name, .. } if name == section))?;
        let mut index = header + 1;
        for (i, line) in self.lines.iter().enumerate().skip(header + 1) {
            match line {
                Line::Section { .. } => break,
                Line::Entry(_) => index = i + 1,
                Line::Other(_) => {}
            }
        }
        Some(index)
    }

    // A section argument that does not fit the syntax is a programmer error.
    fn check_section_arg(&self, section: &str) {
        match self.syntax {
            Syntax::Flat => assert_eq!(section, FLAT_SECTION, "flat files have no sections"),
            Syntax::Ini => assert!(!section.is_empty(), "ini entries need a section"),
        }
    }

    fn check_entry(&self, section: &str, key: &str, value: &str) -> Result<(), ConfigError> {
        let fail = |message: String| {
            Err(ConfigError::new(ErrorKind::Value, &self.path, message).with_key(key))
        };
        if let Err(message) = check_key(key) {
            return fail(message);
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return fail("value contains a line break or control character".into());
        }
        if value.trim() != value {
            return fail("value has leading or trailing spaces".into());
        }
        if section.contains([']', '[']) || section.chars().any(char::is_control) {
            return fail(format!("{section:?} is not a section name"));
        }
        if key.len() + 1 + value.len() > LINE_LENGTH_MAX_BYTES {
            return fail(format!(
                "line would be longer than {LINE_LENGTH_MAX_BYTES} bytes"
            ));
        }
        Ok(())
    }
}

fn is_blank(line: &Line) -> bool {
    matches!(line, Line::Other(raw) if raw.trim().is_empty())
}

fn key_eq(syntax: Syntax, a: &str, b: &str) -> bool {
    match syntax {
        Syntax::Flat => a == b,
        Syntax::Ini => a.eq_ignore_ascii_case(b),
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("missing key before '='".into());
    }
    if key
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '=')
    {
        return Err(format!("{key:?} is not a key (no spaces or '=' allowed)"));
    }
    if key.starts_with(['#', ';', '[']) {
        return Err(format!(
            "{key:?} is not a key (starts like a comment or section)"
        ));
    }
    Ok(())
}

/// Splits `section.key` the way the reference's `--set-shared-config` names INI keys;
/// a name without a dot is in section `default`, as there.
pub fn split_dotted_key(name: &str) -> (&str, &str) {
    name.split_once('.').unwrap_or(("default", name))
}

struct Parser {
    doc: KvDocument,
    /// The current `[section]`; always `Some("")` semantics for flat files.
    section: Option<String>,
    /// (section, normalized key) -> first line, to name both lines of a duplicate.
    seen_keys: BTreeMap<(String, String), usize>,
    seen_sections: BTreeMap<String, usize>,
}

impl Parser {
    fn line(&mut self, number: usize, raw: &[u8]) -> Result<(), ConfigError> {
        let path = self.doc.path.clone();
        let fail = |kind, message: String| {
            Err(ConfigError::new(kind, &path, message).at_line(Some(number)))
        };
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > LINE_LENGTH_MAX_BYTES {
            return fail(
                ErrorKind::TooLarge,
                format!("line is longer than {LINE_LENGTH_MAX_BYTES} bytes"),
            );
        }
        let Ok(text) = std::str::from_utf8(raw) else {
            return fail(ErrorKind::Syntax, "line is not valid utf-8".into());
        };
        if text.chars().any(|c| c.is_control() && c != '\t') {
            return fail(
                ErrorKind::Syntax,
                "line contains a control character".into(),
            );
        }
        let trimmed = text.trim();
        let ini = self.doc.syntax == Syntax::Ini;
        if trimmed.is_empty() || trimmed.starts_with('#') || (ini && trimmed.starts_with(';')) {
            self.doc.lines.push(Line::Other(text.to_string()));
            return Ok(());
        }
        if trimmed.starts_with('[') {
            return self.section_header(number, text, trimmed);
        }
        self.entry(number, text)
    }

    fn section_header(
        &mut self,
        number: usize,
        text: &str,
        trimmed: &str,
    ) -> Result<(), ConfigError> {
        let path = self.doc.path.clone();
        let fail = |kind, message: String| {
            Err(ConfigError::new(kind, &path, message).at_line(Some(number)))
        };
        if self.doc.syntax == Syntax::Flat {
            return fail(
                ErrorKind::Syntax,
                "this file has no [sections]; expected key=value".into(),
            );
        }
        let name = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .map(str::trim);
        let Some(name) = name.filter(|n| !n.is_empty() && !n.contains(['[', ']'])) else {
            return fail(
                ErrorKind::Syntax,
                format!("{trimmed:?} is not a [section] header"),
            );
        };
        if let Some(first) = self.seen_sections.get(name) {
            return fail(
                ErrorKind::Duplicate,
                format!("section [{name}] appears twice (first on line {first})"),
            );
        }
        self.seen_sections.insert(name.to_string(), number);
        self.section = Some(name.to_string());
        self.doc.lines.push(Line::Section {
            name: name.to_string(),
            raw: text.to_string(),
            line: Some(number),
        });
        Ok(())
    }

    fn entry(&mut self, number: usize, text: &str) -> Result<(), ConfigError> {
        let path = self.doc.path.clone();
        let fail = |kind, message: String| {
            Err(ConfigError::new(kind, &path, message).at_line(Some(number)))
        };
        let Some((left, right)) = text.split_once('=') else {
            return fail(
                ErrorKind::Syntax,
                format!("expected key=value, found {:?}", text.trim()),
            );
        };
        let key = left.trim();
        if let Err(message) = check_key(key) {
            return fail(ErrorKind::Syntax, message);
        }
        let section = match (self.doc.syntax, &self.section) {
            (Syntax::Flat, _) => FLAT_SECTION.to_string(),
            (Syntax::Ini, Some(section)) => section.clone(),
            (Syntax::Ini, None) => {
                return Err(ConfigError::new(
                    ErrorKind::Syntax,
                    &path,
                    "key=value before any [section]",
                )
                .at_line(Some(number))
                .with_key(key));
            }
        };
        let normalized = match self.doc.syntax {
            Syntax::Flat => key.to_string(),
            Syntax::Ini => key.to_ascii_lowercase(),
        };
        if let Some(first) = self.seen_keys.get(&(section.clone(), normalized.clone())) {
            return Err(ConfigError::new(
                ErrorKind::Duplicate,
                &path,
                format!("key set twice (first on line {first}, again on line {number})"),
            )
            .at_line(Some(number))
            .with_key(key));
        }
        self.seen_keys.insert((section.clone(), normalized), number);
        let value = right.trim();
        let value_start = text.len() - right.trim_start().len();
        self.doc.lines.push(Line::Entry(Entry {
            section,
            key: key.to_string(),
            value: value.to_string(),
            prefix: text[..value_start].to_string(),
            raw: Some(text.to_string()),
            line: Some(number),
        }));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(text: &str) -> KvDocument {
        KvDocument::parse(Path::new("/t/flat.conf"), Syntax::Flat, text).unwrap()
    }

    fn ini(text: &str) -> KvDocument {
        KvDocument::parse(Path::new("/t/ini.conf"), Syntax::Ini, text).unwrap()
    }

    #[test]
    fn flat_get_and_line_numbers() {
        let doc = flat("# comment\n\nfqdn = engine.example.com\nhost_id=1\nempty=\n");
        assert_eq!(doc.get("", "fqdn"), Some("engine.example.com"));
        assert_eq!(doc.line_of("", "fqdn"), Some(3));
        assert_eq!(doc.get("", "host_id"), Some("1"));
        assert_eq!(doc.line_of("", "host_id"), Some(4));
        assert_eq!(doc.get("", "empty"), Some(""));
        assert_eq!(doc.get("", "HOST_ID"), None, "flat keys are case-sensitive");
        assert_eq!(doc.entries().count(), 3);
    }

    #[test]
    fn render_is_byte_identical_when_unchanged() {
        let text = "# keep me\n  spaced  =  value  \n\nkey=a=b\n";
        assert_eq!(flat(text).render(), text);
        let text = "; ini comment\n[score]\nbase-score = 3400\n\n[other]\nx=y:z\n";
        assert_eq!(ini(text).render(), text);
    }

    #[test]
    fn value_splits_at_first_equals() {
        assert_eq!(flat("key=a=b\n").get("", "key"), Some("a=b"));
        assert_eq!(flat("key=a # b\n").get("", "key"), Some("a # b"));
    }

    #[test]
    fn set_updates_in_place_keeping_style() {
        let mut doc = flat("# c\nhost_id = 1\nfqdn=e\n");
        doc.set("", "host_id", "2").unwrap();
        assert_eq!(doc.render(), "# c\nhost_id = 2\nfqdn=e\n");
        assert_eq!(doc.line_of("", "host_id"), Some(2));
    }

    #[test]
    fn set_appends_after_last_entry_in_flat_file() {
        let mut doc = flat("a=1\n# trailing comment\n");
        doc.set("", "b", "2").unwrap();
        assert_eq!(doc.render(), "a=1\nb=2\n# trailing comment\n");
        let mut empty = KvDocument::new("/t/x", Syntax::Flat);
        empty.set("", "k", "v").unwrap();
        assert_eq!(empty.render(), "k=v\n");
        assert_eq!(empty.line_of("", "k"), None);
    }

    #[test]
    fn set_appends_into_existing_and_new_sections() {
        let mut doc = ini("[score]\na=1\n\n# about timing\n[timing]\nb=2\n");
        doc.set("score", "c", "3").unwrap();
        doc.set("timing", "d", "4").unwrap();
        doc.set("recovery", "e", "5").unwrap();
        assert_eq!(
            doc.render(),
            "[score]\na=1\nc=3\n\n# about timing\n[timing]\nb=2\nd=4\n\n[recovery]\ne=5\n"
        );
        let mut empty_section = ini("[score]\n[timing]\n");
        empty_section.set("score", "x", "1").unwrap();
        assert_eq!(empty_section.render(), "[score]\nx=1\n[timing]\n");
    }

    #[test]
    fn sections_are_listed_with_their_lines() {
        let mut doc = ini("# c\n[score]\na=1\n\n[host 2]\n");
        doc.set("new", "k", "v").unwrap();
        let sections: Vec<_> = doc.sections().collect();
        assert_eq!(
            sections,
            vec![("score", Some(2)), ("host 2", Some(5)), ("new", None)]
        );
        assert_eq!(flat("a=1\n").sections().count(), 0);
    }

    #[test]
    fn ini_keys_compare_case_insensitively() {
        let mut doc = ini("[email]\nSMTP-Server = mail\n");
        assert_eq!(doc.get("email", "smtp-server"), Some("mail"));
        assert_eq!(
            doc.get("EMAIL", "smtp-server"),
            None,
            "sections are case-sensitive"
        );
        doc.set("email", "smtp-server", "relay").unwrap();
        assert_eq!(doc.render(), "[email]\nSMTP-Server = relay\n");
    }

    #[test]
    fn remove_drops_only_that_entry() {
        let mut doc = flat("a=1\n# c\nb=2\n");
        assert!(doc.remove("", "a"));
        assert!(!doc.remove("", "a"));
        assert_eq!(doc.render(), "# c\nb=2\n");
    }

    #[test]
    fn set_refuses_values_that_would_not_read_back() {
        let mut doc = flat("");
        for (key, value) in [
            ("k", "a\nb=c"),
            ("k", " padded"),
            ("", "v"),
            ("a b", "v"),
            ("#k", "v"),
        ] {
            let error = doc.set("", key, value).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Value, "{key:?}={value:?}");
        }
        let long = "x".repeat(LINE_LENGTH_MAX_BYTES);
        assert_eq!(doc.set("", "k", &long).unwrap_err().kind, ErrorKind::Value);
        assert_eq!(doc.render(), "");
        let mut spaced = flat("k    =    v\n");
        let fits_only_without_spaces = "x".repeat(LINE_LENGTH_MAX_BYTES - 2);
        assert_eq!(
            spaced
                .set("", "k", &fits_only_without_spaces)
                .unwrap_err()
                .kind,
            ErrorKind::Value
        );
        assert_eq!(spaced.render(), "k    =    v\n");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let path = Path::new("/t/bad.conf");
        let error = KvDocument::parse(path, Syntax::Flat, "a=1\nnot a pair\n").unwrap_err();
        assert_eq!(error.kind, ErrorKind::Syntax);
        assert_eq!(error.line, Some(2));
        assert!(error.to_string().starts_with("/t/bad.conf:2: "), "{error}");
        let error = KvDocument::parse(path, Syntax::Flat, "[section]\n").unwrap_err();
        assert_eq!((error.kind, error.line), (ErrorKind::Syntax, Some(1)));
        let error = KvDocument::parse(path, Syntax::Ini, "a=1\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/t/bad.conf:1: a: key=value before any [section]"
        );
        let error = KvDocument::parse(path, Syntax::Ini, "[s\n").unwrap_err();
        assert_eq!((error.kind, error.line), (ErrorKind::Syntax, Some(1)));
        let error = KvDocument::parse(path, Syntax::Flat, " =1\n").unwrap_err();
        assert_eq!(error.to_string(), "/t/bad.conf:1: missing key before '='");
    }

    #[test]
    fn duplicates_name_both_lines() {
        let path = Path::new("/t/dup.conf");
        let error = KvDocument::parse(path, Syntax::Flat, "a=1\nb=2\na=3\n").unwrap_err();
        assert_eq!(error.kind, ErrorKind::Duplicate);
        assert_eq!(
            error.to_string(),
            "/t/dup.conf:3: a: key set twice (first on line 1, again on line 3)"
        );
        let error = KvDocument::parse(path, Syntax::Ini, "[s]\nA=1\na=2\n").unwrap_err();
        assert_eq!((error.kind, error.line), (ErrorKind::Duplicate, Some(3)));
        let ok = KvDocument::parse(path, Syntax::Ini, "[s]\na=1\n[t]\na=2\n").unwrap();
        assert_eq!(ok.get("t", "a"), Some("2"));
        let error = KvDocument::parse(path, Syntax::Ini, "[s]\n[t]\n[s]\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "/t/dup.conf:3: section [s] appears twice (first on line 1)"
        );
    }

    #[test]
    fn limits_are_enforced() {
        let path = Path::new("/t/big.conf");
        let big = vec![b'#'; FILE_SIZE_MAX_BYTES + 1];
        let error = KvDocument::parse_bytes(path, Syntax::Flat, &big).unwrap_err();
        assert_eq!((error.kind, error.line), (ErrorKind::TooLarge, None));
        let long_line = format!("a=1\nk={}\n", "v".repeat(LINE_LENGTH_MAX_BYTES));
        let error = KvDocument::parse(path, Syntax::Flat, &long_line).unwrap_err();
        assert_eq!((error.kind, error.line), (ErrorKind::TooLarge, Some(2)));
        let exact = format!("k={}\n", "v".repeat(LINE_LENGTH_MAX_BYTES - 2));
        assert!(KvDocument::parse(path, Syntax::Flat, &exact).is_ok());
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        let path = Path::new("/t/bin.conf");
        let error = KvDocument::parse_bytes(path, Syntax::Flat, b"a=1\nb=\xff\n").unwrap_err();
        assert_eq!((error.kind, error.line), (ErrorKind::Syntax, Some(2)));
        let error = KvDocument::parse_bytes(path, Syntax::Flat, b"a=\x00\n").unwrap_err();
        assert_eq!((error.kind, error.line), (ErrorKind::Syntax, Some(1)));
    }

    #[test]
    fn crlf_and_missing_final_newline_are_read() {
        let doc = flat("a=1\r\nb=2");
        assert_eq!(doc.get("", "a"), Some("1"));
        assert_eq!(doc.get("", "b"), Some("2"));
        assert_eq!(doc.render(), "a=1\nb=2\n");
        assert_eq!(flat("").render(), "");
        assert_eq!(flat("\n").render(), "\n");
    }

    #[test]
    fn dotted_keys_split_like_the_reference() {
        assert_eq!(
            split_dotted_key("email.smtp-server"),
            ("email", "smtp-server")
        );
        assert_eq!(split_dotted_key("plain"), ("default", "plain"));
    }

    #[test]
    fn debug_does_not_print_values() {
        let doc = ini("[email]\nsmtp-password=hunter2\n");
        assert!(!format!("{doc:?}").contains("hunter2"));
    }
}
