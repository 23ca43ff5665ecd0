//! The supervisor's log line, in a module of its own: the loop, the hosts it
//! runs and the slot writers' threads all write it, and none of them should
//! have to depend on another for that.

use crate::lab::engine::wall_ms;

/// A line in `supervisor.log` (stderr).
pub(super) fn log(text: &str) {
    let ms = wall_ms();
    let secs = ms / 1000;
    eprintln!(
        "{:02}:{:02}:{:02}.{:03} supervisor: {text}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60,
        ms % 1000
    );
}
