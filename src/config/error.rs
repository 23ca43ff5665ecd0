//! Configuration errors: every one names the file, and where it can the line and the
//! key, so an operator can go straight to the mistake.

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong, for callers that react differently (e.g. a missing
/// `hosted-engine.conf` means "not deployed"). Not part of the printed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be read, locked or written.
    Io,
    /// The file does not exist and this kind of file is mandatory.
    NotFound,
    /// The file or one of its lines is larger than the limits allow.
    TooLarge,
    /// A line is neither blank, a comment, a `[section]` nor `key=value`.
    Syntax,
    /// A key is set twice in one section (or a section appears twice).
    Duplicate,
    /// A mandatory key is absent, or set to the empty value.
    Missing,
    /// One value cannot be parsed or is out of its range.
    Value,
    /// Several keys break a rule together; `keys` names all of them.
    Relation,
    /// Another user than root or the one running the program can change the
    /// file (or a directory above it): what it names is not to be run; or
    /// read it, while it holds a secret.
    Untrusted,
}

/// One configuration problem.
///
/// Displays as `<file>:<line>: <key>: <message>`, leaving out the parts that are
/// unknown, e.g.
/// `/etc/ovirt-hosted-engine/hosted-engine.conf:7: host_id: "abc" is not a host id (1..=2000)`.
/// A relation error has no single `key`; its message and `keys` name every key
/// involved, and `line` is the line of the first of them that the file sets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line number, when one line is to blame.
    pub line: Option<usize>,
    /// The key, when one key is to blame.
    pub key: Option<String>,
    /// Every key involved in a relation error (empty otherwise).
    pub keys: Vec<String>,
    /// The class of problem.
    pub kind: ErrorKind,
    /// Lowercase description, without the location.
    pub message: String,
}

impl ConfigError {
    /// An error about the whole file.
    pub fn new(kind: ErrorKind, file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            key: None,
            keys: Vec::new(),
            kind,
            message: message.into(),
        }
    }

    /// The same error, pinned to a line.
    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// The same error, naming one key.
    pub fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_string());
        self
    }

    /// A broken rule between several keys; `message` must name them all.
    pub fn relation(file: &Path, line: Option<usize>, keys: &[&str], message: String) -> Self {
        ConfigError {
            keys: keys.iter().map(|k| k.to_string()).collect(),
            ..ConfigError::new(ErrorKind::Relation, file, message).at_line(line)
        }
    }

    fn render(&self) -> String {
        let mut out = self.file.display().to_string();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        if let Some(key) = &self.key {
            out.push_str(": ");
            out.push_str(key);
        }
        out.push_str(": ");
        out.push_str(&self.message);
        out
    }
}

/// Every problem found in one or more files, in file order then line order.
///
/// Never empty when returned as an error. Displays one error per line so that an
/// operator fixes them all in one pass instead of one per restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    /// The problems as a slice.
    pub fn as_slice(&self) -> &[ConfigError] {
        &self.0
    }

    /// Whether any problem has this kind.
    pub fn has_kind(&self, kind: ErrorKind) -> bool {
        self.0.iter().any(|e| e.kind == kind)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_leaves_out_unknown_parts() {
        let path = Path::new("/etc/x.conf");
        let full = ConfigError::new(ErrorKind::Value, path, "bad")
            .at_line(Some(7))
            .with_key("host_id");
        assert_eq!(full.to_string(), "/etc/x.conf:7: host_id: bad");
        let no_line = ConfigError::new(ErrorKind::Missing, path, "missing").with_key("fqdn");
        assert_eq!(no_line.to_string(), "/etc/x.conf: fqdn: missing");
        let bare = ConfigError::new(ErrorKind::Io, path, "gone");
        assert_eq!(bare.to_string(), "/etc/x.conf: gone");
    }

    #[test]
    fn errors_display_one_per_line() {
        let path = Path::new("/a");
        let errors = ConfigErrors(vec![
            ConfigError::new(ErrorKind::Value, path, "one"),
            ConfigError::new(ErrorKind::Value, path, "two"),
        ]);
        assert_eq!(errors.to_string(), "/a: one\n/a: two");
    }
}
