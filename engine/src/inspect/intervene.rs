//! Interventions: hooks that change activations during a forward pass —
//! ablating a head or neuron, patching in another run's activation, adding
//! a steering vector. Each is checked against the model when it is built,
//! so a bad layer, head or width fails before any work is done.

use crate::error::{Error, Result};
use crate::model::hooks::{Activation, Hooks};
use crate::model::site::{check_head, Point, Site};
use crate::model::ModelInfo;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::ops::Range;

/// What an intervention does to the part of the activation it selects.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Set to zero.
    Zero,
    /// Set to its mean over positions: of this forward pass, or of
    /// `from` (the same hook point recorded on other inputs).
    Mean { from: Option<Tensor> },
    /// Copy from the same hook point recorded on another run, position by
    /// position (positions the other run did not reach are left alone).
    Patch { from: Tensor },
    /// Add `scale × vector` at every selected position.
    Steer { vector: Vec<f32>, scale: f32 },
}

#[derive(Debug, Clone)]
pub struct Intervention {
    pub site: Site,
    pub edit: Edit,
    /// Only this head (points split by head).
    pub head: Option<usize>,
    /// Only this neuron (index along the last axis of a `[T, n]` point).
    pub neuron: Option<usize>,
    /// Only these absolute positions (all when `None`).
    pub positions: Option<Vec<usize>>,
}

impl Intervention {
    pub fn new(site: Site, edit: Edit) -> Self {
        Intervention {
            site,
            edit,
            head: None,
            neuron: None,
            positions: None,
        }
    }

    /// Check the selection and the edit's data against the model.
    pub fn check(&self, info: &ModelInfo) -> Result<()> {
        let name = self.site.name();
        let point = self.site.point;
        let full = self.site.shape(info, 1, 1);
        if let Some(h) = self.head {
            let axis = point.head_axis().ok_or_else(|| {
                Error::Invalid(format!(
                    "{name} is not split by head (heads: attn.q, attn.k, attn.v, attn.pattern, attn.z)"
                ))
            })?;
            check_head(h, full[axis], &name)?;
        }
        if let Some(n) = self.neuron {
            if full.len() != 2 || point == Point::AttnPattern {
                return Err(Error::Invalid(format!(
                    "{name} has no neurons: pick one on a [T, n] point such as blocks.N.mlp.hidden"
                )));
            }
            if n >= full[1] {
                return Err(Error::Invalid(format!(
                    "neuron {n} is out of range: {name} has {} (0..={})",
                    full[1],
                    full[1] - 1
                )));
            }
        }
        let width = segment_len(point, &full, self.head, self.neuron);
        match &self.edit {
            Edit::Zero => {}
            Edit::Mean { from } => {
                if point == Point::AttnPattern {
                    return Err(Error::Invalid(format!(
                        "mean ablation of {name}: patterns differ in length by position; ablate blocks.N.attn.z instead"
                    )));
                }
                if let Some(t) = from {
                    check_source(t, &full, &name)?;
                }
            }
            Edit::Patch { from } => check_source(from, &full, &name)?,
            Edit::Steer { vector, .. } => {
                if point == Point::AttnPattern {
                    return Err(Error::Invalid(format!(
                        "steering {name}: add vectors to the residual stream or another [T, n] point"
                    )));
                }
                if vector.len() != width {
                    return Err(Error::Invalid(format!(
                        "steering vector has {} elements; {name} needs {width}",
                        vector.len()
                    )));
                }
            }
        }
        Ok(())
    }

    fn apply(&self, act: &mut Activation<'_>) -> Result<()> {
        let point = self.site.point;
        let wanted = |pos: usize| self.positions.as_ref().is_none_or(|p| p.contains(&pos));
        let segments: Vec<Segment> =
            segments_of(point, &act.shape, act.pos0, self.head, self.neuron)
                .into_iter()
                .filter(|s| wanted(s.pos))
                .collect();
        match &self.edit {
            Edit::Zero => {
                for s in &segments {
                    act.data[s.range.clone()].fill(0.0);
                }
            }
            Edit::Mean { from } => {
                let mean = match from {
                    Some(t) => {
                        let data = t.to_f32_vec()?;
                        let all = segments_of(point, t.dims(), 0, self.head, self.neuron);
                        mean_by_group(&data, &all)
                    }
                    None => mean_by_group(act.data, &segments),
                };
                for s in &segments {
                    act.data[s.range.clone()].copy_from_slice(&mean[&s.group]);
                }
            }
            Edit::Patch { from } => {
                let data = from.to_f32_vec()?;
                let source: HashMap<(usize, usize), Range<usize>> =
                    segments_of(point, from.dims(), 0, self.head, self.neuron)
                        .into_iter()
                        .map(|s| ((s.pos, s.group), s.range))
                        .collect();
                for s in &segments {
                    if let Some(r) = source.get(&(s.pos, s.group)) {
                        let dst = &mut act.data[s.range.clone()];
                        let n = dst.len().min(r.len());
                        dst[..n].copy_from_slice(&data[r.start..r.start + n]);
                        dst[n..].fill(0.0);
                    }
                }
            }
            Edit::Steer { vector, scale } => {
                for s in &segments {
                    for (x, v) in act.data[s.range.clone()].iter_mut().zip(vector) {
                        *x += scale * v;
                    }
                }
            }
        }
        act.changed = true;
        Ok(())
    }
}

