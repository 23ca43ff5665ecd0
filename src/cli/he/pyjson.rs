//! JSON as Python's `json.dumps` writes it with its defaults: `", "` between
//! items, `": "` after keys, and every character outside printable ASCII
//! escaped as `\uXXXX` (`ensure_ascii`). The reference's `--vm-status --json`
//! and its published engine status are written this way
//! (`docs/compat.md` sections 1 and 7), and scripts compare them as
//! text.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

/// `value` in `json.dumps` form.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> String {
    let mut out = Vec::with_capacity(256);
    let mut ser = Serializer::with_formatter(&mut out, PyFormatter);
    value
        .serialize(&mut ser)
        .expect("serializing to memory cannot fail");
    String::from_utf8(out).expect("ensure_ascii output is ASCII")
}

struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    /// serde_json escapes `"`, `\` and the C0 controls itself; everything else
    /// that Python escapes (DEL and all non-ASCII) is escaped here, astral
    /// characters as surrogate pairs like Python.
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::to_string;

    #[test]
    fn spacing_and_escapes_match_python() {
        // Expected strings from Python 3: json.dumps(...)
        assert_eq!(
            to_string(&json!({"vm": "up", "health": "good", "detail": "Up"})),
            r#"{"vm": "up", "health": "good", "detail": "Up"}"#
        );
        assert_eq!(to_string(&json!([1, [], {}, null])), "[1, [], {}, null]");
        assert_eq!(
            to_string(&json!("h\u{e9}\u{7f}\n\t\"\\\u{1f600}\u{1}")),
            r#""h\u00e9\u007f\n\t\"\\\ud83d\ude00\u0001""#
        );
    }
}
