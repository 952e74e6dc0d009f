//! Least-squares fits of a few weights to a quantization grid, shared by
//! the K-quant quantizers.
//!
//! A K-quant stores each sub-block's scale (and minimum) as a small integer
//! in units of a per-super-block float. Quantizing is therefore two fits:
//! first each sub-block's best float scale on its own ([`fit_affine`],
//! [`fit_symmetric`]), then the integer codes of those scales against the
//! super-block's unit ([`best_scale_min`], [`best_signed_code`]), checking
//! the neighbours of the nearest code because rounding a scale down can
//! leave the grid too short for the sub-block's extremes.

/// How far (in grid steps) the search stretches or shrinks the plain
/// min..max grid, and in how many steps each way.
const STRETCH: f32 = 1.0;
const STRETCH_STEPS: i32 = 10;

/// `q = round((v + m) / s)` on the grid 0..=qmax (0 when `s` is 0).
#[inline]
fn affine_code(v: f32, s: f32, m: f32, qmax: f32) -> f32 {
    if s > 0.0 {
        ((v + m) / s).round().clamp(0.0, qmax)
    } else {
        0.0
    }
}

/// Squared error of `x` on the grid `s*q - m`, `q` in 0..=qmax.
fn affine_error(x: &[f32], s: f32, m: f32, qmax: f32) -> f32 {
    x.iter()
        .map(|&v| (s * affine_code(v, s, m, qmax) - m - v).powi(2))
        .sum()
}

/// Best `(s, m)` with `x ≈ s*q - m`, `q` in 0..=qmax, `s >= 0`, `m >= 0`.
/// Tries grids slightly narrower and wider than the plain min..max one,
/// refits `s` and `m` by least squares for each rounding, keeps the best.
pub fn fit_affine(x: &[f32], qmax: f32) -> (f32, f32) {
    // The offset is -m <= 0, so the grid always reaches down to zero or below.
    let lo = x.iter().copied().fold(0f32, f32::min);
    let hi = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if hi <= lo {
        return (0.0, -lo);
    }
    let mut best = ((hi - lo) / qmax, -lo);
    let mut best_err = affine_error(x, best.0, best.1, qmax);
    let n = x.len() as f32;
    let sx: f32 = x.iter().sum();
    for step in -STRETCH_STEPS..=STRETCH_STEPS {
        let stretch = STRETCH * step as f32 / STRETCH_STEPS as f32;
        let iscale = (qmax + stretch) / (hi - lo);
        // Least squares for v ≈ s*q + b over this rounding.
        let (mut sq, mut sqq, mut sqx) = (0f32, 0f32, 0f32);
        for &v in x {
            let q = ((v - lo) * iscale).round().clamp(0.0, qmax);
            sq += q;
            sqq += q * q;
            sqx += q * v;
        }
        let det = n * sqq - sq * sq;
        if det <= 0.0 {
            continue;
        }
        let (mut s, mut b) = ((n * sqx - sq * sx) / det, (sqq * sx - sq * sqx) / det);
        if b > 0.0 {
            // The offset must not be positive: refit the scale alone.
            b = 0.0;
            s = sqx / sqq;
        }
        if s <= 0.0 {
            continue;
        }
        let err = affine_error(x, s, -b, qmax);
        if err < best_err {
            best = (s, -b);
            best_err = err;
        }
    }
    best
}

/// The integer (scale, min) codes, each in 0..=code_max and in units of
/// `d` and `dmin`, nearest `(s, m)` or a neighbour when that fits `x`
/// better on the grid 0..=qmax.
pub fn best_scale_min(
    x: &[f32],
    (s, m): (f32, f32),
    (d, dmin): (f32, f32),
    qmax: f32,
    code_max: i32,
) -> (u8, u8) {
    let nearest = |v: f32, unit: f32| {
        if unit > 0.0 {
            (v / unit).round().clamp(0.0, code_max as f32) as i32
        } else {
            0
        }
    };
    let error = |sc: i32, mn: i32| affine_error(x, d * sc as f32, dmin * mn as f32, qmax);
    let (sc0, mn0) = (nearest(s, d), nearest(m, dmin));
    let mut best = (sc0, mn0, error(sc0, mn0));
    for sc in (sc0 - 1).max(0)..=(sc0 + 1).min(code_max) {
        for mn in (mn0 - 1).max(0)..=(mn0 + 1).min(code_max) {
            let e = error(sc, mn);
            if e < best.2 {
                best = (sc, mn, e);
            }
        }
    }
    (best.0 as u8, best.1 as u8)
}

/// Squared error of `x` on the grid `s*q`, `q` in -half..=half-1.
fn symmetric_error(x: &[f32], s: f32, half: f32) -> f32 {
    if s == 0.0 {
        return x.iter().map(|v| v * v).sum();
    }
    x.iter()
        .map(|&v| (s * (v / s).round().clamp(-half, half - 1.0) - v).powi(2))
        .sum()
}

/// Best `s` with `x ≈ s*q`, `q` in -half..=half-1. The element of largest
/// magnitude is tried at or near -half (the wider side of the range, so
/// `s` carries the opposite sign); each rounding is refit by least squares.
pub fn fit_symmetric(x: &[f32], half: f32) -> f32 {
    let max = x
        .iter()
        .fold(0f32, |m, &v| if v.abs() > m.abs() { v } else { m });
    if max == 0.0 {
        return 0.0;
    }
    let mut best = max / -half;
    let mut best_err = symmetric_error(x, best, half);
    for step in -STRETCH_STEPS..=STRETCH_STEPS {
        let stretch = STRETCH * step as f32 / STRETCH_STEPS as f32;
        let iscale = (-half + stretch) / max;
        let (mut sqx, mut sqq) = (0f32, 0f32);
        for &v in x {
            let q = (v * iscale).round().clamp(-half, half - 1.0);
            sqx += q * v;
            sqq += q * q;
        }
        if sqq == 0.0 {
            continue;
        }
        let s = sqx / sqq;
        let err = symmetric_error(x, s, half);
        if err < best_err {
            best = s;
            best_err = err;
        }
    }
    best
}

/// The signed scale code (in `lo..=hi`, in units of `d`) nearest `s`, or a
/// nonzero neighbour of it when that one fits `x` better on the grid
/// -half..=half-1.
pub fn best_signed_code(x: &[f32], s: f32, d: f32, half: f32, (lo, hi): (i32, i32)) -> i32 {
    if d <= 0.0 {
        return 0;
    }
    let error = |code: i32| symmetric_error(x, d * code as f32, half);
    let nearest = ((s / d).round() as i32).clamp(lo, hi);
    [nearest - 1, nearest + 1]
        .into_iter()
        .filter(|&c| c != 0 && (lo..=hi).contains(&c))
        .fold((nearest, error(nearest)), |best, c| {
            let e = error(c);
            if e < best.1 {
                (c, e)
            } else {
                best
            }
        })
        .0
}
