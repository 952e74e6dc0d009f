//! Turning a model's logits into text: sampling, stop rules, chat templates,
//! reasoning traces and the streaming generation loop.

pub mod chat;
pub mod chat_template;
mod generator;
mod py_json;
pub mod reasoning;
mod run;
pub mod sampler;
pub mod settings;
pub mod stop;
mod strftime;

pub use crate::model::{Need, Next};
pub use crate::ops::rng::Rng;
pub use crate::ops::select::{argmax, top_k};
pub use chat::Message;
pub use chat_template::{ChatTemplate, RenderOptions};
pub use generator::Generator;
pub use run::{
    generate, Distribution, GenerateOptions, Generation, StopReason, TextKind, Timings, TokenRecord,
};
pub use sampler::{Candidate, Sampler, SamplerConfig};
pub use stop::StopStrings;
