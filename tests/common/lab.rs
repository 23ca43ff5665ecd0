//! Helpers for the end-to-end tests on a lab (`tests/e2e_*.rs`).

use hosted_engine::lab::cluster::{Lab, log_files};

/// The tail (`tail_bytes`) of every log file of `lab`, each under its name.
pub fn logs(lab: &Lab, tail_bytes: usize) -> String {
    log_files(lab.spec(), None)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let start = text.len().saturating_sub(tail_bytes);
            let start = (start..text.len())
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            format!("==> {} <==\n{}\n", path.display(), &text[start..])
        })
        .collect()
}

/// `result`'s value, or a panic with the error and the lab's logs.
pub fn check<T>(lab: &Lab, result: anyhow::Result<T>, tail_bytes: usize) -> T {
    result.unwrap_or_else(|e| panic!("{e:#}\n{}", logs(lab, tail_bytes)))
}

/// Host `host`'s agent log, whole.
pub fn agent_log(lab: &Lab, host: u16) -> String {
    std::fs::read_to_string(lab.spec().agent_log(host)).unwrap_or_default()
}
