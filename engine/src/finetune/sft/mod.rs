//! Supervised fine-tuning data: conversations in, training rows out.
//!
//! ```text
//! FILE.jsonl ─► chat_data::read (one {"messages": [...]} per line)
//!            ─► encode::ChatEncoder (the model's chat template, the
//!               assistant's tokens marked: only they are scored)
//!            ─► pack::pack (documents packed into rows of `seq` tokens,
//!               each row remembering where its documents start)
//! ```

pub mod chat_data;
pub mod encode;
pub mod pack;

pub use chat_data::{read_jsonl, Conversation};
pub use encode::{ChatEncoder, Encoded};
pub use pack::{pack, PackStats, Row};
