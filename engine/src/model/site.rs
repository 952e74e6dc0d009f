//! Hook point names: one scheme for every model, parsed and printed here.
//!
//! A name is either global (`embed`, `final_norm`, `logits`) or belongs to a
//! block: `blocks.{layer}.{point}`, e.g. `blocks.3.attn.pattern`. Patterns
//! may use `*` for any run of characters (`blocks.*.attn.pattern`).

use super::ModelInfo;
use crate::error::{Error, Result};

/// Where in the forward pass an activation is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Point {
    /// Token (plus position, GPT-2) embedding: the residual stream entering block 0.
    Embed,
    ResidPre,
    /// Queries after their per-head norm, before RoPE (models with q/k
    /// norms: Qwen3, Gemma 3).
    AttnQNorm,
    /// Keys after their per-head norm, before RoPE.
    AttnKNorm,
    /// Queries after RoPE, per head.
    AttnQ,
    /// Keys after RoPE, per key/value head (what the cache stores).
    AttnK,
    AttnV,
    /// Softmax probabilities, per head, query and key.
    AttnPattern,
    /// Each head's mix of values, before the output projection.
    AttnZ,
    /// The attention block's output as added to the residual stream (after
    /// the output projection, and Gemma's post-norm).
    AttnOut,
    /// The residual stream between the attention and feed-forward blocks.
    ResidMid,
    /// The feed-forward hidden layer after its activation (SwiGLU or GELU).
    MlpHidden,
    MlpOut,
    ResidPost,
    /// The final norm's output, on the positions whose logits are computed.
    FinalNorm,
    Logits,
}

use Point::*;

/// Every point, in forward-pass order (the q/k norm points only in models
/// that have those norms, see [`Point::in_model`]).
pub const BLOCK_POINTS: [Point; 13] = [
    ResidPre,
    AttnQNorm,
    AttnKNorm,
    AttnQ,
    AttnK,
    AttnV,
    AttnPattern,
    AttnZ,
    AttnOut,
    ResidMid,
    MlpHidden,
    MlpOut,
    ResidPost,
];

impl Point {
    /// The name's text after `blocks.N.` (or the whole name of a global point).
    pub fn suffix(self) -> &'static str {
        match self {
            Embed => "embed",
            ResidPre => "resid_pre",
            AttnQNorm => "attn.q_norm",
            AttnKNorm => "attn.k_norm",
            AttnQ => "attn.q",
            AttnK => "attn.k",
            AttnV => "attn.v",
            AttnPattern => "attn.pattern",
            AttnZ => "attn.z",
            AttnOut => "attn.out",
            ResidMid => "resid_mid",
            MlpHidden => "mlp.hidden",
            MlpOut => "mlp.out",
            ResidPost => "resid_post",
            FinalNorm => "final_norm",
            Logits => "logits",
        }
    }

    pub fn is_global(self) -> bool {
        matches!(self, Embed | FinalNorm | Logits)
    }

    /// Whether a model has this point.
    pub fn in_model(self, info: &ModelInfo) -> bool {
        !matches!(self, AttnQNorm | AttnKNorm) || info.qk_norm
    }

    /// The axis that counts positions (the pattern's is its query axis).
    pub fn position_axis(self) -> usize {
        if self == AttnPattern {
            1
        } else {
            0
        }
    }

    /// The axis that counts heads, for points split by head.
    pub fn head_axis(self) -> Option<usize> {
        match self {
            AttnQNorm | AttnKNorm | AttnQ | AttnK | AttnV | AttnZ => Some(1),
            AttnPattern => Some(0),
            _ => None,
        }
    }
}

/// One hook point of one model: a point, in a block unless it is global.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Site {
    pub layer: usize,
    pub point: Point,
}

impl Site {
    pub fn block(layer: usize, point: Point) -> Self {
        Site { layer, point }
    }

    pub fn global(point: Point) -> Self {
        Site { layer: 0, point }
    }

    pub fn name(self) -> String {
        if self.point.is_global() {
            self.point.suffix().to_string()
        } else {
            format!("blocks.{}.{}", self.layer, self.point.suffix())
        }
    }

    /// Parse a name, checking it against the model's layers.
    pub fn parse(name: &str, info: &ModelInfo) -> Result<Site> {
        let all = || {
            Error::NotFound(format!(
                "no hook point is called `{name}`; names are {}",
                naming_summary(info)
            ))
        };
        if let Some(rest) = name.strip_prefix("blocks.") {
            let (layer, suffix) = rest.split_once('.').ok_or_else(all)?;
            let point = BLOCK_POINTS
                .into_iter()
                .find(|p| p.suffix() == suffix && p.in_model(info))
                .ok_or_else(all)?;
            let layer: usize = layer.parse().map_err(|_| all())?;
            check_layer(layer, info)?;
            return Ok(Site::block(layer, point));
        }
        [Embed, FinalNorm, Logits]
            .into_iter()
            .find(|p| p.suffix() == name)
            .map(Site::global)
            .ok_or_else(all)
    }

    /// The activation's shape as documented, with `T` for the positions of
    /// one forward pass and `K` for the keys seen (positions so far).
    pub fn shape_doc(self, info: &ModelInfo) -> String {
        let d = info.d_model;
        match self.point {
            Embed | ResidPre | AttnOut | ResidMid | MlpOut | ResidPost | FinalNorm => {
                format!("[T, {d}]")
            }
            AttnQNorm | AttnQ | AttnZ => format!("[T, {}, {}]", info.n_heads, info.head_dim),
            AttnKNorm | AttnK | AttnV => format!("[T, {}, {}]", info.n_kv_heads, info.head_dim),
            AttnPattern => format!("[{}, T, K]", info.n_heads),
            MlpHidden => format!("[T, {}]", info.d_ff),
            Logits => format!("[T, {}]", info.vocab_size),
        }
    }

