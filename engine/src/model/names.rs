//! Tensor names: llama.cpp's GGUF convention and Hugging Face's (which
//! differs between Llama-style and GPT-2 checkpoints). The model code asks
//! for a part by meaning; this table spells it for the file.

/// A weight's role in a transformer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    TokenEmbedding,
    /// Learned absolute positions (GPT-2).
    PositionEmbedding,
    OutputNorm,
    Output,
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    /// Q, K and V fused in one matrix (GPT-2, Phi-3).
    AttnQkv,
    AttnOutput,
    /// Per-head RMSNorms of the queries and keys (Qwen3, Gemma 3).
    AttnQNorm,
    AttnKNorm,
    /// The norm of the attention block's output, before the residual add
    /// (Gemma 2/3).
    PostAttnNorm,
    FfnNorm,
    FfnGate,
    FfnUp,
    /// Gate and up projections fused in one matrix, gate rows first (Phi-3).
    FfnGateUp,
    FfnDown,
    /// The norm of the feed-forward block's output (Gemma 2/3).
    PostFfnNorm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Gguf,
    /// Llama, Qwen2/3, Mistral (`model.layers.N.self_attn.q_proj`).
    HuggingFace,
    /// Gemma 2/3: Llama's names, but four norms per block, of which
    /// `post_attention_layernorm` is the attention output's (Llama's name
    /// for the feed-forward input's).
    HuggingFaceGemma,
    /// GPT-2 (`transformer.h.N.attn.c_attn`); some checkpoints leave out the
    /// `transformer.` prefix.
    HuggingFaceGpt2 {
        prefixed: bool,
    },
    /// Gemma 3's language model inside a multimodal checkpoint
    /// (`Gemma3ForConditionalGeneration`): [`Naming::HuggingFaceGemma`]'s
    /// names under the language model's prefix.
    HuggingFaceGemmaNested(Nesting),
}

/// Where a multimodal checkpoint keeps its language model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// `model.language_model.layers.N…`, the head `lm_head`: how
    /// transformers holds the model since 4.52 (and some saved it).
    ModelLanguageModel,
    /// `language_model.model.layers.N…`, the head `language_model.lm_head`:
    /// how the published checkpoints, and transformers 5's saves, store it.
    LanguageModel,
}

impl Nesting {
    /// Which nesting `has` (whether the checkpoint has a tensor) shows,
    /// looking for the token embedding.
    pub fn detect(has: impl Fn(&str) -> bool) -> Option<Nesting> {
        [Nesting::ModelLanguageModel, Nesting::LanguageModel]
            .into_iter()
            .find(|&n| {
                has(&Naming::HuggingFaceGemmaNested(n).name(Part::TokenEmbedding, 0, "weight"))
            })
    }

    /// `name` (a text model's) under this nesting's prefix.
    fn nest(self, name: String) -> String {
        match (self, name.strip_prefix("model.")) {
            (Nesting::ModelLanguageModel, Some(rest)) => format!("model.language_model.{rest}"),
            (Nesting::ModelLanguageModel, None) => name,
            (Nesting::LanguageModel, _) => format!("language_model.{name}"),
        }
    }
}

impl Naming {
    /// The name of `part`'s weight (`suffix` "weight") or bias ("bias") in
    /// block `layer` (ignored for model-level parts).
    pub fn name(self, part: Part, layer: usize, suffix: &str) -> String {
        use Part::*;
        let stem = match self {
            Naming::HuggingFaceGemmaNested(nesting) => {
                return nesting.nest(Naming::HuggingFaceGemma.name(part, layer, suffix))
            }
            Naming::Gguf => match part {
                TokenEmbedding => "token_embd".to_string(),
                PositionEmbedding => "position_embd".to_string(),
                OutputNorm => "output_norm".to_string(),
                Output => "output".to_string(),
                _ => format!("blk.{layer}.{}", gguf_block_part(part)),
            },
            Naming::HuggingFace | Naming::HuggingFaceGemma => match part {
                TokenEmbedding => "model.embed_tokens".to_string(),
                OutputNorm => "model.norm".to_string(),
                Output => "lm_head".to_string(),
                _ => {
                    let gemma = self != Naming::HuggingFace;
                    format!("model.layers.{layer}.{}", hf_block_part(part, gemma))
                }
            },
            Naming::HuggingFaceGpt2 { prefixed } => {
                let prefix = if prefixed { "transformer." } else { "" };
                match part {
                    TokenEmbedding => format!("{prefix}wte"),
                    PositionEmbedding => format!("{prefix}wpe"),
                    OutputNorm => format!("{prefix}ln_f"),
                    // The head sits outside `transformer`.
                    Output => "lm_head".to_string(),
                    _ => format!("{prefix}h.{layer}.{}", hf_gpt2_block_part(part)),
                }
            }
        };
        format!("{stem}.{suffix}")
    }
}

/// The block projections a LoRA adapter can sit on, with the module name
/// `peft` gives each (`target_modules`).
pub const ADAPTABLE: [(Part, &str); 7] = [
    (Part::AttnQ, "q_proj"),
    (Part::AttnK, "k_proj"),
    (Part::AttnV, "v_proj"),
    (Part::AttnOutput, "o_proj"),
    (Part::FfnGate, "gate_proj"),
    (Part::FfnUp, "up_proj"),
    (Part::FfnDown, "down_proj"),
];

