//! Monologue in the browser: the engine compiled to wasm32 and exported
//! with wasm-bindgen to the chat page's Web Worker (`web/page/worker.js`).
//!
//! The API is small and speaks JSON strings, which the worker parses:
//!
//! ```js
//! const engine = new Engine(bytes, "SmolLM2.gguf");  // throws a clear message on bad input
//! engine.send("Hello!", JSON.stringify({ temperature: 0, think: true }));
//! while (true) {
//!   const step = JSON.parse(engine.step());           // { pieces, done, tokens, reasoning_tokens }
//!   if (step.done) break;                            // (the worker yields to its event loop here)
//! }
//! const { pieces, stats } = JSON.parse(engine.finish());
//! ```

pub mod chat;
pub mod kernel_check;

use chat::{SendOptions, WebChat};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`, in milliseconds: the worker's monotonic clock.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

fn clock_ns() -> u64 {
    (performance_now() * 1e6) as u64
}

/// A loaded model and its conversation.
#[wasm_bindgen]
pub struct Engine {
    chat: WebChat,
}

#[wasm_bindgen]
impl Engine {
    /// Load a GGUF file from its bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8], name: &str) -> Result<Engine, JsError> {
        if cfg!(target_arch = "wasm32") {
            monologue::profile::set_clock(clock_ns);
        }
        let chat = WebChat::load(bytes, name).map_err(js_error)?;
        Ok(Engine { chat })
    }

    /// The model and backend, as JSON.
    pub fn summary(&self) -> String {
        to_json(&self.chat.summary())
    }

    /// A new conversation with an optional system message.
    #[wasm_bindgen(js_name = newChat)]
    pub fn new_chat(&mut self, system: Option<String>) -> Result<(), JsError> {
        self.chat.new_chat(system.as_deref()).map_err(js_error)
    }

    /// Forget the conversation, keeping its system message.
    pub fn reset(&mut self) {
        self.chat.reset();
    }

    /// Start a reply to `text`. `options` is JSON (see [`SendOptions`]).
    pub fn send(&mut self, text: &str, options: &str) -> Result<(), JsError> {
        let options: SendOptions = if options.trim().is_empty() {
            SendOptions::default()
        } else {
            serde_json::from_str(options)
                .map_err(|e| JsError::new(&format!("bad send options: {e}")))?
        };
        self.chat.send(text, &options).map_err(js_error)
    }

    /// One token of the reply, as JSON `{pieces, done, tokens, reasoning_tokens}`.
    pub fn step(&mut self) -> Result<String, JsError> {
        self.chat.step().map(|r| to_json(&r)).map_err(js_error)
    }

    /// Stop the reply after the token already streamed.
    pub fn stop(&mut self) {
        self.chat.stop();
    }

    /// Close the reply: JSON `{pieces, stats}`.
    pub fn finish(&mut self) -> Result<String, JsError> {
        let (pieces, stats) = self.chat.finish().map_err(js_error)?;
        Ok(to_json(
            &serde_json::json!({ "pieces": pieces, "stats": stats }),
        ))
    }
}

/// Compares this build's quantized dot products with the scalar reference
/// on random rows: JSON `{simd128, errors: [[format, max relative error]], rows}`.
#[wasm_bindgen(js_name = kernelCheck)]
pub fn kernel_check(seed: u32) -> String {
    to_json(&kernel_check::run(seed as u64))
}

fn js_error(e: monologue::Error) -> JsError {
    JsError::new(&e.to_string())
}

fn to_json(value: &impl serde::Serialize) -> String {
    // Our report types hold only strings and numbers: serialising cannot fail.
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