    /// The activation's shape for `t` positions and `keys` keys.
    pub fn shape(self, info: &ModelInfo, t: usize, keys: usize) -> Vec<usize> {
        let d = info.d_model;
        match self.point {
            Embed | ResidPre | AttnOut | ResidMid | MlpOut | ResidPost | FinalNorm => vec![t, d],
            AttnQNorm | AttnQ | AttnZ => vec![t, info.n_heads, info.head_dim],
            AttnKNorm | AttnK | AttnV => vec![t, info.n_kv_heads, info.head_dim],
            AttnPattern => vec![info.n_heads, t, keys],
            MlpHidden => vec![t, info.d_ff],
            Logits => vec![t, info.vocab_size],
        }
    }
}

pub(crate) fn check_layer(layer: usize, info: &ModelInfo) -> Result<()> {
    if layer >= info.n_layers {
        return Err(Error::Invalid(format!(
            "layer {layer} is out of range: the model has {} layers (0..={})",
            info.n_layers,
            info.n_layers - 1
        )));
    }
    Ok(())
}

pub(crate) fn check_head(head: usize, heads: usize, what: &str) -> Result<()> {
    if head >= heads {
        return Err(Error::Invalid(format!(
            "head {head} is out of range: {what} has {heads} heads (0..={})",
            heads - 1
        )));
    }
    Ok(())
}

/// Every hook point of a model, in forward-pass order.
pub fn all_sites(info: &ModelInfo) -> Vec<Site> {
    let mut sites = vec![Site::global(Embed)];
    for layer in 0..info.n_layers {
        sites.extend(
            BLOCK_POINTS
                .iter()
                .filter(|p| p.in_model(info))
                .map(|&p| Site::block(layer, p)),
        );
    }
    sites.push(Site::global(FinalNorm));
    sites.push(Site::global(Logits));
    sites
}

/// The sites matching any of `patterns` (`*` matches any run of
/// characters). A pattern that matches nothing is an error naming it.
pub fn select(patterns: &[impl AsRef<str>], info: &ModelInfo) -> Result<Vec<Site>> {
    let sites = all_sites(info);
    let mut chosen = Vec::new();
    for pattern in patterns {
        let pattern = pattern.as_ref();
        let before = chosen.len();
        for &site in &sites {
            if glob_match(pattern, &site.name()) && !chosen.contains(&site) {
                chosen.push(site);
            }
        }
        if chosen.len() == before && !sites.iter().any(|s| glob_match(pattern, &s.name())) {
            // A plain name gets the precise message (e.g. a layer out of range).
            if !pattern.contains('*') {
                Site::parse(pattern, info)?;
            }
            return Err(Error::NotFound(format!(
                "no hook point matches `{pattern}`; names are {}",
                naming_summary(info)
            )));
        }
    }
    chosen.sort();
    Ok(chosen)
}

/// The naming scheme in one line, for error messages.
fn naming_summary(info: &ModelInfo) -> String {
    let points: Vec<&str> = BLOCK_POINTS
        .iter()
        .filter(|p| p.in_model(info))
        .map(|p| p.suffix())
        .collect();
    format!(
        "embed, blocks.N.{{{}}} for N in 0..={}, final_norm, logits",
        points.join(","),
        info.n_layers.saturating_sub(1)
    )
}

/// `*` matches any run of characters (including dots); everything else
/// matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n) = (pattern.as_bytes(), name.as_bytes());
    // Greedy match with backtracking to the last star.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == n[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ModelInfo {
        ModelInfo {
            architecture: "llama".into(),
            vocab_size: 100,
            context_length: 64,
            n_layers: 3,
            d_model: 16,
            n_heads: 4,
            n_kv_heads: 2,
            head_dim: 4,
            d_ff: 32,
            qk_norm: false,
            windows: Vec::new(),
        }
    }

    #[test]
    fn names_round_trip() {
        let info = info();
        for site in all_sites(&info) {
            assert_eq!(Site::parse(&site.name(), &info).unwrap(), site);
        }
        assert_eq!(all_sites(&info).len(), 3 + 3 * (BLOCK_POINTS.len() - 2));
        // The q/k norm points exist only where the model has the norms.
        assert!(Site::parse("blocks.0.attn.q_norm", &info).is_err());
        let normed = ModelInfo {
            qk_norm: true,
            windows: Vec::new(),
            ..info
        };
        assert_eq!(
            Site::parse("blocks.2.attn.k_norm", &normed).unwrap(),
            Site::block(2, AttnKNorm)
        );
        assert_eq!(all_sites(&normed).len(), 3 + 3 * BLOCK_POINTS.len());
    }

    #[test]
    fn globs_select_and_bad_names_explain() {
        let info = info();
        let s = select(&["blocks.*.attn.pattern"], &info).unwrap();
        assert_eq!(s.len(), 3);
        assert!(s.iter().all(|s| s.point == AttnPattern));
        assert_eq!(select(&["*"], &info).unwrap().len(), all_sites(&info).len());
        assert!(glob_match("blocks.1*", "blocks.1.attn.q"));
        assert!(!glob_match("blocks.1", "blocks.1.attn.q"));
        let e = select(&["blocks.*.atn.pattern"], &info)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("atn.pattern") && e.contains("attn.pattern"),
            "{e}"
        );
        let e = select(&["blocks.7.resid_post"], &info)
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer 7") && e.contains("3 layers"), "{e}");
    }
}
