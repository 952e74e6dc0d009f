//! Recording activations: only the hook points asked for, one chunk per
//! forward pass, joined along the position axis when read.

use crate::error::{Error, Result};
use crate::model::hooks::{Activation, Hooks};
use crate::model::site::{self, Point, Site};
use crate::model::ModelInfo;
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// Records the activations at chosen sites, over one or many forward
/// passes (a prefill and then each generated token).
#[derive(Debug, Clone)]
pub struct Recorder {
    wanted: Vec<Site>,
    chunks: BTreeMap<Site, Vec<Chunk>>,
}

#[derive(Debug, Clone)]
struct Chunk {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Recorder {
    /// Record the sites matching `patterns` (names or `*` globs; a pattern
    /// that matches nothing is an error listing the names).
    pub fn new(patterns: &[impl AsRef<str>], info: &ModelInfo) -> Result<Self> {
        Ok(Recorder {
            wanted: site::select(patterns, info)?,
            chunks: BTreeMap::new(),
        })
    }

    /// The sites being recorded.
    pub fn sites(&self) -> &[Site] {
        &self.wanted
    }

    /// Everything recorded so far, one tensor per site.
    pub fn finish(&self) -> Result<ActivationCache> {
        let mut tensors = BTreeMap::new();
        for (&site, chunks) in &self.chunks {
            tensors.insert(site, join(site.point, chunks)?);
        }
        Ok(ActivationCache { tensors })
    }
}

impl Hooks for Recorder {
    fn wants(&self, site: Site) -> bool {
        self.wanted.binary_search(&site).is_ok()
    }
    fn visit(&mut self, site: Site, act: &mut Activation<'_>) -> Result<()> {
        self.chunks.entry(site).or_default().push(Chunk {
            shape: act.shape.clone(),
            data: act.data.to_vec(),
        });
        Ok(())
    }
}

/// Chunks joined along the point's position axis. Attention patterns of
/// later chunks see more keys: every row is padded with zeros (the causal
/// mask's zeros) to the widest.
fn join(point: Point, chunks: &[Chunk]) -> Result<Tensor> {
    if point != Point::AttnPattern {
        let mut shape = chunks[0].shape.clone();
        shape[0] = chunks.iter().map(|c| c.shape[0]).sum();
        let data = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
        return Tensor::from_vec(data, shape);
    }
    let heads = chunks[0].shape[0];
    let rows: usize = chunks.iter().map(|c| c.shape[1]).sum();
    let keys = chunks.iter().map(|c| c.shape[2]).max().unwrap_or(0);
    let mut data = vec![0f32; heads * rows * keys];
    let mut row0 = 0;
    for c in chunks {
        let (t, k) = (c.shape[1], c.shape[2]);
        for h in 0..heads {
            for q in 0..t {
                let src = &c.data[(h * t + q) * k..][..k];
                data[(h * rows + row0 + q) * keys..][..k].copy_from_slice(src);
            }
        }
        row0 += t;
    }
    Tensor::from_vec(data, [heads, rows, keys])
}

/// Recorded activations by hook point, each a tensor with the documented
/// shape (`T` = every recorded position).
#[derive(Debug, Clone, Default)]
pub struct ActivationCache {
    tensors: BTreeMap<Site, Tensor>,
}

impl ActivationCache {
    /// Names held, in forward-pass order.
    pub fn names(&self) -> Vec<String> {
        self.tensors.keys().map(|s| s.name()).collect()
    }

    pub fn sites(&self) -> impl Iterator<Item = (&Site, &Tensor)> {
        self.tensors.iter()
    }

    pub fn site(&self, site: Site) -> Option<&Tensor> {
        self.tensors.get(&site)
    }

    /// The activation called `name`; an error lists what the cache holds.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .iter()
            .find(|(s, _)| s.name() == name)
            .map(|(_, t)| t)
            .ok_or_else(|| {
                let held = self.names();
                Error::NotFound(format!(
                    "the cache holds no `{name}`; it holds {}",
                    if held.is_empty() {
                        "nothing".to_string()
                    } else {
                        held.join(", ")
                    }
                ))
            })
    }

    /// Bytes of activation data held.
    pub fn bytes(&self) -> usize {
        self.tensors.values().map(|t| t.numel() * 4).sum()
    }
}
