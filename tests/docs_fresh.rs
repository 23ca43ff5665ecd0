//! The checked-in man pages (`man/`) and shell completions (`completions/`)
//! are what the clap definitions generate (`src/docs.rs`). When a command line
//! changes, regenerate them with `HE_UPDATE_GOLDEN=1 cargo test --test docs_fresh`.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn man_pages_and_completions_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var("HE_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, bytes) in hosted_engine::docs::render_all() {
        let file = root.join(&path);
        if update {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &bytes).unwrap();
        } else if std::fs::read(&file).ok().as_deref() != Some(&bytes[..]) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale generated files: {} (regenerate: HE_UPDATE_GOLDEN=1 cargo test --test docs_fresh)",
        stale.join(", ")
    );
}

#[test]
fn bash_completions_load() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !common::require("bash", Path::new("/bin/bash").exists()) {
        return;
    }
    for program in ["hosted-engine", "ovirt-ha-agent", "he-lab"] {
        let file = root.join(format!("completions/{program}.bash"));
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -e; source '{}'; complete -p {program}",
                file.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_hosted_engine_man_page_documents_exit_codes_and_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(root.join("man/hosted-engine.8")).unwrap();
    for needle in [
        ".SH \"EXIT STATUS\"",
        ".SH \"FILES\"",
        "hosted\\-engine.conf",
        "\\-\\-vm\\-status",
    ] {
        assert!(page.contains(needle), "missing {needle}");
    }
}

/// What bash completes after `words` (the last one being typed) with the
/// checked-in `hosted-engine` completion loaded.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        ". {}/completions/hosted-engine.bash; COMP_WORDS=(hosted-engine {}); \
         COMP_CWORD={}; _hosted_engine; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        root.display(),
        quoted.join(" "),
        words.len()
    );
    let out = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Issue 16: the completion offers the commands first, then only the options
/// of the command already typed, and an option's fixed values.
#[test]
fn bash_completes_only_the_typed_commands_options() {
    let first = bash_completes(&["--vm-s"]);
    assert_eq!(
        first,
        [
            "--vm-status",
            "--vm-start",
            "--vm-start-paused",
            "--vm-shutdown"
        ]
    );
    let status = bash_completes(&["--vm-status", "--"]);
    for option in [
        "--json",
        "--format=",
        "--explain",
        "--watch",
        "--remote=",
        "--help",
    ] {
        assert!(status.contains(&option.to_owned()), "{option}: {status:?}");
    }
    for other in ["--mode=", "--force", "--storage=", "--no-wait"] {
        assert!(!status.contains(&other.to_owned()), "{other}: {status:?}");
    }
    assert_eq!(
        bash_completes(&["--set-maintenance", "--mode=g"]),
        ["--mode=global"]
    );
    assert_eq!(
        bash_completes(&["--vm-poweroff", "--"]),
        ["--force", "--no-wait", "--help"]
    );
}

/// `docs/architecture.md`'s module graph is what `scripts/module-graph`
/// generates from the code now (regenerate: `scripts/module-graph --write`).
#[test]
fn the_module_graph_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !common::require("bash", Path::new("/bin/bash").exists()) {
        return;
    }
    let out = Command::new("bash")
        .arg(root.join("scripts/module-graph"))
        .arg("--check")
        .current_dir(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
