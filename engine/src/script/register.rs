//! Registration with documentation: every function goes into the engine
//! with its doc comment as rhai metadata, which `:help` and completion read.

use super::Shared;
use rhai::{Engine, FuncRegistration};
use std::sync::Arc;

/// A function called `name`, documented by `doc` (one or more lines).
pub fn func(name: &str, doc: &str) -> FuncRegistration {
    FuncRegistration::new(name).with_comments([comment(doc)])
}

/// A property getter (`x.name`), documented by `doc`.
pub fn getter(name: &str, doc: &str) -> FuncRegistration {
    FuncRegistration::new_getter(name).with_comments([comment(doc)])
}

fn comment(doc: &str) -> String {
    doc.lines()
        .map(|l| format!("/// {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn register_all(engine: &mut Engine, shared: &Arc<Shared>) {
    super::tensor_api::register(engine);
    super::model_api::register(engine, shared);
    super::tokenizer_api::register(engine);
    super::inspect_api::register(engine, shared);
    super::profile_api::register(engine, shared);
    super::plot_api::register(engine);
    super::train_api::register(engine, shared);
    super::rlvr_api::register(engine, shared);
}
