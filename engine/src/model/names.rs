//! Tensor names: llama.cpp's GGUF convention and Hugging Face's. The model
//! code asks for a part by meaning; this table spells it for the file.

/// A weight's role in a transformer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    TokenEmbedding,
    OutputNorm,
    Output,
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    AttnOutput,
    FfnNorm,
    FfnGate,
    FfnUp,
    FfnDown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Naming {
    Gguf,
    HuggingFace,
}

impl Naming {
    /// The name of `part`'s weight (`suffix` "weight") or bias ("bias") in
    /// block `layer` (ignored for model-level parts).
    pub fn name(self, part: Part, layer: usize, suffix: &str) -> String {
        use Part::*;
        let stem = match self {
            Naming::Gguf => match part {
                TokenEmbedding => "token_embd".to_string(),
                OutputNorm => "output_norm".to_string(),
                Output => "output".to_string(),
                _ => format!("blk.{layer}.{}", gguf_block_part(part)),
            },
            Naming::HuggingFace => match part {
                TokenEmbedding => "model.embed_tokens".to_string(),
                OutputNorm => "model.norm".to_string(),
                Output => "lm_head".to_string(),
                _ => format!("model.layers.{layer}.{}", hf_block_part(part)),
            },
        };
        format!("{stem}.{suffix}")
    }
}

fn gguf_block_part(part: Part) -> &'static str {
    match part {
        Part::AttnNorm => "attn_norm",
        Part::AttnQ => "attn_q",
        Part::AttnK => "attn_k",
        Part::AttnV => "attn_v",
        Part::AttnOutput => "attn_output",
        Part::FfnNorm => "ffn_norm",
        Part::FfnGate => "ffn_gate",
        Part::FfnUp => "ffn_up",
        Part::FfnDown => "ffn_down",
        _ => unreachable!("model-level part"),
    }
}

fn hf_block_part(part: Part) -> &'static str {
    match part {
        Part::AttnNorm => "input_layernorm",
        Part::AttnQ => "self_attn.q_proj",
        Part::AttnK => "self_attn.k_proj",
        Part::AttnV => "self_attn.v_proj",
        Part::AttnOutput => "self_attn.o_proj",
        Part::FfnNorm => "post_attention_layernorm",
        Part::FfnGate => "mlp.gate_proj",
        Part::FfnUp => "mlp.up_proj",
        Part::FfnDown => "mlp.down_proj",
        _ => unreachable!("model-level part"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
