//! The part of OpenSSH's client configuration (`~/.ssh/config`,
//! ssh_config(5)) that `--remote` honours, so that `--remote=host2` means
//! what `ssh host2` means: `Host` blocks (patterns with `*`, `?` and `!`
//! negation), `HostName` (with `%h`), `User`, `Port` and `IdentityFile`
//! (with `~` and `%d`, `%h`, `%r`, `%u`), and `Include` (relative to
//! `~/.ssh`, with `*` in the file name). As in OpenSSH the first value
//! obtained for each keyword wins, and what the command line says wins over
//! the file. `Match` blocks are skipped (their conditions are not
//! evaluated); other keywords are ignored.

use std::path::{Path, PathBuf};

/// The most bytes read of one configuration file, and includes followed.
const FILE_MAX_BYTES: u64 = 1024 * 1024;
const INCLUDE_DEPTH_MAX: usize = 8;

/// What the configuration says for one host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostConfig {
    pub hostname: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
}

/// One parsed line: a keyword (lowercase) and its arguments.
type Line = (String, Vec<String>);

/// The configuration for `alias` (the host as typed), read from `file`
/// (and what it includes); `home` for `~` and `%d`, `local_user` for `%u`.
/// A missing file is an empty configuration; a line that does not parse is
/// an error naming it.
pub fn lookup(
    file: &Path,
    alias: &str,
    home: &Path,
    local_user: &str,
    cli_user: Option<&str>,
) -> Result<HostConfig, String> {
    let mut lines = Vec::new();
    read_into(file, home, 0, &mut lines)?;
    let mut found = HostConfig::default();
    let mut identity: Option<String> = None;
    let mut applies = true;
    // An included file's blocks end with it, and one included from a block
    // that does not apply applies nowhere (OpenSSH's rule).
    let mut never = false;
    let mut saved = Vec::new();
    for (keyword, args) in lines {
        match keyword.as_str() {
            INCLUDE_BEGIN => {
                saved.push((applies, never));
                never |= !applies;
            }
            INCLUDE_END => (applies, never) = saved.pop().unwrap_or((true, false)),
            "host" => applies = !never && host_matches(&args, alias),
            // Not evaluated: the block is skipped.
            "match" => applies = false,
            _ if !applies => {}
            // The first value obtained wins.
            "hostname" if found.hostname.is_none() => {
                found.hostname = args.first().map(|h| h.replace("%h", alias));
            }
            "user" if found.user.is_none() => found.user = args.first().cloned(),
            "port" if found.port.is_none() => {
                let text = args.first().map_or("", String::as_str);
                let port =
                    text.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                        format!("{}: Port {text:?} is not a port", file.display())
                    })?;
                found.port = Some(port);
            }
            "identityfile" if identity.is_none() => identity = args.first().cloned(),
            _ => {}
        }
    }
    // Its tokens stand for the final host and user, the command line's too.
    let host = found.hostname.as_deref().unwrap_or(alias);
    let user = cli_user.or(found.user.as_deref()).unwrap_or(local_user);
    found.identity_file = identity.map(|raw| expand(&raw, home, host, user, local_user));
    Ok(found)
}

/// Markers around an included file's lines.
const INCLUDE_BEGIN: &str = "\0include-begin";
const INCLUDE_END: &str = "\0include-end";

/// `~` and the tokens an `IdentityFile` may carry.
fn expand(raw: &str, home: &Path, host: &str, remote_user: &str, local_user: &str) -> PathBuf {
    let home_text = home.display().to_string();
    // One pass, so that `%%h` is a `%` and an `h`.
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => text.push_str(&home_text),
            Some('h') => text.push_str(host),
            Some('r') => text.push_str(remote_user),
            Some('u') => text.push_str(local_user),
            Some('%') => text.push('%'),
            Some(other) => {
                text.push('%');
                text.push(other);
            }
            None => text.push('%'),
        }
    }
    match text.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if text == "~" => home.to_path_buf(),
        None => PathBuf::from(text),
    }
}

/// Reads `file`'s lines into `lines`, following `Include`s.
fn read_into(file: &Path, home: &Path, depth: usize, lines: &mut Vec<Line>) -> Result<(), String> {
    use std::io::Read as _;
    let mut text = String::new();
    match std::fs::File::open(file) {
        Ok(f) => {
            f.take(FILE_MAX_BYTES)
                .read_to_string(&mut text)
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", file.display())),
    }
    for (index, raw) in text.lines().enumerate() {
        let Some((keyword, args)) =
            parse_line(raw).map_err(|why| format!("{}:{}: {why}", file.display(), index + 1))?
        else {
            continue;
        };
        if keyword == "include" {
            if depth >= INCLUDE_DEPTH_MAX {
                return Err(format!(
                    "{}:{}: Include nested too deep",
                    file.display(),
                    index + 1
                ));
            }
            for pattern in &args {
                for included in include_files(pattern, home) {
                    lines.push((INCLUDE_BEGIN.to_owned(), Vec::new()));
                    read_into(&included, home, depth + 1, lines)?;
                    lines.push((INCLUDE_END.to_owned(), Vec::new()));
                }
            }
            continue;
        }
        lines.push((keyword, args));
    }
    Ok(())
}

/// The files an `Include` names: relative to `~/.ssh`, `*` and `?` in the
/// file name matched against that directory's entries (sorted, as glob(3)).
fn include_files(pattern: &str, home: &Path) -> Vec<PathBuf> {
    let path = expand(pattern, home, "", "", "");
    let path = if path.is_absolute() {
        path
    } else {
        home.join(".ssh").join(path)
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(name) = name.filter(|n| n.contains(['*', '?'])) else {
        return vec![path];
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let entry = e.ok()?;
            let file = entry.file_name().into_string().ok()?;
            // As glob(3): no hidden files unless asked for; files only.
            let hidden = file.starts_with('.') && !name.starts_with('.');
            let is_file = entry.file_type().ok()?.is_file();
            (!hidden && is_file && wildcard(&name, &file)).then(|| entry.path())
        })
        .collect();
    found.sort();
    found
}

/// One line: `keyword args...` or `keyword=args`, `#` comments, double
/// quotes around an argument with spaces; `None` for a blank line.
fn parse_line(raw: &str) -> Result<Option<Line>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (keyword, rest) = match line.find(|c: char| c.is_whitespace() || c == '=') {
        Some(at) => (&line[..at], line[at..].trim_start()),
        None => (line, ""),
    };
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '#' {
            break;
        }
        let mut arg = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(c) => arg.push(c),
                    None => return Err("unterminated quote".into()),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg);
    }
    Ok(Some((keyword.to_ascii_lowercase(), args)))
}

