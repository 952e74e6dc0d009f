//! The hook interface between a model's forward pass and whoever listens.
//!
//! A model offers each activation at its site (`Exec::offer`); the
//! executor asks [`Hooks::wants`] and, only if the answer is yes, hands the
//! activation to [`Hooks::visit`], which may read it or change it in place.
//! Executors are generic over the hooks they get, so the plain forward pass
//! (with [`NoHooks`]) compiles the checks away: nobody listening costs
//! nothing.

use super::site::{Point, Site};
use super::{Logits, Model, ModelInfo, State};
use crate::error::Result;
use crate::ops::attention::KvCache;
use crate::tensor::DType;
use std::sync::Mutex;

/// One activation as a hook sees it: row-major `data` of `shape` (see the
/// naming table in [`crate::inspect`]), for positions `pos0..pos0 + T`.
pub struct Activation<'a> {
    pub data: &'a mut [f32],
    pub shape: Vec<usize>,
    pub pos0: usize,
    /// Set by a hook that changed `data` (a changed attention pattern is
    /// applied to the values again).
    pub changed: bool,
}

impl Activation<'_> {
    /// Positions in this forward pass.
    pub fn positions(&self, point: Point) -> usize {
        self.shape[point.position_axis()]
    }
}

pub trait Hooks {
    /// Whether anything listens at `site` (asked before any work is done
    /// for it).
    fn wants(&self, site: Site) -> bool;
    /// Read or change the activation at `site`.
    fn visit(&mut self, site: Site, act: &mut Activation<'_>) -> Result<()>;
}

/// Nobody listens.
pub struct NoHooks;

impl Hooks for NoHooks {
    #[inline(always)]
    fn wants(&self, _: Site) -> bool {
        false
    }
    fn visit(&mut self, _: Site, _: &mut Activation<'_>) -> Result<()> {
        Ok(())
    }
}

/// Several hooks, visited in order (so an intervention listed first is
/// seen by a recorder listed after it).
pub struct HookList<'a>(pub Vec<&'a mut (dyn Hooks + Send)>);

impl Hooks for HookList<'_> {
    fn wants(&self, site: Site) -> bool {
        self.0.iter().any(|h| h.wants(site))
    }
    fn visit(&mut self, site: Site, act: &mut Activation<'_>) -> Result<()> {
        for hook in &mut self.0 {
            if hook.wants(site) {
                hook.visit(site, act)?;
            }
        }
        Ok(())
    }
}

/// Offer the activation at `site` to the hooks, if they want it.
#[inline(always)]
pub(crate) fn offer<H: Hooks + ?Sized>(
    hooks: &mut H,
    site: Site,
    data: &mut [f32],
    shape: impl FnOnce() -> Vec<usize>,
    pos0: usize,
) -> Result<()> {
    if hooks.wants(site) {
        let mut act = Activation {
            data,
            shape: shape(),
            pos0,
            changed: false,
        };
        hooks.visit(site, &mut act)?;
    }
    Ok(())
}

/// Offer a block's attention pattern. `probs` is the kernel's
/// `[T, heads, K]`; hooks see `[heads, T, K]`. If a hook changed it, the
/// heads' outputs `z` (`[T, heads, head_dim]`) are mixed again from the
/// changed pattern and the cached values.
pub(crate) fn offer_pattern<H: Hooks + ?Sized>(
    hooks: &mut H,
    layer: usize,
    probs: &[f32],
    n_heads: usize,
    pos0: usize,
    cache: &KvCache,
    z: &mut [f32],
) -> Result<()> {
    let keys = cache.len();
    let t = probs.len() / (n_heads * keys);
    let mut pattern = vec![0f32; probs.len()];
    for q in 0..t {
        for h in 0..n_heads {
            let src = &probs[(q * n_heads + h) * keys..][..keys];
            pattern[(h * t + q) * keys..][..keys].copy_from_slice(src);
        }
    }
    let mut act = Activation {
        data: &mut pattern,
        shape: vec![n_heads, t, keys],
        pos0,
        changed: false,
    };
    hooks.visit(Site::block(layer, Point::AttnPattern), &mut act)?;
    if act.changed {
        cache.mix_values(&pattern, n_heads, t, z)?;
    }
    Ok(())
}

/// A model whose every forward pass goes through `hooks`: hand it to
/// anything that takes a [`Model`] (generation, chat) to listen or
/// intervene there.
pub struct Hooked<'a> {
    pub model: &'a dyn Model,
    pub hooks: Mutex<&'a mut (dyn Hooks + Send)>,
}

impl<'a> Hooked<'a> {
    pub fn new(model: &'a dyn Model, hooks: &'a mut (dyn Hooks + Send)) -> Self {
        Hooked {
            model,
            hooks: Mutex::new(hooks),
        }
    }
}

impl Model for Hooked<'_> {
    fn info(&self) -> &ModelInfo {
        self.model.info()
    }
    fn new_state_with(&self, capacity: usize, kv_dtype: DType) -> Result<State> {
        self.model.new_state_with(capacity, kv_dtype)
    }
    fn forward(&self, state: &mut State, tokens: &[u32], logits: Logits) -> Result<Vec<f32>> {
        let mut hooks = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        self.model
            .forward_hooked(state, tokens, logits, &mut **hooks)
    }
    fn forward_hooked(
        &self,
        state: &mut State,
        tokens: &[u32],
        logits: Logits,
        extra: &mut dyn Hooks,
    ) -> Result<Vec<f32>> {
        let mut hooks = self.hooks.lock().unwrap_or_else(|e| e.into_inner());
        let mut both = Both(&mut **hooks, extra);
        self.model.forward_hooked(state, tokens, logits, &mut both)
    }
    fn unembed(&self, resid: &[f32]) -> Result<Vec<f32>> {
        self.model.unembed(resid)
    }
}

/// Two hooks in order (the wrapper's, then the caller's).
struct Both<'a, 'b>(&'a mut (dyn Hooks + Send), &'b mut dyn Hooks);

impl Hooks for Both<'_, '_> {
    fn wants(&self, site: Site) -> bool {
        self.0.wants(site) || self.1.wants(site)
    }
    fn visit(&mut self, site: Site, act: &mut Activation<'_>) -> Result<()> {
        if self.0.wants(site) {
            self.0.visit(site, act)?;
        }
        if self.1.wants(site) {
            self.1.visit(site, act)?;
        }
        Ok(())
    }
}
