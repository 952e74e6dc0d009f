//! AdamW (decoupled weight decay), global-norm gradient clipping, and the
//! warm-up + cosine learning-rate schedule.

use super::graph::Param;
use super::kernels::parallel::{self, Shared};
use crate::backend::cpu::simd::vectorized;
use serde::{Deserialize, Serialize};

/// Optimizer settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamWConfig {
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    /// Applied to matrices only: biases, norms and nothing 1-D decay.
    pub weight_decay: f32,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.1,
        }
    }
}

/// The optimizer's running moments, one pair per parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW {
    pub config: AdamWConfig,
    /// Updates done (the bias corrections use it).
    pub t: u64,
    pub m: Vec<Vec<f32>>,
    pub v: Vec<Vec<f32>>,
}

impl AdamW {
    pub fn new(config: AdamWConfig, params: &[Param]) -> Self {
        let zeros = || params.iter().map(|p| vec![0.0; p.value.len()]).collect();
        AdamW {
            config,
            t: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    /// One update of every trainable parameter from its gradient.
    pub fn step(&mut self, params: &mut [Param], lr: f32) {
        self.t += 1;
        let c = self.config;
        let bc1 = 1.0 - c.beta1.powi(self.t as i32);
        let bc2 = 1.0 - c.beta2.powi(self.t as i32);
        for ((p, m), v) in params.iter_mut().zip(&mut self.m).zip(&mut self.v) {
            if !p.trainable {
                continue;
            }
            let decay = if p.shape.len() >= 2 {
                c.weight_decay
            } else {
                0.0
            };
            let (value, m, v) = (Shared::new(&mut p.value), Shared::new(m), Shared::new(v));
            let grad = &p.grad;
            parallel::chunks(grad.len(), &|r| {
                // SAFETY: each chunk of the parameter and its moments
                // belongs to one job.
                let (value, m, v) = unsafe {
                    (
                        value.range(r.start, r.len()),
                        m.range(r.start, r.len()),
                        v.range(r.start, r.len()),
                    )
                };
                let grad = &grad[r];
                vectorized(
                    #[inline(always)]
                    || {
                        for (((w, m), v), &g) in value.iter_mut().zip(m).zip(v).zip(grad) {
                            *m = c.beta1 * *m + (1.0 - c.beta1) * g;
                            *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                            let update = (*m / bc1) / ((*v / bc2).sqrt() + c.eps);
                            *w -= lr * (update + decay * *w);
                        }
                    },
                )
            });
        }
    }
}

/// The gradients' global L2 norm; when above `max_norm` (> 0) they are
/// scaled down to it. Returns the norm before clipping.
pub fn clip_grad_norm(params: &mut [Param], max_norm: f32) -> f32 {
    let trainable = || params.iter().filter(|p| p.trainable);
    let sum: f64 = trainable().map(|p| sum_of_squares(&p.grad)).sum();
    let norm = sum.sqrt() as f32;
    if max_norm > 0.0 && norm > max_norm {
        let s = max_norm / (norm + 1e-6);
        for p in params.iter_mut().filter(|p| p.trainable) {
            let len = p.grad.len();
            let grad = Shared::new(&mut p.grad);
            parallel::chunks(len, &|r| {
                // SAFETY: each chunk belongs to one job.
                let g = unsafe { grad.range(r.start, r.len()) };
                g.iter_mut().for_each(|g| *g *= s);
            });
        }
    }
    norm
}

/// Σ x² in f64, chunk by chunk across the pool and then over the chunks in
/// order, so the sum is the same on any number of threads.
fn sum_of_squares(x: &[f32]) -> f64 {
    let mut partial = vec![0.0f64; x.len().div_ceil(parallel::CHUNK)];
    let out = Shared::new(&mut partial);
    parallel::chunks(x.len(), &|r| {
        let sum = x[r.clone()].iter().map(|&g| (g as f64) * (g as f64)).sum();
        // SAFETY: each chunk writes its own slot.
        unsafe { out.range(r.start / parallel::CHUNK, 1)[0] = sum };
    });
    partial.iter().sum()
}

/// Learning rate at `step` (0-based) of `total`: linear warm-up over
/// `warmup` steps to `max`, then a cosine decay to `min` at the end.
pub fn learning_rate(step: usize, total: usize, warmup: usize, max: f32, min: f32) -> f32 {
    if step < warmup {
        return max * (step + 1) as f32 / warmup as f32;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f32 / span as f32).min(1.0);
    min + 0.5 * (1.0 + (std::f32::consts::PI * progress).cos()) * (max - min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(value: Vec<f32>, grad: Vec<f32>, shape: Vec<usize>) -> Param {
        Param {
            name: "p".into(),
            shape,
            value,
            grad,
            trainable: true,
        }
    }

    #[test]
    fn first_adam_step_moves_each_weight_by_lr_against_its_gradient_sign() {
        // With bias correction, step 1's update is g / (|g| + eps) ≈ ±1.
        let mut params = vec![param(vec![1.0, -2.0], vec![0.5, -3.0], vec![2])];
        let mut opt = AdamW::new(AdamWConfig::default(), &params);
        opt.step(&mut params, 0.1);
        assert!((params[0].value[0] - 0.9).abs() < 1e-6);
        assert!((params[0].value[1] + 1.9).abs() < 1e-6);
    }

    #[test]
    fn weight_decay_shrinks_matrices_but_not_vectors() {
        let mut params = vec![
            param(vec![1.0; 4], vec![0.0; 4], vec![2, 2]),
            param(vec![1.0; 2], vec![0.0; 2], vec![2]),
        ];
        let mut opt = AdamW::new(AdamWConfig::default(), &params);
        opt.step(&mut params, 0.5);
        assert!((params[0].value[0] - 0.95).abs() < 1e-6);
        assert_eq!(params[1].value[0], 1.0);
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let mut params = vec![param(vec![0.0; 2], vec![3.0, 4.0], vec![2])];
        assert_eq!(clip_grad_norm(&mut params, 1.0), 5.0);
        let g = params[0].grad.clone();
        assert!((g[0].hypot(g[1]) - 1.0).abs() < 1e-5);
        // Under the limit nothing changes.
        let again = clip_grad_norm(&mut params, 10.0);
        assert!((again - 1.0).abs() < 1e-5);
    }

    #[test]
    fn schedule_warms_up_then_decays_to_min() {
        let lr = |s| learning_rate(s, 110, 10, 1.0, 0.1);
        assert!((lr(0) - 0.1).abs() < 1e-6);
        assert!((lr(9) - 1.0).abs() < 1e-6);
        assert!((lr(10) - 1.0).abs() < 1e-6);
        assert!((lr(60) - 0.55).abs() < 1e-5);
        assert!((lr(110) - 0.1).abs() < 1e-6);
        assert!(lr(30) > lr(31));
    }
}
