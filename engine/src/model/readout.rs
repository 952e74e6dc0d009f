//! What a forward pass reads back for choosing the next token: the whole
//! row of logits, or only what the sampler needs (which a GPU model finds
//! where the logits live).

use super::{Logits, Model, State};
use crate::error::Result;

/// What the sampler needs from each forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The whole row of logits.
    Logits,
    /// Only the argmax (plain greedy decoding).
    Argmax,
    /// The k largest logits with their ids.
    TopK(usize),
}

/// What a forward pass leaves for choosing the next token.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Logits(Vec<f32>),
    /// Greedy decoding: the backend already picked the argmax.
    Chosen(u32),
    /// The top-k candidates (id, logit), largest first.
    TopK(Vec<(u32, f32)>),
}

impl Need {
    /// Feeds `tokens` to `model` and reads back what is needed. Plain greedy
    /// decoding needs only the argmax and top-k sampling the k largest
    /// logits, which a GPU model finds without reading all logits back.
    pub fn forward(self, model: &dyn Model, state: &mut State, tokens: &[u32]) -> Result<Next> {
        Ok(match self {
            Need::Argmax => Next::Chosen(model.forward_argmax(state, tokens)?),
            Need::TopK(k) => Next::TopK(model.forward_top_k(state, tokens, k)?),
            Need::Logits => Next::Logits(model.forward(state, tokens, Logits::Last)?),
        })
    }
}
