//! Element types: plain floats and the GGUF quantized block formats.
//!
//! A quantized tensor is a sequence of fixed-size blocks along its innermost
//! dimension; `block_len` elements are packed into `block_bytes` bytes. Plain
//! types are blocks of one element.

use std::fmt;

#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    IQ4_NL,
    IQ4_XS,
}

impl DType {
    pub const ALL: [DType; 15] = [
        DType::F32,
        DType::F16,
        DType::BF16,
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q2_K,
        DType::Q3_K,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
        DType::IQ4_NL,
        DType::IQ4_XS,
    ];

    /// The quantized block formats, in the order benchmarks list them.
    pub const QUANTIZED: [DType; 12] = [
        DType::Q8_0,
        DType::Q4_0,
        DType::Q4_1,
        DType::Q5_0,
        DType::Q5_1,
        DType::Q2_K,
        DType::Q3_K,
        DType::Q4_K,
        DType::Q5_K,
        DType::Q6_K,
        DType::IQ4_NL,
        DType::IQ4_XS,
    ];

    /// Elements per block (1 for plain floats).
    pub const fn block_len(self) -> usize {
        match self {
            DType::F32 | DType::F16 | DType::BF16 => 1,
            DType::Q8_0 | DType::Q4_0 | DType::Q4_1 | DType::Q5_0 | DType::Q5_1 => 32,
            DType::IQ4_NL => 32,
            DType::Q2_K | DType::Q3_K | DType::Q4_K | DType::Q5_K | DType::Q6_K => 256,
            DType::IQ4_XS => 256,
        }
    }

    /// Bytes per block, exactly as laid out in a GGUF file.
    pub const fn block_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
            DType::Q8_0 => 2 + 32,     // f16 scale, 32 × i8
            DType::Q4_0 => 2 + 16,     // f16 scale, 32 × 4-bit
            DType::Q4_1 => 2 + 2 + 16, // f16 scale, f16 min, 32 × 4-bit
            DType::Q5_0 => 2 + 4 + 16, // f16 scale, 32 high bits, 32 × 4-bit
            DType::Q5_1 => 2 + 2 + 4 + 16,
            DType::Q2_K => 16 + 64 + 2 + 2,
            DType::Q3_K => 32 + 64 + 12 + 2,
            DType::Q4_K => 2 + 2 + 12 + 128,
            DType::Q5_K => 2 + 2 + 12 + 32 + 128,
            DType::Q6_K => 128 + 64 + 16 + 2,
            DType::IQ4_NL => 2 + 16,
            DType::IQ4_XS => 2 + 2 + 4 + 128,
        }
    }

    /// The 32-weight format llama.cpp uses instead of this K-quant for a
    /// tensor whose rows are not a whole number of 256-weight super-blocks
    /// (`None` for the formats that have no such limit).
    pub const fn short_row_fallback(self) -> Option<DType> {
        match self {
            DType::Q2_K | DType::Q3_K | DType::IQ4_XS => Some(DType::IQ4_NL),
            DType::Q4_K => Some(DType::Q5_0),
            DType::Q5_K => Some(DType::Q5_1),
            DType::Q6_K => Some(DType::Q8_0),
            _ => None,
        }
    }

    pub const fn is_quantized(self) -> bool {
        self.block_len() > 1
    }

    /// Bytes needed for `n` elements; `None` if `n` is not a whole number of
    /// blocks or the size overflows.
    pub fn bytes_for(self, n: usize) -> Option<usize> {
        if !n.is_multiple_of(self.block_len()) {
            return None;
        }
        (n / self.block_len()).checked_mul(self.block_bytes())
    }

    /// The type's name as GGUF, llama.cpp and the `gguf` Python package print it.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "F32",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::Q8_0 => "Q8_0",
            DType::Q4_0 => "Q4_0",
            DType::Q4_1 => "Q4_1",
            DType::Q5_0 => "Q5_0",
            DType::Q5_1 => "Q5_1",
            DType::Q2_K => "Q2_K",
            DType::Q3_K => "Q3_K",
            DType::Q4_K => "Q4_K",
            DType::Q5_K => "Q5_K",
            DType::Q6_K => "Q6_K",
            DType::IQ4_NL => "IQ4_NL",
            DType::IQ4_XS => "IQ4_XS",
        }
    }

    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    /// The numeric id of the type in a GGUF file (`ggml_type`).
    pub const fn gguf_id(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::F16 => 1,
            DType::Q4_0 => 2,
            DType::Q4_1 => 3,
            DType::Q5_0 => 6,
            DType::Q5_1 => 7,
            DType::Q8_0 => 8,
            DType::Q2_K => 10,
            DType::Q3_K => 11,
            DType::Q4_K => 12,
            DType::Q5_K => 13,
            DType::Q6_K => 14,
            DType::IQ4_NL => 20,
            DType::IQ4_XS => 23,
            DType::BF16 => 30,
        }
    }

    pub fn from_gguf_id(id: u32) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.gguf_id() == id)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::from_name(d.name()), Some(d));
            assert_eq!(DType::from_gguf_id(d.gguf_id()), Some(d));
        }
        assert_eq!(DType::from_gguf_id(16), None, "IQ2_XXS has no kernels");
    }

    #[test]
    fn sizes_refuse_partial_blocks() {
        assert_eq!(DType::Q4_1.bytes_for(64), Some(40));
        assert_eq!(DType::Q4_1.bytes_for(33), None);
        assert_eq!(DType::Q6_K.bytes_for(512), Some(420));
        assert_eq!(DType::F32.bytes_for(usize::MAX), None);
    }
}
