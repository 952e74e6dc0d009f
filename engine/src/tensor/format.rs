//! Printing tensors for people: nested rows like numpy, every number in one
//! width so columns line up, and large tensors abbreviated to their first
//! and last few entries along each dimension.

use super::Tensor;
use std::fmt::Write;

/// Tensors with more elements than this are abbreviated.
const SUMMARY_THRESHOLD: usize = 1000;
/// Entries kept at each end of an abbreviated dimension.
const EDGE_ITEMS: usize = 3;

impl Tensor {
    /// A readable rendering: a header with dtype and shape, then the values.
    pub fn pretty(&self) -> String {
        let header = format!("Tensor {} {}", self.dtype(), self.shape());
        let values = match self.to_f32_vec() {
            Ok(v) => v,
            Err(e) => return format!("{header} (values unavailable: {e})"),
        };
        let dims = self.dims();
        let summarize = values.len() > SUMMARY_THRESHOLD;
        let shown: Vec<f32> = shown_values(&values, dims, summarize);
        let style = NumberStyle::for_values(&shown);
        let width = shown
            .iter()
            .map(|&x| style.format(x).len())
            .max()
            .unwrap_or(1);
        let mut out = header;
        out.push('\n');
        if dims.is_empty() {
            out += &style.format(values[0]);
            return out;
        }
        let strides = self.shape().contiguous_strides();
        let ctx = Context {
            values: &values,
            dims,
            strides: &strides,
            summarize,
            style,
            width,
        };
        ctx.write(&mut out, 0, 0);
        out
    }
}

struct Context<'a> {
    values: &'a [f32],
    dims: &'a [usize],
    strides: &'a [usize],
    summarize: bool,
    style: NumberStyle,
    width: usize,
}

impl Context<'_> {
    /// Write dimension `d` of the block starting at element `base`.
    fn write(&self, out: &mut String, d: usize, base: usize) {
        let n = self.dims[d];
        out.push('[');
        let last = d + 1 == self.dims.len();
        let mut first = true;
        for i in indices(n, self.summarize) {
            if !first {
                out.push(',');
                if last {
                    out.push(' ');
                } else {
                    // A blank line per extra level between blocks, as numpy.
                    out.push_str(&"\n".repeat(self.dims.len() - d - 1));
                    out.push_str(&" ".repeat(d + 1));
                }
            }
            first = false;
            match i {
                None => out.push_str("..."),
                Some(i) if last => {
                    let s = self.style.format(self.values[base + i]);
                    let _ = write!(out, "{s:>w$}", w = self.width);
                }
                Some(i) => self.write(out, d + 1, base + i * self.strides[d]),
            }
        }
        out.push(']');
    }
}

/// The indices shown along a dimension of length `n`; `None` marks the gap.
fn indices(n: usize, summarize: bool) -> Vec<Option<usize>> {
    if summarize && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS)
            .map(Some)
            .chain([None])
            .chain((n - EDGE_ITEMS..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    }
}

/// The values that will be printed (to choose one number style for them).
fn shown_values(values: &[f32], dims: &[usize], summarize: bool) -> Vec<f32> {
    if !summarize {
        return values.to_vec();
    }
    let strides = super::Shape::new(dims.to_vec()).contiguous_strides();
    let mut out = Vec::new();
    let mut stack = vec![(0usize, 0usize)];
    while let Some((d, base)) = stack.pop() {
        for i in indices(dims[d], true).into_iter().flatten() {
            let at = base + i * strides[d];
            if d + 1 == dims.len() {
                out.push(values[at]);
            } else {
                stack.push((d + 1, at));
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum NumberStyle {
    /// Every value is a whole number: `3.`
    Integer,
    Fixed(usize),
    Scientific,
}

impl NumberStyle {
    fn for_values(values: &[f32]) -> Self {
        let finite: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if finite.iter().all(|x| x.fract() == 0.0 && x.abs() < 1e9) {
            return NumberStyle::Integer;
        }
        let max = finite.iter().fold(0f32, |m, x| m.max(x.abs()));
        let min = finite
            .iter()
            .filter(|x| **x != 0.0)
            .fold(f32::INFINITY, |m, x| m.min(x.abs()));
        if max >= 1e6 || min < 1e-4 {
            NumberStyle::Scientific
        } else {
            NumberStyle::Fixed(4)
        }
    }

    fn format(self, x: f32) -> String {
        if !x.is_finite() {
            return format!("{x}");
        }
        match self {
            NumberStyle::Integer => format!("{x:.0}."),
            NumberStyle::Fixed(p) => format!("{x:.p$}"),
            NumberStyle::Scientific => format!("{x:.4e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tensors_print_every_value_aligned() {
        let t = Tensor::from_f32(&[1.0, -2.5, 3.25, 4.0], [2, 2]).unwrap();
        assert_eq!(
            t.pretty(),
            "Tensor F32 [2, 2]\n[[ 1.0000, -2.5000],\n [ 3.2500,  4.0000]]"
        );
        let ints = Tensor::from_f32(&[1.0, 2.0, 3.0], [3]).unwrap();
        assert_eq!(ints.pretty(), "Tensor F32 [3]\n[1., 2., 3.]");
    }

    #[test]
    fn large_tensors_are_abbreviated() {
        let data: Vec<f32> = (0..2000).map(|i| i as f32).collect();
        let t = Tensor::from_f32(&data, [40, 50]).unwrap();
        let s = t.pretty();
        assert!(s.contains("..."), "{s}");
        assert!(s.lines().count() < 12, "{s}");
        assert!(s.contains("1999.") && s.contains(" 0.,"), "{s}");
    }
}
