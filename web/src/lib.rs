//! Monologue in the browser: the engine compiled to wasm32 and exported
//! with wasm-bindgen to the chat page's Web Worker (`web/page/worker.js`).
//!
//! The API is small and speaks JSON strings, which the worker parses:
//!
//! ```js
//! const engine = await Engine.load(bytes, "SmolLM2.gguf", "webgpu");  // or "cpu"; rejects with a clear message
//! engine.send("Hello!", JSON.stringify({ temperature: 0, think: true }));
//! for (;;) {
//!   const step = JSON.parse(await engine.step());  // { pieces, done, tokens, reasoning_tokens }
//!   if (step.done) break;
//! }
//! const { pieces, stats } = JSON.parse(engine.finish());
//! ```
//!
//! On WebGPU each step submits its forward pass and awaits the result
//! while the worker's event loop runs; on the CPU a step computes in place.

pub mod chat;
pub mod kernel_check;
#[cfg(all(feature = "threads", target_arch = "wasm32"))]
pub mod threads;

use chat::{cpu_backend_name, AdapterFiles, SendOptions, WebChat};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`, in milliseconds: the worker's monotonic clock.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;

    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// A panic in wasm ends in an `unreachable` trap that says nothing: the
/// message goes to the console first. Runs when the module starts, on
/// every thread.
#[wasm_bindgen(start)]
fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error(&format!("monologue panicked: {info}"))
    }));
}

fn clock_ns() -> u64 {
    (performance_now() * 1e6) as u64
}

/// A loaded model and its conversation. Shared with the futures of GPU
/// steps, which release it while they await the GPU (so `stop` gets in).
#[wasm_bindgen]
pub struct Engine {
    chat: Rc<RefCell<WebChat>>,
}

#[wasm_bindgen]
impl Engine {
    /// Load a GGUF file from its bytes on `backend`: `"cpu"` or
    /// `"webgpu"` (the browser's GPU through our WGSL kernels). A LoRA
    /// adapter's `adapter_config.json` text and `adapter_model.safetensors`
    /// bytes, when given, are merged in as the weights load.
    pub async fn load(
        bytes: Vec<u8>,
        name: String,
        backend: String,
        adapter_name: Option<String>,
        adapter_config: Option<String>,
        adapter_weights: Option<Vec<u8>>,
    ) -> Result<Engine, JsError> {
        if cfg!(target_arch = "wasm32") {
            monologue::profile::set_clock(clock_ns);
        }
        let adapter = match (adapter_config, adapter_weights) {
            (Some(config), Some(weights)) => Some(AdapterFiles {
                name: adapter_name.unwrap_or_else(|| "adapter".into()),
                config,
                weights,
            }),
            (None, None) => None,
            _ => {
                return Err(JsError::new(
                    "an adapter needs both adapter_config.json and adapter_model.safetensors",
                ))
            }
        };
        let lora = adapter.as_ref();
        let chat = match backend.as_str() {
            "cpu" => {
                let options = monologue::model::LoadOptions::default();
                WebChat::load_with(&bytes, &name, &options, cpu_backend_name(), lora)
                    .map_err(js_error)?
            }
            #[cfg(feature = "webgpu")]
            "webgpu" => {
                use monologue::backend::GpuOptions;
                use monologue::model::{Backend, LoadOptions};
                let options = GpuOptions::default();
                let gpu = monologue::backend::gpu::Gpu::open_async(&options)
                    .await
                    .map_err(js_error)?;
                let adapter = gpu.adapter();
                let described = format!(
                    "webgpu ({}{}{})",
                    if adapter.name.is_empty() {
                        "unnamed adapter"
                    } else {
                        &adapter.name
                    },
                    if gpu.has_f16() { ", shader-f16" } else { "" },
                    // Per-kernel times in the table, else whole passes.
                    if gpu.has_timestamps() { ", timestamps" } else { "" }
                );
                monologue::backend::gpu::Gpu::share(&options, std::sync::Arc::new(gpu));
                let load = LoadOptions {
                    backend: Backend::Wgpu(options),
                    ..LoadOptions::default()
                };
                WebChat::load_with(&bytes, &name, &load, described, lora).map_err(js_error)?
            }
            #[cfg(not(feature = "webgpu"))]
            "webgpu" => {
                return Err(JsError::new(
                    "this build of the engine has no WebGPU (the threaded CPU build): load pkg/ for WebGPU",
                ))
            }
            other => {
                return Err(JsError::new(&format!(
                    "unknown backend {other:?}: use \"cpu\" or \"webgpu\""
                )))
            }
        };
        Ok(Engine {
            chat: Rc::new(RefCell::new(chat)),
        })
    }

    /// The model and backend, as JSON.
    pub fn summary(&self) -> Result<String, JsError> {
        Ok(to_json(&self.chat()?.summary()))
    }

    /// A new conversation with an optional system message.
    #[wasm_bindgen(js_name = newChat)]
    pub fn new_chat(&self, system: Option<String>) -> Result<(), JsError> {
        self.chat()?.new_chat(system.as_deref()).map_err(js_error)
    }

    /// Forget the conversation, keeping its system message.
    pub fn reset(&self) -> Result<(), JsError> {
        self.chat()?.reset();
        Ok(())
    }

    /// The conversation so far as JSON (to move it to another engine).
    pub fn messages(&self) -> Result<String, JsError> {
        Ok(to_json(&self.chat()?.messages()))
    }

    /// Continue a conversation that [`Engine::messages`] gave.
    pub fn restore(&self, messages: &str) -> Result<(), JsError> {
        let messages = serde_json::from_str(messages)
            .map_err(|e| JsError::new(&format!("bad messages: {e}")))?;
        self.chat()?.restore(messages);
        Ok(())
    }

    /// Start a reply to `text`. `options` is JSON (see [`SendOptions`]).
    pub fn send(&self, text: &str, options: &str) -> Result<(), JsError> {
        let options = SendOptions::from_json(options).map_err(js_error)?;
        self.chat()?.send(text, &options).map_err(js_error)
    }

    /// One token of the reply: a promise of JSON
    /// `{pieces, done, tokens, reasoning_tokens}`.
    pub fn step(&self) -> js_sys::Promise {
        let chat = self.chat.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let report = step(&chat).await.map_err(JsValue::from)?;
            Ok(JsValue::from_str(&report))
        })
    }

    /// Stop the reply after the token already streamed.
    pub fn stop(&self) -> Result<(), JsError> {
        self.chat()?.stop();
        Ok(())
    }

    /// Close the reply: JSON `{pieces, stats}`.
    pub fn finish(&self) -> Result<String, JsError> {
        let (pieces, stats) = self.chat()?.finish().map_err(js_error)?;
        Ok(to_json(
            &serde_json::json!({ "pieces": pieces, "stats": stats }),
        ))
    }

    fn chat(&self) -> Result<std::cell::RefMut<'_, WebChat>, JsError> {
        self.chat.try_borrow_mut().map_err(|_| busy())
    }
}

/// One step; on the GPU the chat is released while the result is awaited.
async fn step(chat: &RefCell<WebChat>) -> Result<String, JsError> {
    let on_gpu = chat.try_borrow().map_err(|_| busy())?.on_gpu();
    if !on_gpu {
        let report = chat.try_borrow_mut().map_err(|_| busy())?.step();
        return report.map(|r| to_json(&r)).map_err(js_error);
    }
    #[cfg(not(feature = "webgpu"))]
    unreachable!("on_gpu is false without WebGPU");
    #[cfg(feature = "webgpu")]
    gpu_step(chat).await
}

/// A step on the GPU: submit, await the result with the chat released,
/// then accept it.
#[cfg(feature = "webgpu")]
async fn gpu_step(chat: &RefCell<WebChat>) -> Result<String, JsError> {
    let submitted = chat.try_borrow_mut().map_err(|_| busy())?.submit_step();
    let report = match submitted.map_err(js_error)? {
        Some(s) => {
            let next = s.readback.read().await;
            chat.try_borrow_mut()
                .map_err(|_| busy())?
                .accept_step(&s.feed, next, s.timing)
        }
        // Done (or stopped): a step with nothing to feed says so.
        None => chat.try_borrow_mut().map_err(|_| busy())?.step(),
    };
    report.map(|r| to_json(&r)).map_err(js_error)
}

/// Compares this build's quantized dot products with the scalar reference
/// on random rows: JSON `{simd128, errors: [[format, max relative error]], rows}`.
#[wasm_bindgen(js_name = kernelCheck)]
pub fn kernel_check(seed: u32) -> String {
    to_json(&kernel_check::run(seed as u64))
}

fn busy() -> JsError {
    JsError::new("the engine is busy with a step: await it first")
}

fn js_error(e: monologue::Error) -> JsError {
    JsError::new(&e.to_string())
}

fn to_json(value: &impl serde::Serialize) -> String {
    // Our report types hold only strings and numbers: serialising cannot fail.
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
