//! Weight rows repacked for the prefill GEMMs: [`PackedRows`] for the
//! K-quants, [`PackedBlocks`] for the formats that meet Q8A activations.
//!
//! Decode reads each weight once per token, straight from the file's
//! blocks. Prefill multiplies the same weights by many tokens, so it pays
//! to unpack them first (`quant::superblock`) into a layout the GEMM's
//! inner loop can use without any shuffling: [`ROWS`] rows interleaved four
//! codes at a time, so that one 32-byte load holds four consecutive codes
//! of each of eight rows, and one activation word broadcast to every lane
//! meets all eight rows at once (llama.cpp's repacked `q4_K_8x8` is the same
//! idea, done at load time; here it is done per tile and thrown away, so
//! memory use does not change).

use crate::quant::{SuperBlock, Unpacked};

/// Rows per packed group: one per i32 lane of a 256-bit vector.
pub const ROWS: usize = 8;

/// Up to [`ROWS`] weight rows of `super_blocks` super-blocks each, rows
/// beyond the real ones all zero (they contribute nothing).
#[derive(Default)]
pub struct PackedRows {
    super_blocks: usize,
    /// Per super-block, 64 steps of 32 bytes: step `g` holds codes
    /// `4g..4g + 4` of row 0, then of row 1, …
    pub(crate) codes: Vec<u8>,
    /// Per super-block, 16 sub-blocks of 16 words: row `r`'s scale in
    /// words `2r` and `2r + 1` (so each i32 lane holds it in both halves).
    pub(crate) words: Vec<i16>,
    /// Per super-block, 8 pairs of sub-blocks of 16 words: row `r`'s mins
    /// of sub-blocks `2p` and `2p + 1` in words `2r`, `2r + 1`.
    pub(crate) mins: Vec<i16>,
    /// Per super-block, each row's `d` and `m`.
    pub(crate) d: Vec<f32>,
    pub(crate) m: Vec<f32>,
}

impl PackedRows {
    pub fn super_blocks(&self) -> usize {
        self.super_blocks
    }

    /// Pack `rows` (whole rows of `super_blocks` blocks, at most [`ROWS`]).
    pub fn pack<B: SuperBlock>(&mut self, rows: &[B], super_blocks: usize) {
        let n = rows.len() / super_blocks.max(1);
        assert!(
            n <= ROWS && n * super_blocks == rows.len(),
            "pack: {n} rows"
        );
        self.super_blocks = super_blocks;
        self.codes.clear();
        self.codes.resize(super_blocks * 64 * 32, 0);
        self.words.clear();
        self.words.resize(super_blocks * 16 * 16, 0);
        self.mins.clear();
        self.mins.resize(super_blocks * 8 * 16, 0);
        self.d.clear();
        self.d.resize(super_blocks * ROWS, 0.0);
        self.m.clear();
        self.m.resize(super_blocks * ROWS, 0.0);
        let mut u = Unpacked::default();
        for (r, row) in rows.chunks_exact(super_blocks.max(1)).enumerate() {
            for (sb, block) in row.iter().enumerate() {
                block.unpack(&mut u);
                let codes = &mut self.codes[sb * 2048..][..2048];
                for (g, four) in u.codes.chunks_exact(4).enumerate() {
                    codes[32 * g + 4 * r..][..4].copy_from_slice(four);
                }
                let words = &mut self.words[sb * 256..][..256];
                for (j, &scale) in u.scales.iter().enumerate() {
                    words[16 * j + 2 * r] = scale;
                    words[16 * j + 2 * r + 1] = scale;
                }
                let mins = &mut self.mins[sb * 128..][..128];
                for (p, pair) in u.mins.chunks_exact(2).enumerate() {
                    mins[16 * p + 2 * r..][..2].copy_from_slice(pair);
                }
                self.d[sb * ROWS + r] = u.d;
                self.m[sb * ROWS + r] = u.m;
            }
        }
    }
}

/// Up to [`ROWS`] weight rows of a format that meets Q8A activations, in
/// units of 32 weights (a block, or an eighth of an IQ4_XS block): rows
/// beyond the real ones all zero. (Only the x86 GEMMs fill and read it.)
#[derive(Default)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub struct PackedBlocks {
    units: usize,
    /// Per unit, 8 steps of 32 bytes: step `g` holds weight bytes
    /// `4g..4g + 4` of row 0, then of row 1, … (codes, or signed values).
    pub(crate) codes: Vec<u8>,
    /// Per unit, each row's `d` (times the unit's scale where it has one).
    pub(crate) d: Vec<f32>,
    /// Per unit, each row's `m` (zero for formats without one).
    pub(crate) m: Vec<f32>,
}

impl PackedBlocks {
    pub fn units(&self) -> usize {
        self.units
    }

    /// Room for `units` units per row, all zero.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(crate) fn reset(&mut self, units: usize) {
        self.units = units;
        for v in [&mut self.d, &mut self.m] {
            v.clear();
            v.resize(units * ROWS, 0.0);
        }
        self.codes.clear();
        self.codes.resize(units * 256, 0);
    }
}
