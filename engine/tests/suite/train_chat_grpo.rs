//! GRPO on a pretrained chat model (`finetune::rl`): sampled with
//! the policy's current weights through the inference path, it raises the
//! reward it is given, with LoRA and in full, moving away from its
//! reference as it does.

use crate::common::hf_reference::fixture;
use monologue::finetune::{self, rl::ChatGrpo, rl::ChatProblem};
use monologue::generate::Message;
use monologue::train::grpo::GrpoConfig;
use monologue::train::lora::LoraConfig;

fn problems() -> Vec<ChatProblem> {
    ["Say something.", "Write a word.", "Go on."]
        .iter()
        .map(|q| ChatProblem {
            messages: vec![Message::user(*q)],
            answer: String::new(),
        })
        .collect()
}

/// The share of a reply's characters that are `e`: something a random
/// model can be taught within a few steps.
fn share_of_e(reply: &str, _: &str) -> monologue::Result<f64> {
    let n = reply.chars().count().max(1);
    Ok(reply.chars().filter(|&c| c == 'e').count() as f64 / n as f64)
}

#[test]
fn grpo_raises_the_reward_with_lora_and_in_full() {
    for lora in [
        Some(LoraConfig {
            rank: 8,
            alpha: 16.0,
            ..LoraConfig::default()
        }),
        None,
    ] {
        let what = if lora.is_some() { "lora" } else { "full" };
        let (model, text) = finetune::open(&fixture("qwen2").display().to_string(), lora).unwrap();
        let config = GrpoConfig {
            group: 8,
            prompts: 3,
            // Every weight moves at once in full: a smaller step.
            lr: if what == "lora" { 1e-2 } else { 2e-3 },
            max_new: 6,
            updates: 2,
            beta: 0.01,
            ..GrpoConfig::default()
        };
        let mut rl = ChatGrpo::new(model, text, config, 7).unwrap();
        let set = problems();
        let mut rewards = Vec::new();
        for _ in 0..25 {
            let r = rl.step(&set, &mut share_of_e).unwrap();
            rewards.push(r.reward);
        }
        let first: f64 = rewards[..5].iter().sum::<f64>() / 5.0;
        let last: f64 = rewards[20..].iter().sum::<f64>() / 5.0;
        eprintln!(
            "{what}: reward {first:.3} → {last:.3}; kl {:.4}",
            rl.history[24].kl
        );
        assert!(last > first + 0.2, "{what}: reward {first:.3} → {last:.3}");
        // The first step's first update is at the reference: KL grows from
        // (nearly) nothing (a step whose groups all tie updates nothing and
        // measures no KL).
        let most = rl.history.iter().map(|r| r.kl).fold(0.0, f64::max);
        assert!(
            most > 2.0 * rl.history[0].kl,
            "{what}: the policy did not move from the reference"
        );
    }
}

/// An adapter that arrives trained (after SFT) is its own reference: the
/// KL of GRPO's first update is zero, not the distance to the base.
#[test]
fn a_trained_adapter_is_its_own_reference() {
    use monologue::finetune::FineTune;
    use monologue::train::run::TrainConfig;
    let model = fixture("qwen2").display().to_string();
    let chats = vec![monologue::finetune::sft::Conversation {
        messages: vec![Message::user("Say e."), Message::assistant("eee")],
    }];
    let lora = LoraConfig {
        rank: 4,
        alpha: 8.0,
        ..LoraConfig::default()
    };
    let cfg = TrainConfig {
        batch: 1,
        seq: 128,
        steps: 5,
        lr: 2e-2,
        min_lr: 2e-2,
        warmup: 0,
        eval_every: 0,
        ..TrainConfig::default()
    };
    let mut ft = FineTune::start(&model, Some(lora), &chats, cfg, 0.0).unwrap();
    for _ in 0..5 {
        ft.step().unwrap();
    }
    let dir = std::env::temp_dir().join(format!("monologue-grpo-ref-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    ft.save(&dir).unwrap();
    let (policy, text) = finetune::open(&dir.display().to_string(), None).unwrap();
    let config = GrpoConfig {
        group: 8,
        prompts: 3,
        max_new: 6,
        updates: 1,
        ..GrpoConfig::default()
    };
    let mut rl = ChatGrpo::new(policy, text, config, 3).unwrap();
    let record = rl.step(&problems(), &mut share_of_e).unwrap();
    assert!(record.frac_zero_std < 1.0, "some group must differ");
    assert!(record.kl.abs() < 1e-6, "first-update KL {}", record.kl);
}

/// A think budget closes the reasoning of held-out replies for the model
/// (`</think>` written after that many tokens), which then answers; a
/// random model left alone never closes it.
#[test]
fn a_think_budget_closes_held_out_reasoning() {
    let lora = LoraConfig {
        rank: 4,
        alpha: 8.0,
        ..LoraConfig::default()
    };
    let (model, text) =
        finetune::open(&fixture("qwen2").display().to_string(), Some(lora)).unwrap();
    let config = GrpoConfig {
        max_new: 12,
        ..GrpoConfig::default()
    };
    let mut rl = ChatGrpo::new(model, text, config, 1).unwrap();
    rl.think = true;
    let mut closed =
        |reply: &str, _: &str| Ok(f64::from(u8::from(reply.matches("</think>").count() == 1)));
    let left_alone = rl.accuracy(&problems(), &mut closed).unwrap();
    assert_eq!(left_alone, 0.0);
    rl.think_budget = Some(3);
    let budgeted = rl.accuracy(&problems(), &mut closed).unwrap();
    assert_eq!(budgeted, 1.0);
}
