//! Turning a model's logits into text: sampling, and (soon) the generation
//! loop with stop rules, streaming and reasoning traces.

pub mod chat;
pub mod chat_template;
pub mod reasoning;
mod rng;
pub mod sampler;

pub use rng::Rng;
pub use sampler::{argmax, Candidate, Sampler, SamplerConfig};
