//! The checked-in man pages (`man/`) and shell completions (`completions/`)
//! are what the clap definitions generate (`cli::docs`). When a command line
//! changes, regenerate them with `HE_UPDATE_GOLDEN=1 cargo test --test docs_fresh`.

mod common;

use std::path::Path;
use std::process::Command;

#[test]
fn man_pages_and_completions_are_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let update = std::env::var("HE_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (path, bytes) in hosted_engine::cli::docs::render_all() {
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
