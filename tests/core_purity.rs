//! The core stays pure (STYLE.md, "Core and time"): no file, network, process or
//! environment access, no clock, no threads, no randomness, and no hash-ordered
//! collections (their iteration order would leak into decisions).

use std::path::Path;

/// Forbidden in `src/core/`, code and tests alike (comments may name them).
const FORBIDDEN: &[&str] = &[
    "std::fs",
    "std::net",
    "std::io",
    "std::env",
    "std::process",
    "std::thread",
    "thread::spawn",
    "thread::sleep",
    "Instant",
    "SystemTime",
    "UNIX_EPOCH",
    "libc::",
    "rand::",
    "getrandom",
    "RandomState",
    "HashMap",
    "HashSet",
    "tokio",
    "std::sync::",
];

/// Every forbidden token in `source`, outside `//` comments, with its line.
fn violations(source: &str) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    for (index, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for token in FORBIDDEN {
            if code.contains(token) {
                found.push((index + 1, *token));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn core_mentions_no_io_clock_thread_or_randomness() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    assert!(files.len() >= 2, "src/core/ has no sources?");
    let mut report = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for (line, token) in violations(&source) {
            report.push(format!("{}:{line}: {token}", file.display()));
        }
    }
    assert!(report.is_empty(), "impure core:\n{}", report.join("\n"));
}

#[test]
fn the_checker_catches_what_it_should() {
    let sample = "use std::time::Instant;\nlet t = Instant::now(); // fine here\n\
                  // std::fs in a comment is fine\nlet m: HashMap<u8, u8>;\n";
    let found = violations(sample);
    assert_eq!(found, vec![(1, "Instant"), (2, "Instant"), (4, "HashMap")]);
}