/// A recorded tensor must have the point's shape apart from positions
/// (and, for patterns, keys).
fn check_source(t: &Tensor, full: &[usize], name: &str) -> Result<()> {
    let dims = t.dims();
    let same = dims.len() == full.len()
        && if full.len() == 3 && dims.len() == 3 && name.ends_with("attn.pattern") {
            dims[0] == full[0]
        } else {
            dims[1..] == full[1..]
        };
    if !same {
        return Err(Error::Invalid(format!(
            "the recorded tensor has shape {dims:?}; {name} needs {:?} with any number of positions",
            full
        )));
    }
    Ok(())
}

/// A selected run of elements: at absolute position `pos`, in `group`
/// (the head, or 0), the elements `range` of the activation's data.
#[derive(Debug, Clone)]
struct Segment {
    pos: usize,
    group: usize,
    range: Range<usize>,
}

/// The length of one segment of a point shaped `shape`.
fn segment_len(point: Point, shape: &[usize], head: Option<usize>, neuron: Option<usize>) -> usize {
    match (point, head, neuron) {
        (Point::AttnPattern, _, _) => shape[2],
        (_, _, Some(_)) => 1,
        (_, Some(_), _) => shape[2],
        _ => shape[1..].iter().product(),
    }
}

/// Every segment of an activation shaped `shape` starting at `pos0`.
fn segments_of(
    point: Point,
    shape: &[usize],
    pos0: usize,
    head: Option<usize>,
    neuron: Option<usize>,
) -> Vec<Segment> {
    let mut out = Vec::new();
    if point == Point::AttnPattern {
        let (heads, t, keys) = (shape[0], shape[1], shape[2]);
        for h in head.map_or(0..heads, |h| h..h + 1) {
            for q in 0..t {
                let start = (h * t + q) * keys;
                out.push(Segment {
                    pos: pos0 + q,
                    group: h,
                    range: start..start + keys,
                });
            }
        }
        return out;
    }
    let row: usize = shape[1..].iter().product();
    for r in 0..shape[0] {
        let base = r * row;
        let (group, range) = match (head, neuron) {
            (_, Some(n)) => (0, base + n..base + n + 1),
            (Some(h), _) => {
                let hd = shape[2];
                (h, base + h * hd..base + (h + 1) * hd)
            }
            _ => (0, base..base + row),
        };
        out.push(Segment {
            pos: pos0 + r,
            group,
            range,
        });
    }
    out
}

/// Mean of the segments of each group, element by element.
fn mean_by_group(data: &[f32], segments: &[Segment]) -> HashMap<usize, Vec<f32>> {
    let mut sums: HashMap<usize, (Vec<f64>, usize)> = HashMap::new();
    for s in segments {
        let (sum, n) = sums
            .entry(s.group)
            .or_insert_with(|| (vec![0.0; s.range.len()], 0));
        for (acc, &x) in sum.iter_mut().zip(&data[s.range.clone()]) {
            *acc += x as f64;
        }
        *n += 1;
    }
    sums.into_iter()
        .map(|(g, (sum, n))| {
            (
                g,
                sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect(),
            )
        })
        .collect()
}

/// Interventions applied in order, as one set of hooks.
#[derive(Debug, Clone, Default)]
pub struct Interventions(pub Vec<Intervention>);

impl Interventions {
    /// Check each intervention against the model.
    pub fn checked(list: Vec<Intervention>, info: &ModelInfo) -> Result<Self> {
        for i in &list {
            i.check(info)?;
        }
        Ok(Interventions(list))
    }
}

impl Hooks for Interventions {
    fn wants(&self, site: Site) -> bool {
        self.0.iter().any(|i| i.site == site)
    }
    fn visit(&mut self, site: Site, act: &mut Activation<'_>) -> Result<()> {
        for i in self.0.iter().filter(|i| i.site == site) {
            i.apply(act)?;
        }
        Ok(())
    }
}