/// Whether a `Host` line's patterns select `alias`: one matches and no
/// negated one does.
fn host_matches(patterns: &[String], alias: &str) -> bool {
    let mut any = false;
    for pattern in patterns {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard(negated, alias) => return false,
            Some(_) => {}
            None => any |= wildcard(pattern, alias),
        }
    }
    any
}

/// `*` (any run) and `?` (one character) matching, case-insensitive as
/// host names are.
fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str, alias: &str) -> HostConfig {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, text).unwrap();
        lookup(&file, alias, Path::new("/home/op"), "op", None).unwrap()
    }

    #[test]
    fn host_blocks_first_value_wins_and_tokens_expand() {
        let text = "\
# the cluster
Host host2 h2
    HostName host2.lab.example.com
    User root
    Port 2222
    IdentityFile ~/.ssh/he_%r_%h
Host *.lab !bad.lab
    User admin
Host *
    User nobody
    Port 22
    IdentityFile=\"/etc/ssh keys/%u\"
";
        let h2 = config(text, "h2");
        assert_eq!(h2.hostname.as_deref(), Some("host2.lab.example.com"));
        assert_eq!(h2.user.as_deref(), Some("root"));
        assert_eq!(h2.port, Some(2222));
        assert_eq!(
            h2.identity_file,
            Some(PathBuf::from("/home/op/.ssh/he_root_host2.lab.example.com"))
        );
        let lab = config(text, "x.LAB");
        assert_eq!((lab.user.as_deref(), lab.port), (Some("admin"), Some(22)));
        assert_eq!(lab.identity_file, Some(PathBuf::from("/etc/ssh keys/op")));
        let bad = config(text, "bad.lab");
        assert_eq!(bad.user.as_deref(), Some("nobody"));
        assert_eq!(config("", "any"), HostConfig::default());
    }

    #[test]
    fn match_blocks_are_skipped_and_includes_followed() {
        let dir = tempfile::tempdir().unwrap();
        let ssh = dir.path().join(".ssh");
        std::fs::create_dir_all(ssh.join("config.d")).unwrap();
        std::fs::write(ssh.join("config.d/10-he"), "Host he*\n  Port 2200\n").unwrap();
        std::fs::write(ssh.join("config.d/20-x"), "Host he1\n  User x\n").unwrap();
        let main = ssh.join("config");
        std::fs::write(
            &main,
            "Include config.d/*\nMatch exec \"false\"\n  User never\n",
        )
        .unwrap();
        let he1 = lookup(&main, "he1", dir.path(), "op", None).unwrap();
        assert_eq!((he1.user.as_deref(), he1.port), (Some("x"), Some(2200)));
        let missing = lookup(&dir.path().join("none"), "he1", dir.path(), "op", None).unwrap();
        assert_eq!(missing, HostConfig::default());
        std::fs::write(&main, "Host he1\n  Port ssh\n").unwrap();
        let e = lookup(&main, "he1", dir.path(), "op", None).unwrap_err();
        assert!(e.contains("Port \"ssh\" is not a port"), "{e}");
        std::fs::write(&main, "Host \"he1\n").unwrap();
        let e = lookup(&main, "he1", dir.path(), "op", None).unwrap_err();
        assert!(e.ends_with("config:1: unterminated quote"), "{e}");
    }

    #[test]
    fn an_included_files_blocks_end_with_it_and_tokens_take_final_values() {
        let dir = tempfile::tempdir().unwrap();
        let ssh = dir.path().join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(ssh.join("other"), "Host elsewhere\n  User e\n").unwrap();
        std::fs::write(ssh.join("nested"), "Host *\n  Port 2022\n").unwrap();
        let main = ssh.join("config");
        std::fs::write(
            &main,
            "Include other\nUser top\nHost never\n  Include nested\nHost he1\n  \
             IdentityFile ~/.ssh/%r@%h%%h\n  HostName he1.lab\n",
        )
        .unwrap();
        let he1 = lookup(&main, "he1", dir.path(), "op", Some("cli")).unwrap();
        // `User top` after the include is the main file's, for every host.
        assert_eq!(he1.user.as_deref(), Some("top"));
        // The nested include sits in a block that does not apply.
        assert_eq!(he1.port, None);
        assert_eq!(
            he1.identity_file,
            Some(dir.path().join(".ssh/cli@he1.lab%h"))
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "anything"));
        assert!(wildcard("h?st*", "host2.lab"));
        assert!(!wildcard("h?st", "hoost"));
        assert!(wildcard("*.lab", "a.b.lab"));
        assert!(!wildcard("*.lab", "lab"));
        assert!(host_matches(&["a".into(), "b".into()], "b"));
        assert!(!host_matches(&["*".into(), "!b".into()], "b"));
        assert!(
            !host_matches(&["!b".into()], "c"),
            "a negation alone selects nothing"
        );
    }
}
