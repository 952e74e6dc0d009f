//! Rich display in evcxr's Jupyter kernel (Rust cells). evcxr shows a
//! cell's value by calling its `evcxr_display` method, which prints MIME
//! blocks between `EVCXR_BEGIN_CONTENT type` and `EVCXR_END_CONTENT`.
//!
//! ```text
//! :dep monologue = { path = "../engine" }
//! let lm = monologue::LanguageModel::load("smollm2", &Default::default())?;
//! lm.show_tokens("Hello, world")     // coloured token spans
//! ```

use crate::plot::Plot;
use crate::profile::Profile;
use crate::rich::{self, TokenView, TopK};
use crate::tensor::Tensor;

fn emit(mime: &str, body: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{body}\nEVCXR_END_CONTENT");
}

impl Tensor {
    pub fn evcxr_display(&self) {
        let text = self.pretty();
        emit("text/plain", &text);
        emit("text/html", &format!("<pre>{}</pre>", rich::escape(&text)));
    }
}

impl Plot {
    pub fn evcxr_display(&self) {
        match self.to_svg() {
            Ok(svg) => emit("image/svg+xml", &svg),
            Err(e) => emit("text/plain", &format!("the plot could not be drawn: {e}")),
        }
    }
}

impl Profile {
    pub fn evcxr_display(&self) {
        emit("text/plain", &self.table());
        emit("text/html", &rich::profile_html(self));
    }
}

impl TokenView {
    pub fn evcxr_display(&self) {
        emit("text/plain", &self.text());
        emit("text/html", &self.html());
    }
}

impl TopK {
    pub fn evcxr_display(&self) {
        emit("text/plain", &self.text());
        emit("text/html", &self.html());
    }
}
