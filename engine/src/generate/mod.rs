//! Turning a model's logits into text: sampling, stop rules, chat templates,
//! reasoning traces and the streaming generation loop.

pub mod chat;
pub mod chat_template;
mod generator;
mod py_json;
pub mod reasoning;
mod rng;
mod run;
pub mod sampler;
pub mod stop;
mod strftime;

pub use chat::Message;
pub use chat_template::{ChatTemplate, RenderOptions};
pub use generator::{Generator, Need, Next};
pub use rng::Rng;
pub use run::{
    generate, Distribution, GenerateOptions, Generation, StopReason, TextKind, Timings, TokenRecord,
};
pub use sampler::{argmax, top_k, Candidate, Sampler, SamplerConfig};
pub use stop::StopStrings;
