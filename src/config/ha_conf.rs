//! `ha.conf`: this host's local maintenance flags (`docs/compat.md`
//! sections 6 and 9). Written by the `hosted-engine` command and read by the agent,
//! possibly at the same moment, so every update is a locked, atomic
//! read-modify-write.

use std::path::Path;

use super::ConfFile;
use super::document::{FLAT_SECTION, KvDocument, Syntax};
use super::error::{ConfigError, ConfigErrors};
use super::fsio::locked_edit;
use super::values::{Fields, format_bool, parse_bool};

/// Key of the local maintenance flag.
pub const LOCAL_MAINTENANCE: &str = "local_maintenance";
/// Key of "local maintenance was asked for by an operator" (not by the engine).
pub const LOCAL_MAINTENANCE_MANUAL: &str = "local_maintenance_manual";

/// The parsed `ha.conf`. A missing file means both flags are off.
///
/// The flags are plain fields: inside [`HaConf::update`] change them directly; the
/// update writes them back (as `True`/`False`, the reference's spelling) together
/// with every other line of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaConf {
    /// `local_maintenance`.
    pub local_maintenance: bool,
    /// `local_maintenance_manual`.
    pub local_maintenance_manual: bool,
    doc: KvDocument,
}

impl ConfFile for HaConf {
    const SYNTAX: Syntax = Syntax::Flat;
    const REQUIRED: bool = false;

    fn from_document(doc: KvDocument) -> Result<Self, ConfigErrors> {
        let mut f = Fields::new(&doc);
        let local_maintenance = f.or(FLAT_SECTION, LOCAL_MAINTENANCE, false, parse_bool);
        let local_maintenance_manual =
            f.or(FLAT_SECTION, LOCAL_MAINTENANCE_MANUAL, false, parse_bool);
        f.finish()?;
        Ok(HaConf {
            local_maintenance,
            local_maintenance_manual,
            doc,
        })
    }

    fn document(&self) -> &KvDocument {
        &self.doc
    }

    fn known_keys() -> Vec<(&'static str, &'static str)> {
        vec![
            (FLAT_SECTION, LOCAL_MAINTENANCE),
            (FLAT_SECTION, LOCAL_MAINTENANCE_MANUAL),
        ]
    }

    fn validate(&self) -> Result<(), ConfigErrors> {
        // Two independent booleans: no relation to break.
        Ok(())
    }
}

impl HaConf {
    /// Read-modify-write of `path` under an exclusive `flock` on `<path>.lock`:
    /// reads the file (missing = defaults), lets `change` edit it, writes the result
    /// through a synced temporary file renamed over the original (only if something
    /// changed). Concurrent updaters, threads or processes, never lose each other's
    /// changes, and readers never see a half-written file.
    pub fn update<R>(
        path: &Path,
        change: impl FnOnce(&mut HaConf) -> R,
    ) -> Result<R, ConfigErrors> {
        locked_edit(path, Self::SYNTAX, Self::REQUIRED, 0o644, |doc| {
            let mut conf = HaConf::from_document(doc.clone())?;
            let result = change(&mut conf);
            conf.store_flags()?;
            *doc = conf.doc;
            Ok(result)
        })
    }

    /// Any key's raw value, including keys this type does not interpret.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.doc.get(FLAT_SECTION, key)
    }

    /// Sets any key from text (as `--set-shared-config <key> <value> --type=ha`
    /// does); the flags are re-read from the result, so a bad boolean is refused.
    pub fn set_raw(&mut self, key: &str, value: &str) -> Result<(), ConfigErrors> {
        self.store_flags()?;
        let mut doc = self.doc.clone();
        doc.set(FLAT_SECTION, key, value)?;
        *self = HaConf::from_document(doc)?;
        Ok(())
    }

    /// Writes the flags into the document where they differ from what it says, so
    /// an update that changes nothing leaves the file untouched.
    fn store_flags(&mut self) -> Result<(), ConfigError> {
        for (key, value) in [
            (LOCAL_MAINTENANCE, self.local_maintenance),
            (LOCAL_MAINTENANCE_MANUAL, self.local_maintenance_manual),
        ] {
            let raw = self.doc.get(FLAT_SECTION, key);
            let unchanged = match raw.and_then(|r| parse_bool(r).ok()) {
                Some(current) => current == value,
                // An absent key already reads as False.
                None => raw.is_none() && !value,
            };
            if !unchanged {
                self.doc.set(FLAT_SECTION, key, format_bool(value))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> HaConf {
        HaConf::parse(Path::new("/t/ha.conf"), text).unwrap()
    }

    #[test]
    fn flags_read_any_boolean_spelling() {
        let conf = parse("local_maintenance=yes\nlocal_maintenance_manual=0\n");
        assert!(conf.local_maintenance);
        assert!(!conf.local_maintenance_manual);
        let empty = parse("");
        assert!(!empty.local_maintenance && !empty.local_maintenance_manual);
    }

    #[test]
    fn store_flags_touches_only_changed_flags() {
        let mut conf = parse("# mine\nlocal_maintenance=false\nother=1\n");
        conf.store_flags().unwrap();
        assert_eq!(
            conf.doc.render(),
            "# mine\nlocal_maintenance=false\nother=1\n"
        );
        conf.local_maintenance = true;
        conf.store_flags().unwrap();
        assert_eq!(
            conf.doc.render(),
            "# mine\nlocal_maintenance=True\nother=1\n"
        );
        conf.local_maintenance_manual = true;
        conf.store_flags().unwrap();
        assert_eq!(
            conf.doc.render(),
            "# mine\nlocal_maintenance=True\nother=1\nlocal_maintenance_manual=True\n"
        );
    }

    #[test]
    fn set_raw_refuses_bad_booleans_and_keeps_state() {
        let mut conf = parse("local_maintenance=True\n");
        let errors = conf.set_raw(LOCAL_MAINTENANCE, "perhaps").unwrap_err();
        assert!(
            errors
                .to_string()
                .contains("local_maintenance: \"perhaps\" is not a boolean")
        );
        assert!(conf.local_maintenance);
        conf.set_raw("custom_key", "x").unwrap();
        assert_eq!(conf.get("custom_key"), Some("x"));
        conf.set_raw(LOCAL_MAINTENANCE, "False").unwrap();
        assert!(!conf.local_maintenance);
    }
}
