//! Turning a model's logits into text: sampling, and (soon) the generation
//! loop with stop rules, streaming and reasoning traces.

mod rng;
pub mod sampler;

pub use rng::Rng;
pub use sampler::{argmax, Candidate, Sampler, SamplerConfig};
