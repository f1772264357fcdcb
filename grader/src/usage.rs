//! Tokens and cost of an agent's samples added up, from the `usage.json`
//! each may leave: only what the samples reported is summed, and a total is
//! shown as absent rather than zero when no sample reported it.

use racebench_model::AgentUsage;

/// Tokens and cost of several samples added up.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct UsageTotals {
    /// Samples with a usage.
    pub samples: u32,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    /// Samples that reported a cost.
    pub costed: u32,
}

impl UsageTotals {
    pub fn add(&mut self, usage: &AgentUsage) {
        fn plus(total: &mut Option<u64>, v: Option<u64>) {
            if let Some(v) = v {
                *total = Some(total.unwrap_or(0).saturating_add(v));
            }
        }
        self.samples += 1;
        plus(&mut self.input_tokens, usage.input_tokens);
        plus(&mut self.output_tokens, usage.output_tokens);
        if let Some(cost) = usage.cost_usd.filter(|c| c.is_finite()) {
            self.cost_usd = Some(self.cost_usd.unwrap_or(0.0) + cost);
            self.costed += 1;
        }
    }

    /// The mean cost of the samples that reported one.
    pub fn cost_per_sample(&self) -> Option<f64> {
        self.cost_usd
            .filter(|_| self.costed > 0)
            .map(|c| c / self.costed as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_totals_add_what_is_present() {
        let mut t = UsageTotals::default();
        t.add(&AgentUsage {
            input_tokens: Some(10),
            output_tokens: None,
            cost_usd: Some(0.5),
        });
        t.add(&AgentUsage {
            input_tokens: Some(5),
            output_tokens: Some(2),
            cost_usd: None,
        });
        assert_eq!(t.samples, 2);
        assert_eq!((t.input_tokens, t.output_tokens), (Some(15), Some(2)));
        assert_eq!((t.cost_usd, t.cost_per_sample()), (Some(0.5), Some(0.5)));
        assert_eq!(UsageTotals::default().cost_per_sample(), None);
    }
}
