//! The sampler on crafted logits: each filter keeps exactly the tokens its
//! definition says, and a seed fixes the draws.

use monologue::generate::{Sampler, SamplerConfig};
use std::collections::HashSet;

/// Logits whose softmax at temperature 1 is `probs` (up to a constant).
fn logits_for(probs: &[f32]) -> Vec<f32> {
    probs.iter().map(|p| p.ln()).collect()
}

/// Every filter off, temperature 1: tests switch on one thing at a time.
fn neutral() -> SamplerConfig {
    SamplerConfig {
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        temperature: 1.0,
        ..Default::default()
    }
}

fn kept(config: SamplerConfig, logits: &[f32]) -> Vec<u32> {
    Sampler::new(config)
        .unwrap()
        .candidates(logits)
        .iter()
        .map(|c| c.id)
        .collect()
}

const PROBS: [f32; 6] = [0.05, 0.4, 0.1, 0.25, 0.15, 0.05];

#[test]
fn top_k_keeps_the_k_most_likely() {
    let logits = logits_for(&PROBS);
    assert_eq!(
        kept(
            SamplerConfig {
                top_k: 3,
                ..neutral()
            },
            &logits
        ),
        [1, 3, 4]
    );
    assert_eq!(
        kept(
            SamplerConfig {
                top_k: 1,
                ..neutral()
            },
            &logits
        ),
        [1]
    );
    assert_eq!(
        kept(
            SamplerConfig {
                top_k: 100,
                ..neutral()
            },
            &logits
        )
        .len(),
        6
    );
}

#[test]
fn top_p_keeps_the_smallest_set_reaching_p() {
    let logits = logits_for(&PROBS);
    // 0.4 + 0.25 = 0.65 < 0.7 ≤ 0.65 + 0.15.
    assert_eq!(
        kept(
            SamplerConfig {
                top_p: 0.7,
                ..neutral()
            },
            &logits
        ),
        [1, 3, 4]
    );
    assert_eq!(
        kept(
            SamplerConfig {
                top_p: 0.4,
                ..neutral()
            },
            &logits
        ),
        [1]
    );
    assert_eq!(
        kept(
            SamplerConfig {
                top_p: 0.41,
                ..neutral()
            },
            &logits
        ),
        [1, 3]
    );
}

#[test]
fn min_p_drops_tokens_below_a_share_of_the_best() {
    let logits = logits_for(&PROBS);
    // floor = 0.4 × 0.3 = 0.12: keeps 0.4, 0.25, 0.15.
    assert_eq!(
        kept(
            SamplerConfig {
                min_p: 0.3,
                ..neutral()
            },
            &logits
        ),
        [1, 3, 4]
    );
    assert_eq!(
        kept(
            SamplerConfig {
                min_p: 1.0,
                ..neutral()
            },
            &logits
        ),
        [1]
    );
}

#[test]
fn kept_probabilities_are_renormalised_at_the_temperature() {
    let logits = logits_for(&PROBS);
    let config = SamplerConfig {
        top_k: 2,
        temperature: 0.5,
        ..neutral()
    };
    let c = Sampler::new(config).unwrap().candidates(&logits);
    // (0.4² : 0.25²) normalised.
    let expected = 0.16 / (0.16 + 0.0625);
    assert!((c[0].prob - expected).abs() < 1e-5, "{:?}", c);
    assert!((c[0].prob + c[1].prob - 1.0).abs() < 1e-6);
}

#[test]
fn draws_stay_in_the_support_and_a_seed_repeats_them() {
    let logits = logits_for(&PROBS);
    let config = SamplerConfig {
        top_k: 3,
        seed: 42,
        ..neutral()
    };
    let draw = |config: SamplerConfig| {
        let mut s = Sampler::new(config).unwrap();
        (0..500)
            .map(|_| s.sample(&mut logits.clone(), &[]).unwrap())
            .collect::<Vec<_>>()
    };
    let a = draw(config.clone());
    assert_eq!(a, draw(config.clone()));
    assert_ne!(a, draw(SamplerConfig { seed: 43, ..config }));
    let support: HashSet<u32> = a.iter().copied().collect();
    assert_eq!(support, HashSet::from([1, 3, 4]));
    // Frequencies follow the renormalised probabilities (0.4/0.8 = 0.5 for id 1).
    let share = a.iter().filter(|&&id| id == 1).count() as f32 / a.len() as f32;
    assert!((share - 0.5).abs() < 0.08, "{share}");
}

#[test]
fn greedy_takes_the_argmax_after_bias_and_penalties() {
    let logits = logits_for(&PROBS);
    let mut greedy = Sampler::new(SamplerConfig::greedy()).unwrap();
    assert_eq!(greedy.sample(&mut logits.clone(), &[]).unwrap(), 1);
    let banned = SamplerConfig {
        logit_bias: vec![(1, f32::NEG_INFINITY)],
        ..SamplerConfig::greedy()
    };
    assert_eq!(
        Sampler::new(banned)
            .unwrap()
            .sample(&mut logits.clone(), &[])
            .unwrap(),
        3
    );
    // Token 1 seen three times: a frequency penalty of 1 costs it 3 nats.
    let freq = SamplerConfig {
        frequency_penalty: 1.0,
        ..SamplerConfig::greedy()
    };
    assert_eq!(
        Sampler::new(freq)
            .unwrap()
            .sample(&mut logits.clone(), &[1, 1, 1])
            .unwrap(),
        3
    );
}

#[test]
fn repetition_penalty_shrinks_positive_and_grows_negative_logits() {
    let s = Sampler::new(SamplerConfig {
        repeat_penalty: 2.0,
        ..SamplerConfig::greedy()
    })
    .unwrap();
    let mut logits = vec![4.0, -4.0, 4.0];
    s.adjust(&mut logits, &[0, 1]);
    assert_eq!(logits, [2.0, -8.0, 4.0]);
}

#[test]
fn bad_settings_are_refused() {
    for bad in [
        SamplerConfig {
            temperature: -1.0,
            ..Default::default()
        },
        SamplerConfig {
            top_p: 0.0,
            ..Default::default()
        },
        SamplerConfig {
            min_p: 1.5,
            ..Default::default()
        },
        SamplerConfig {
            repeat_penalty: 0.0,
            ..Default::default()
        },
    ] {
        assert!(Sampler::new(bad).is_err());
    }
}
