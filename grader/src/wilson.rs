//! The Wilson score interval: an honest confidence interval for a pass rate
//! measured over a handful of trials, which stays inside [0, 1] and does not
//! collapse to a point at 0/n or n/n the way the normal approximation does.

use serde::{Deserialize, Serialize};

/// The two-sided 95% quantile of the standard normal distribution.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// A closed interval of proportions, `low <= high`, both in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// The interval that says nothing: [0, 1].
    pub const UNKNOWN: Interval = Interval {
        low: 0.0,
        high: 1.0,
    };

    /// The 95% Wilson interval of `passes` successes in `trials` trials.
    pub fn wilson(passes: u32, trials: u32) -> Interval {
        Interval::wilson_fractional(f64::from(passes), trials)
    }

    /// The 95% Wilson interval where the successes may be fractional: the sum
    /// over trials of a score in [0, 1]. A [0, 1] variable with mean p has a
    /// variance of at most p(1 - p), so this is at least as wide as the
    /// binomial case needs.
    pub fn wilson_fractional(successes: f64, trials: u32) -> Interval {
        if trials == 0 {
            return Interval::UNKNOWN;
        }
        let n = f64::from(trials);
        let p = (successes / n).clamp(0.0, 1.0);
        let z2 = Z_95 * Z_95;
        let denominator = 1.0 + z2 / n;
        let centre = (p + z2 / (2.0 * n)) / denominator;
        let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denominator;
        // At 0/n and n/n the exact bound is 0 or 1; avoid 0.9999999999999999.
        let low = if p <= 0.0 {
            0.0
        } else {
            (centre - half).max(0.0)
        };
        let high = if p >= 1.0 {
            1.0
        } else {
            (centre + half).min(1.0)
        };
        Interval { low, high }
    }

    /// Whether `value` lies inside the interval.
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-4
    }

    #[test]
    fn matches_published_values() {
        // Reference values from the closed form (e.g. Newcombe 1998, table I).
        let cases = [
            (0, 10, 0.0, 0.2775),
            (10, 10, 0.7225, 1.0),
            (5, 10, 0.2366, 0.7634),
            (81, 263, 0.2553, 0.3662),
            (1, 1, 0.2065, 1.0),
            (0, 1, 0.0, 0.7935),
            (2, 3, 0.2077, 0.9385),
            (20, 20, 0.8389, 1.0),
        ];
        for (passes, trials, low, high) in cases {
            let i = Interval::wilson(passes, trials);
            assert!(
                close(i.low, low) && close(i.high, high),
                "{passes}/{trials}: {i:?}"
            );
        }
    }

    #[test]
    fn all_or_nothing_reach_the_exact_bound() {
        assert_eq!(Interval::wilson(3, 3).high, 1.0);
        assert_eq!(Interval::wilson(0, 3).low, 0.0);
    }

    #[test]
    fn no_trials_means_no_knowledge() {
        assert_eq!(Interval::wilson(0, 0), Interval::UNKNOWN);
    }

    #[test]
    fn fractional_successes_sit_between_the_integer_cases() {
        let lower = Interval::wilson(1, 3);
        let mid = Interval::wilson_fractional(1.5, 3);
        let upper = Interval::wilson(2, 3);
        assert!(lower.low < mid.low && mid.low < upper.low);
        assert!(mid.contains(0.5));
    }
}
