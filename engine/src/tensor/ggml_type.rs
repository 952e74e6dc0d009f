//! Every tensor type a GGUF file may declare (ggml's `ggml_type`), with its
//! block size, whether or not the engine computes with it.
//!
//! Files on the Hub carry types we have no kernels for (`IQ2_XXS`, `TQ1_0`,
//! `MXFP4`, …). Knowing each type's block length and bytes lets a reader
//! check such a tensor's size and list it (`monologue inspect`) instead of
//! stopping at it; only using it is an error, one that names the tensor and
//! its type. The ids and sizes are ggml's (as the `gguf` package lists them
//! in `GGML_QUANT_SIZES`); ids 4, 5, 31–33 and 36–38 were retired and are
//! left out.

use super::DType;
use std::fmt;

/// A type id from a GGUF file that names a known ggml type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GgmlType(u32);

/// (id, name, elements per block, bytes per block).
const TABLE: [(u32, &str, usize, usize); 34] = [
    (0, "F32", 1, 4),
    (1, "F16", 1, 2),
    (2, "Q4_0", 32, 18),
    (3, "Q4_1", 32, 20),
    (6, "Q5_0", 32, 22),
    (7, "Q5_1", 32, 24),
    (8, "Q8_0", 32, 34),
    (9, "Q8_1", 32, 40),
    (10, "Q2_K", 256, 84),
    (11, "Q3_K", 256, 110),
    (12, "Q4_K", 256, 144),
    (13, "Q5_K", 256, 176),
    (14, "Q6_K", 256, 210),
    (15, "Q8_K", 256, 292),
    (16, "IQ2_XXS", 256, 66),
    (17, "IQ2_XS", 256, 74),
    (18, "IQ3_XXS", 256, 98),
    (19, "IQ1_S", 256, 50),
    (20, "IQ4_NL", 32, 18),
    (21, "IQ3_S", 256, 110),
    (22, "IQ2_S", 256, 82),
    (23, "IQ4_XS", 256, 136),
    (24, "I8", 1, 1),
    (25, "I16", 1, 2),
    (26, "I32", 1, 4),
    (27, "I64", 1, 8),
    (28, "F64", 1, 8),
    (29, "IQ1_M", 256, 56),
    (30, "BF16", 1, 2),
    (34, "TQ1_0", 256, 54),
    (35, "TQ2_0", 256, 66),
    (39, "MXFP4", 32, 17),
    (40, "NVFP4", 64, 36),
    (41, "Q1_0", 128, 18),
];

impl GgmlType {
    /// The type with GGUF id `id`, if ggml defines one.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        TABLE.iter().any(|e| e.0 == id).then_some(GgmlType(id))
    }

    pub fn from_dtype(dtype: DType) -> GgmlType {
        GgmlType(dtype.gguf_id())
    }

    /// Every type ggml defines, in id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().map(|e| GgmlType(e.0))
    }

    fn entry(self) -> &'static (u32, &'static str, usize, usize) {
        // Values are only made from ids found in the table.
        TABLE
            .iter()
            .find(|e| e.0 == self.0)
            .expect("a GgmlType is always in the table")
    }

    pub fn id(self) -> u32 {
        self.0
    }

    /// The name ggml, llama.cpp and the `gguf` package print.
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    pub fn block_len(self) -> usize {
        self.entry().2
    }

    pub fn block_bytes(self) -> usize {
        self.entry().3
    }

    /// Bytes for `n` elements: `None` for a partial block or an overflow.
    pub fn bytes_for(self, n: usize) -> Option<usize> {
        if !n.is_multiple_of(self.block_len()) {
            return None;
        }
        (n / self.block_len()).checked_mul(self.block_bytes())
    }

    /// The engine's type for it, if the engine computes with it.
    pub fn dtype(self) -> Option<DType> {
        DType::from_gguf_id(self.0)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_type_is_a_ggml_type_of_the_same_size() {
        for d in DType::ALL {
            let g = GgmlType::from_dtype(d);
            assert_eq!(GgmlType::from_id(d.gguf_id()), Some(g));
            assert_eq!(g.name(), d.name());
            assert_eq!(
                (g.block_len(), g.block_bytes()),
                (d.block_len(), d.block_bytes())
            );
            assert_eq!(g.dtype(), Some(d));
        }
    }

    #[test]
    fn retired_and_unknown_ids_are_refused() {
        for id in [4, 5, 31, 32, 33, 36, 37, 38, 42, u32::MAX] {
            assert_eq!(GgmlType::from_id(id), None, "{id}");
        }
        let iq2 = GgmlType::from_id(16).unwrap();
        assert_eq!((iq2.name(), iq2.dtype()), ("IQ2_XXS", None));
        assert_eq!(iq2.bytes_for(512), Some(132));
    }
}
