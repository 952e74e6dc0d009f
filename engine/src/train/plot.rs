//! A training run's loss curves as a chart.

use super::run::StepRecord;
use crate::error::Result;
use crate::plot::{Plot, Series};

/// Training loss at every step and validation loss where it was measured.
pub fn loss_curves(history: &[StepRecord]) -> Result<Plot> {
    let train = Series {
        name: "train".into(),
        xs: history.iter().map(|r| r.step as f64).collect(),
        ys: history.iter().map(|r| r.loss as f64).collect(),
    };
    let (xs, ys) = history
        .iter()
        .filter_map(|r| r.val_loss.map(|v| (r.step as f64, v as f64)))
        .unzip();
    let mut series = vec![train];
    let validation = Series {
        name: "validation".into(),
        xs,
        ys,
    };
    if !validation.xs.is_empty() {
        series.push(validation);
    }
    Ok(Plot::line(series)?
        .with_title("loss")
        .with_labels("step", "cross-entropy (nats per token)"))
}

/// A GRPO run's mean reward at every step.
pub fn reward_curve(history: &[super::grpo::GrpoRecord]) -> Result<Plot> {
    let reward = Series {
        name: "mean reward".into(),
        xs: history.iter().map(|r| r.step as f64).collect(),
        ys: history.iter().map(|r| r.reward).collect(),
    };
    Ok(Plot::line(vec![reward])?
        .with_title("GRPO reward")
        .with_labels("step", "reward"))
}
