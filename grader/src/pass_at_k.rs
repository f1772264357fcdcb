//! pass@k and pass^k over several samples of one agent on one datapoint:
//! the chance that at least one (pass@k) or every one (pass^k) of k samples
//! drawn without replacement from n, of which c solved it, solves it.

use serde::{Deserialize, Serialize};

/// pass@k and pass^k for one k.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PassAtK {
    pub k: u32,
    /// 1 - C(n-c, k) / C(n, k): at least one of k samples solves it.
    pub pass_at_k: f64,
    /// C(c, k) / C(n, k): all k samples solve it.
    pub pass_hat_k: f64,
}

/// The unbiased pass@k estimator 1 - C(n-c, k) / C(n, k), computed as a
/// product so it neither overflows nor loses precision. `None` when k is 0 or
/// larger than n, or c is larger than n.
pub fn pass_at_k(n: u32, c: u32, k: u32) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if n - c < k {
        return Some(1.0);
    }
    // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    let all_fail: f64 = (n - c + 1..=n)
        .map(|i| 1.0 - f64::from(k) / f64::from(i))
        .product();
    Some(1.0 - all_fail)
}

/// pass^k = C(c, k) / C(n, k): the chance that k samples drawn without
/// replacement all solve it. `None` on the same inputs as [`pass_at_k`].
pub fn pass_hat_k(n: u32, c: u32, k: u32) -> Option<f64> {
    if k == 0 || k > n || c > n {
        return None;
    }
    if c < k {
        return Some(0.0);
    }
    // C(c, k) / C(n, k) = prod_{i=0}^{k-1} (c - i) / (n - i)
    Some(
        (0..k)
            .map(|i| f64::from(c - i) / f64::from(n - i))
            .product(),
    )
}

/// Both estimators for every k from 1 to n.
pub fn table(n: u32, c: u32) -> Vec<PassAtK> {
    (1..=n)
        .filter_map(|k| {
            Some(PassAtK {
                k,
                pass_at_k: pass_at_k(n, c, k)?,
                pass_hat_k: pass_hat_k(n, c, k)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn pass_at_one_is_the_solve_rate() {
        assert!(close(pass_at_k(10, 3, 1).unwrap(), 0.3));
        assert!(close(pass_hat_k(10, 3, 1).unwrap(), 0.3));
    }

    #[test]
    fn matches_the_binomial_formulas() {
        // n = 5, c = 2, k = 2: 1 - C(3,2)/C(5,2) = 1 - 3/10; C(2,2)/C(5,2) = 1/10.
        assert!(close(pass_at_k(5, 2, 2).unwrap(), 0.7));
        assert!(close(pass_hat_k(5, 2, 2).unwrap(), 0.1));
        // n = 4, c = 3, k = 3: C(1,3) = 0 so pass@3 = 1; pass^3 = C(3,3)/C(4,3) = 1/4.
        assert!(close(pass_at_k(4, 3, 3).unwrap(), 1.0));
        assert!(close(pass_hat_k(4, 3, 3).unwrap(), 0.25));
    }

    #[test]
    fn edge_cases() {
        assert_eq!(pass_at_k(3, 0, 3), Some(0.0), "nothing solved");
        assert_eq!(pass_hat_k(3, 3, 3), Some(1.0), "everything solved");
        assert_eq!(pass_at_k(3, 3, 1), Some(1.0));
        assert_eq!(pass_hat_k(3, 0, 1), Some(0.0));
        assert_eq!(pass_at_k(1, 1, 1), Some(1.0));
        assert_eq!(pass_at_k(2, 1, 0), None, "k = 0 is meaningless");
        assert_eq!(pass_at_k(2, 1, 3), None, "k larger than n");
        assert_eq!(pass_hat_k(2, 3, 1), None, "more solved than samples");
        assert_eq!(pass_at_k(0, 0, 1), None);
    }

    #[test]
    fn pass_at_k_grows_and_pass_hat_k_shrinks_with_k() {
        let t = table(6, 2);
        assert_eq!(t.len(), 6);
        for pair in t.windows(2) {
            assert!(pair[0].pass_at_k <= pair[1].pass_at_k);
            assert!(pair[0].pass_hat_k >= pair[1].pass_hat_k);
        }
    }
}
