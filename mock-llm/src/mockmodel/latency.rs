//! How a serving engine's latency depends on the prompt and on the load.
//!
//! - Prefill: the time to first token grows with the prompt,
//!   `ttft + prompt_tokens x prefill_per_token` (then jittered as before).
//! - Decode under load: each inter-token gap is stretched by a factor that
//!   grows linearly with the sequences decoding at once, from 1 at batch 1
//!   to `load_factor` at a full batch (`max_num_seqs`): llm-d's
//!   `time-factor-under-load`, `1 + (f - 1) (running - 1) / (max - 1)`.
//!
//! The defaults switch both off, so the model is today's fixed schedule.

use std::time::Duration;

/// The serving engine's parameters. [`LoadModel::default`] is no load
/// dependence at all.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadModel {
    /// Prefill time per prompt token.
    pub prefill_per_token: Duration,
    /// Sequences decoding at once (vLLM's `max-num-seqs`); 0 = unlimited.
    pub max_num_seqs: u32,
    /// Requests allowed to wait for a batch slot; beyond, 429. Only
    /// meaningful with a batch limit.
    pub max_waiting: u32,
    /// Inter-token latency multiplier at a full batch, >= 1. Only
    /// meaningful with a batch limit.
    pub load_factor: f64,
}

impl Default for LoadModel {
    fn default() -> Self {
        Self {
            prefill_per_token: Duration::ZERO,
            max_num_seqs: 0,
            max_waiting: 1000,
            load_factor: 1.0,
        }
    }
}

impl LoadModel {
    /// True when timings depend neither on the prompt nor on the load.
    pub fn is_off(&self) -> bool {
        self.prefill_per_token.is_zero() && self.max_num_seqs == 0
    }

    /// The extra time to first token a prompt of `prompt_tokens` costs.
    pub fn prefill(&self, prompt_tokens: u32) -> Duration {
        self.prefill_per_token.saturating_mul(prompt_tokens)
    }

    /// The inter-token latency multiplier with `running` sequences decoding.
    pub fn factor(&self, running: usize) -> f64 {
        let max = self.max_num_seqs as usize;
        if max <= 1 || self.load_factor <= 1.0 {
            return 1.0;
        }
        let running = running.clamp(1, max);
        1.0 + (self.load_factor - 1.0) * (running - 1) as f64 / (max - 1) as f64
    }

    /// `gap` stretched by the factor at `running`; exact when the factor is 1.
    pub fn stretch(&self, gap: Duration, running: usize) -> Duration {
        let f = self.factor(running);
        if f == 1.0 {
            gap
        } else {
            gap.mul_f64(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(max: u32, f: f64) -> LoadModel {
        LoadModel {
            max_num_seqs: max,
            load_factor: f,
            ..LoadModel::default()
        }
    }

    #[test]
    fn the_factor_rises_linearly_from_one_to_the_full_batch_figure() {
        let m = model(5, 3.0);
        let got: Vec<f64> = (0..=7).map(|n| m.factor(n)).collect();
        assert_eq!(got, [1.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0, 3.0]);
    }

    #[test]
    fn no_batch_limit_or_a_factor_of_one_means_no_load_dependence() {
        for m in [
            model(0, 3.0),
            model(1, 3.0),
            model(8, 1.0),
            LoadModel::default(),
        ] {
            assert_eq!(m.factor(1000), 1.0);
            let gap = Duration::from_micros(4321);
            assert_eq!(m.stretch(gap, 1000), gap);
        }
        assert!(LoadModel::default().is_off());
    }

    #[test]
    fn prefill_is_linear_in_prompt_tokens() {
        let m = LoadModel {
            prefill_per_token: Duration::from_micros(250),
            ..LoadModel::default()
        };
        assert_eq!(m.prefill(0), Duration::ZERO);
        assert_eq!(m.prefill(256), Duration::from_millis(64));
    }
}
