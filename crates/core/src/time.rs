//! Time as the core sees it: a monotonic instant passed in by the caller.
//!
//! The core never reads a clock (`docs/architecture.md`, "House rules"). The
//! shell reads its monotonic clock once per loop and hands the value in; the
//! simulator hands in virtual time. Wall-clock time is display data only and
//! never reaches a decision.

use core::fmt;
use core::ops::{Add, Sub};

/// Milliseconds on the observer's monotonic clock (since an arbitrary origin).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Millis(pub u64);

impl Millis {
    pub const ZERO: Millis = Millis(0);

    pub fn from_secs(secs: u64) -> Millis {
        Millis(secs.saturating_mul(1000))
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds, rounded down (the metadata's `host-ts` unit).
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later (never negative).
    pub fn since(self, earlier: Millis) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<u64> for Millis {
    type Output = Millis;
    fn add(self, ms: u64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }
}

impl Sub<u64> for Millis {
    type Output = Millis;
    fn sub(self, ms: u64) -> Millis {
        Millis(self.0.saturating_sub(ms))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn arithmetic_saturates_and_never_goes_negative() {
        assert_eq!(Millis(5).since(Millis(9)), 0);
        assert_eq!(Millis(9).since(Millis(5)), 4);
        assert_eq!(Millis(u64::MAX) + 1, Millis(u64::MAX));
        assert_eq!(Millis(3) - 10, Millis::ZERO);
        assert_eq!(Millis::from_secs(12).as_secs(), 12);
        assert_eq!(Millis(61_005).to_string(), "61.005s");
    }
}
