//! The pure crates stay pure by construction (docs/architecture.md, "House
//! rules"): `crates/metadata` and `crates/core` are `#![no_std]`, so no file,
//! network, process, environment, clock or thread can be named in them, and
//! neither can a hash-ordered collection (std's `HashMap` and `HashSet`, whose
//! iteration order would leak into decisions). What the compiler cannot see is
//! a dependency that brings I/O back: this test keeps each crate `no_std` and
//! its dependencies to a short list of pure ones, without their `std` features.

use std::path::Path;

/// Each pure crate and the dependencies it may have.
const PURE_CRATES: &[(&str, &[&str])] = &[
    (
        "crates/metadata",
        &["crc32fast", "serde", "serde_json", "thiserror"],
    ),
    ("crates/core", &["hosted-engine-metadata"]),
];

/// Why `lib_rs` does not open with `#![no_std]` (after its `//!` docs).
fn no_std_problem(lib_rs: &str) -> Option<String> {
    let first = lib_rs
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("//"))?;
    (first != "#![no_std]").then(|| format!("its first attribute is {first:?}, not #![no_std]"))
}

/// The `[dependencies]` entries of a manifest: (name, whether the entry turns
/// the dependency's default features off).
fn dependencies(manifest: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    let mut in_section = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_section = line == "[dependencies]";
            continue;
        }
        if !in_section || line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, spec)) = line.split_once('=') {
            let no_defaults = spec.contains("default-features = false");
            found.push((name.trim().to_owned(), no_defaults));
        }
    }
    found
}

/// Every rule `manifest` breaks for a pure crate allowed `allowed`.
fn manifest_problems(manifest: &str, allowed: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, no_defaults) in dependencies(manifest) {
        if !allowed.contains(&name.as_str()) {
            problems.push(format!("depends on {name}, which is not on the pure list"));
        } else if !name.starts_with("hosted-engine-") && !no_defaults {
            problems.push(format!("{name} keeps its default (std) features"));
        }
    }
    problems
}

#[test]
fn the_pure_crates_are_no_std_with_pure_dependencies_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut report = Vec::new();
    for (dir, allowed) in PURE_CRATES {
        let lib_rs = std::fs::read_to_string(root.join(dir).join("src/lib.rs")).unwrap();
        if let Some(problem) = no_std_problem(&lib_rs) {
            report.push(format!("{dir}/src/lib.rs: {problem}"));
        }
        let manifest = std::fs::read_to_string(root.join(dir).join("Cargo.toml")).unwrap();
        for problem in manifest_problems(&manifest, allowed) {
            report.push(format!("{dir}/Cargo.toml: {problem}"));
        }
    }
    assert!(report.is_empty(), "impure core:\n{}", report.join("\n"));
}

#[test]
fn the_checker_catches_what_it_should() {
    assert_eq!(no_std_problem("//! Docs.\n\n#![no_std]\nmod a;\n"), None);
    assert!(no_std_problem("//! Docs.\nmod a;\n").is_some());
    let manifest = "[package]\nname = \"x\"\n\n[dependencies]\n\
                    crc32fast = { version = \"1\", default-features = false }\n\
                    serde = \"1\"\nlibc = \"0.2\"\n\n[dev-dependencies]\nproptest = \"1\"\n";
    assert_eq!(
        manifest_problems(manifest, &["crc32fast", "serde"]),
        vec![
            "serde keeps its default (std) features".to_owned(),
            "depends on libc, which is not on the pure list".to_owned(),
        ]
    );
}
