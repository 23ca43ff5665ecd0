//! Every scenario under tests/scenarios/ runs in the simulator; its log must
//! match the golden `.log` beside it, no invariant may break, and every check in
//! the file must hold. `HE_UPDATE_GOLDEN=1` rewrites the goldens on purpose.

use std::path::{Path, PathBuf};

use hosted_engine::sim::scenario::Scenario;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "scn"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_matches_its_golden_log() {
    let update = std::env::var("HE_UPDATE_GOLDEN").is_ok_and(|v| v == "1");
    let files = scenario_files();
    assert!(!files.is_empty(), "no scenarios found");
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(file).unwrap();
        let scenario = match Scenario::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let outcome = scenario.run();
        let golden = file.with_extension("log");
        let replay = format!("reproduce: he-lab sim run --scenario {}", file.display());
        if !outcome.passed() {
            failures.push(format!(
                "{name}: {:?} {:?}\n{replay}",
                outcome.violations, outcome.failed_checks
            ));
        }
        if update {
            std::fs::write(&golden, &outcome.log).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(expected) if expected == outcome.log => {}
            Ok(expected) => failures.push(format!(
                "{name}: log differs from {}\n{}\n{replay}\n(HE_UPDATE_GOLDEN=1 rewrites it)",
                golden.display(),
                first_difference(&expected, &outcome.log)
            )),
            Err(_) => failures.push(format!(
                "{name}: no golden log {} (HE_UPDATE_GOLDEN=1 writes it)",
                golden.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn first_difference(expected: &str, actual: &str) -> String {
    for (i, (e, a)) in expected.lines().zip(actual.lines()).enumerate() {
        if e != a {
            return format!("line {}:\n- {e}\n+ {a}", i + 1);
        }
    }
    format!(
        "lengths differ: {} lines expected, {} produced",
        expected.lines().count(),
        actual.lines().count()
    )
}