impl Naming {
    /// Which adaptable projection (see [`ADAPTABLE`]) of which block the
    /// weight called `name` is, if it is one.
    pub fn adaptable(self, name: &str) -> Option<(Part, usize)> {
        if matches!(self, Naming::HuggingFaceGpt2 { .. }) {
            return None;
        }
        // The block number is the name's first all-digit segment.
        let layer = name
            .split('.')
            .find(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))?
            .parse()
            .ok()?;
        ADAPTABLE
            .iter()
            .map(|&(part, _)| part)
            .find(|&part| self.name(part, layer, "weight") == name)
            .map(|part| (part, layer))
    }
}

fn gguf_block_part(part: Part) -> &'static str {
    match part {
        Part::AttnNorm => "attn_norm",
        Part::AttnQ => "attn_q",
        Part::AttnK => "attn_k",
        Part::AttnV => "attn_v",
        Part::AttnQkv => "attn_qkv",
        Part::AttnOutput => "attn_output",
        Part::AttnQNorm => "attn_q_norm",
        Part::AttnKNorm => "attn_k_norm",
        Part::PostAttnNorm => "post_attention_norm",
        Part::FfnNorm => "ffn_norm",
        Part::FfnGate => "ffn_gate",
        Part::FfnUp => "ffn_up",
        // llama.cpp keeps Phi-3's fused projection under the up's name.
        Part::FfnGateUp => "ffn_up",
        Part::FfnDown => "ffn_down",
        Part::PostFfnNorm => "post_ffw_norm",
        _ => unreachable!("model-level part"),
    }
}

fn hf_block_part(part: Part, gemma: bool) -> &'static str {
    match part {
        Part::AttnNorm => "input_layernorm",
        Part::AttnQ => "self_attn.q_proj",
        Part::AttnK => "self_attn.k_proj",
        Part::AttnV => "self_attn.v_proj",
        Part::AttnOutput => "self_attn.o_proj",
        Part::AttnQkv => "self_attn.qkv_proj",
        Part::AttnQNorm => "self_attn.q_norm",
        Part::AttnKNorm => "self_attn.k_norm",
        Part::PostAttnNorm => "post_attention_layernorm",
        Part::FfnNorm if gemma => "pre_feedforward_layernorm",
        Part::FfnNorm => "post_attention_layernorm",
        Part::PostFfnNorm => "post_feedforward_layernorm",
        Part::FfnGate => "mlp.gate_proj",
        Part::FfnGateUp => "mlp.gate_up_proj",
        Part::FfnUp => "mlp.up_proj",
        Part::FfnDown => "mlp.down_proj",
        _ => unreachable!("model-level part"),
    }
}

fn hf_gpt2_block_part(part: Part) -> &'static str {
    match part {
        Part::AttnNorm => "ln_1",
        Part::AttnQkv => "attn.c_attn",
        Part::AttnOutput => "attn.c_proj",
        Part::FfnNorm => "ln_2",
        Part::FfnUp => "mlp.c_fc",
        Part::FfnDown => "mlp.c_proj",
        _ => unreachable!("not a GPT-2 block part"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptable_projections_are_found_by_name() {
        assert_eq!(
            Naming::Gguf.adaptable("blk.12.ffn_down.weight"),
            Some((Part::FfnDown, 12))
        );
        assert_eq!(
            Naming::HuggingFace.adaptable("model.layers.3.self_attn.v_proj.weight"),
            Some((Part::AttnV, 3))
        );
        assert_eq!(Naming::Gguf.adaptable("blk.1.attn_norm.weight"), None);
        assert_eq!(
            Naming::HuggingFace.adaptable("model.embed_tokens.weight"),
            None
        );
    }

    #[test]
    fn both_conventions_spell_parts() {
        assert_eq!(
            Naming::Gguf.name(Part::AttnQ, 3, "weight"),
            "blk.3.attn_q.weight"
        );
        assert_eq!(
            Naming::Gguf.name(Part::Output, 0, "weight"),
            "output.weight"
        );
        assert_eq!(
            Naming::HuggingFace.name(Part::FfnDown, 2, "weight"),
            "model.layers.2.mlp.down_proj.weight"
        );
        assert_eq!(
            Naming::HuggingFace.name(Part::AttnK, 0, "bias"),
            "model.layers.0.self_attn.k_proj.bias"
        );
        let gpt2 = Naming::HuggingFaceGpt2 { prefixed: true };
        assert_eq!(
            gpt2.name(Part::AttnQkv, 1, "weight"),
            "transformer.h.1.attn.c_attn.weight"
        );
        assert_eq!(gpt2.name(Part::Output, 0, "weight"), "lm_head.weight");
        let gemma = Naming::HuggingFaceGemma;
        assert_eq!(
            gemma.name(Part::PostAttnNorm, 1, "weight"),
            "model.layers.1.post_attention_layernorm.weight"
        );
        assert_eq!(
            gemma.name(Part::FfnNorm, 1, "weight"),
            "model.layers.1.pre_feedforward_layernorm.weight"
        );
        assert_eq!(
            Naming::Gguf.name(Part::PostFfnNorm, 4, "weight"),
            "blk.4.post_ffw_norm.weight"
        );
        let bare = Naming::HuggingFaceGpt2 { prefixed: false };
        assert_eq!(
            bare.name(Part::PositionEmbedding, 0, "weight"),
            "wpe.weight"
        );
        assert_eq!(
            Naming::Gguf.name(Part::AttnQkv, 0, "bias"),
            "blk.0.attn_qkv.bias"
        );
    }
}
