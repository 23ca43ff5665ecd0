//! What to run: the command line, quoted so that the remote POSIX shell sees
//! exactly the arguments given.

use super::COMMAND_MAX_BYTES;
use super::error::RemoteError;

/// Quotes `argv` for the remote POSIX shell: words of safe characters stay as
/// they are, the others go in single quotes (a `'` becomes `'\''`), so that the
/// shell sees exactly `argv` — no expansion, no second command.
pub fn shell_quote(argv: &[String]) -> Result<String, RemoteError> {
    if argv.is_empty() {
        return Err(RemoteError::BadCommand("no command given".into()));
    }
    let mut line = String::new();
    for (i, arg) in argv.iter().enumerate() {
        if arg.contains('\0') {
            return Err(RemoteError::BadCommand(format!(
                "argument {} contains a NUL byte, which a command line cannot carry",
                i + 1
            )));
        }
        if i > 0 {
            line.push(' ');
        }
        quote_word(arg, &mut line);
        if line.len() > COMMAND_MAX_BYTES {
            return Err(RemoteError::BadCommand(format!(
                "longer than {COMMAND_MAX_BYTES} bytes"
            )));
        }
    }
    Ok(line)
}

fn quote_word(word: &str, line: &mut String) {
    // No `=` (a first word `A=b` would be an assignment) and no `~` (expanded).
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"-_./:,+@%".contains(&b);
    if !word.is_empty() && word.bytes().all(safe) {
        line.push_str(word);
        return;
    }
    line.push('\'');
    for c in word.chars() {
        if c == '\'' {
            line.push_str("'\\''");
        } else {
            line.push(c);
        }
    }
    line.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(argv: &[&str]) -> String {
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        shell_quote(&argv).unwrap()
    }

    #[test]
    fn quotes_for_a_posix_shell() {
        assert_eq!(
            quote(&["hosted-engine", "--vm-status"]),
            "hosted-engine --vm-status"
        );
        assert_eq!(quote(&["a b"]), "'a b'");
        assert_eq!(quote(&["it's"]), "'it'\\''s'");
        assert_eq!(quote(&[""]), "''");
        assert_eq!(
            quote(&["$HOME", "a;b", "`id`", "*", "~"]),
            "'$HOME' 'a;b' '`id`' '*' '~'"
        );
        assert_eq!(quote(&["A=b"]), "'A=b'");
        assert_eq!(quote(&["--mode=global"]), "'--mode=global'");
    }

    #[test]
    fn quoting_survives_a_real_shell() {
        let argv: Vec<String> = [
            "a b",
            "it's",
            "$HOME",
            "a;echo pwned",
            "`id`",
            "",
            "\"",
            "\\",
            "x\ny",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut command = vec!["printf".to_owned(), "%s\\0".to_owned()];
        command.extend(argv.iter().cloned());
        let line = shell_quote(&command).unwrap();
        let out = std::process::Command::new("sh")
            .args(["-c", &line])
            .output()
            .expect("sh runs");
        let want: Vec<u8> = argv
            .iter()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect();
        assert_eq!(out.stdout, want);
    }

    #[test]
    fn refuses_commands_it_cannot_send() {
        assert!(matches!(shell_quote(&[]), Err(RemoteError::BadCommand(_))));
        let nul = shell_quote(&["a\0b".to_owned()]).unwrap_err().to_string();
        assert!(nul.contains("NUL"), "{nul}");
        let long = shell_quote(&["x".repeat(COMMAND_MAX_BYTES + 1)]).unwrap_err();
        assert!(long.to_string().contains("longer than"), "{long}");
    }
}
