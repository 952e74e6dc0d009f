//! Tensors in scripts: `tensor([[1.0, 2.0], [3.0, 4.0]])`, arithmetic with
//! broadcasting, `matmul`, `softmax`, reductions, indexing (`t[0]`, `t[-1]`,
//! `t[1..3]`) and conversion back to arrays.

use super::convert::{engine_err, floats, index, runtime, ScriptResult};
use super::register::{func, getter};
use crate::ops::tensor_math::BinaryOp;
use crate::tensor::Tensor;
use rhai::{Array, Dynamic, Engine, FLOAT, INT};
use std::ops::{Range, RangeInclusive};

pub fn register(engine: &mut Engine) {
    engine.register_type_with_name::<Tensor>("Tensor");
    register_creation(engine);
    register_properties(engine);
    register_indexing(engine);
    register_arithmetic(engine);
    register_math(engine);
}

fn register_creation(engine: &mut Engine) {
    func(
        "tensor",
        "A tensor from a number or (nested) arrays of numbers: tensor([[1.0, 2.0], [3.0, 4.0]]).",
    )
    .register_into_engine(engine, |values: Dynamic| from_nested(&values));
    func(
        "tensor",
        "A tensor from a flat array of numbers and a shape: tensor([1, 2, 3, 4], [2, 2]).",
    )
    .register_into_engine(engine, |values: Array, shape: Array| {
        let data: Vec<f32> = floats(&values, "values")?
            .into_iter()
            .map(|x| x as f32)
            .collect();
        Tensor::from_vec(data, dims(&shape)?).map_err(engine_err)
    });
    func("zeros", "A tensor of zeros: zeros([2, 3]).")
        .register_into_engine(engine, |shape: Array| filled(&shape, 0.0));
    func("ones", "A tensor of ones: ones([2, 3]).")
        .register_into_engine(engine, |shape: Array| filled(&shape, 1.0));
    func("arange", "0, 1, …, n-1 as a tensor of shape [n].")
        .register_into_engine(engine, |n: INT| arange(0, n));
    func("arange", "start, start+1, …, end-1 as a tensor.")
        .register_into_engine(engine, |start: INT, end: INT| arange(start, end));
}

fn register_properties(engine: &mut Engine) {
    getter(
        "shape",
        "The tensor's dimensions, outermost first, as an array.",
    )
    .register_into_engine(engine, |t: &mut Tensor| -> Array {
        t.dims().iter().map(|&d| Dynamic::from(d as INT)).collect()
    });
    getter("rank", "The number of dimensions.")
        .register_into_engine(engine, |t: &mut Tensor| t.rank() as INT);
    getter("numel", "The number of elements.")
        .register_into_engine(engine, |t: &mut Tensor| t.numel() as INT);
    getter(
        "dtype",
        "The element type (F32, F16, BF16 or a GGUF block type).",
    )
    .register_into_engine(engine, |t: &mut Tensor| t.dtype().to_string());
    func("to_array", "The values as (nested) arrays of floats.")
        .register_into_engine(engine, |t: &mut Tensor| to_nested(t));
    func("item", "The value of a one-element tensor.")
        .register_into_engine(engine, |t: &mut Tensor| {
            t.item().map(|x| x as FLOAT).map_err(engine_err)
        });
    func(
        "to_string",
        "The tensor as a readable table (large ones abbreviated).",
    )
    .register_into_engine(engine, |t: &mut Tensor| t.pretty());
    func(
        "to_debug",
        "The tensor as a readable table (large ones abbreviated).",
    )
    .register_into_engine(engine, |t: &mut Tensor| t.pretty());
}

fn register_indexing(engine: &mut Engine) {
    engine.register_indexer_get(|t: &mut Tensor, i: INT| -> ScriptResult<Dynamic> {
        let row = t.narrow(0, wrap(i, t)?, 1).map_err(engine_err)?;
        let dims = t.dims()[1..].to_vec();
        let row = row.reshape(dims).map_err(engine_err)?;
        // Indexing a vector gives a number, as in numpy.
        if row.rank() == 0 {
            return Ok(Dynamic::from(row.item().map_err(engine_err)? as FLOAT));
        }
        Ok(Dynamic::from(row.contiguous().map_err(engine_err)?))
    });
    engine.register_indexer_get(|t: &mut Tensor, r: Range<INT>| rows(t, r.start, r.end));
    engine.register_indexer_get(|t: &mut Tensor, r: RangeInclusive<INT>| {
        rows(t, *r.start(), *r.end() + 1)
    });
    func(
        "slice",
        "Indices start..end of dimension dim (a copy): t.slice(1, 0, 2).",
    )
    .register_into_engine(engine, |t: &mut Tensor, dim: INT, start: INT, end: INT| {
        let d = crate::ops::tensor_math::resolve_dim(dim, t.rank()).map_err(engine_err)?;
        let (s, e) = (index(start, "start")?, index(end, "end")?);
        if e < s {
            return Err(runtime(format!("slice: end {e} is before start {s}")));
        }
        t.narrow(d, s, e - s)
            .and_then(|v| v.contiguous())
            .map_err(engine_err)
    });
    func(
        "reshape",
        "The same values in a new shape with as many elements.",
    )
    .register_into_engine(engine, |t: &mut Tensor, shape: Array| {
        let dims = dims(&shape)?;
        t.contiguous()
            .and_then(|c| c.reshape(dims))
            .map_err(engine_err)
    });
    func("t", "The transpose of a matrix.")
        .register_into_engine(engine, |t: &mut Tensor| t.t().map_err(engine_err));
    func("transpose", "Swap dimensions a and b.").register_into_engine(
        engine,
        |t: &mut Tensor, a: INT, b: INT| {
            let rank = t.rank();
            let a = crate::ops::tensor_math::resolve_dim(a, rank).map_err(engine_err)?;
            let b = crate::ops::tensor_math::resolve_dim(b, rank).map_err(engine_err)?;
            t.transpose(a, b)
                .and_then(|v| v.contiguous())
                .map_err(engine_err)
        },
    );
}

fn register_arithmetic(engine: &mut Engine) {
    for (name, op) in [
        ("+", BinaryOp::Add),
        ("-", BinaryOp::Sub),
        ("*", BinaryOp::Mul),
        ("/", BinaryOp::Div),
    ] {
        engine.register_fn(name, move |a: Tensor, b: Tensor| {
            a.binary(op, &b).map_err(engine_err)
        });
        engine.register_fn(name, move |a: Tensor, b: FLOAT| {
            a.scalar(op, b as f32, false).map_err(engine_err)
        });
        engine.register_fn(name, move |a: FLOAT, b: Tensor| {
            b.scalar(op, a as f32, true).map_err(engine_err)
        });
        engine.register_fn(name, move |a: Tensor, b: INT| {
            a.scalar(op, b as f32, false).map_err(engine_err)
        });
        engine.register_fn(name, move |a: INT, b: Tensor| {
            b.scalar(op, a as f32, true).map_err(engine_err)
        });
    }
    engine.register_fn("-", |a: Tensor| a.map(|x| -x).map_err(engine_err));
}

fn register_math(engine: &mut Engine) {
    func(
        "matmul",
        "Matrix product: [m, k] × [k, n] → [m, n] (vectors act as a row or a column).",
    )
    .register_into_engine(engine, |a: &mut Tensor, b: Tensor| {
        a.matmul(&b).map_err(engine_err)
    });
    func("softmax", "Softmax along dimension dim (-1: the last).")
        .register_into_engine(engine, |t: &mut Tensor, dim: INT| {
            t.softmax(dim).map_err(engine_err)
        });
    type Reduce = fn(&Tensor, Option<i64>) -> crate::Result<Tensor>;
    let reductions: [(&str, &str, Reduce); 5] = [
        ("argmax", "Index of the largest element", Tensor::argmax),
        ("sum", "Sum", Tensor::sum),
        ("mean", "Mean", Tensor::mean),
        ("max", "Largest element", Tensor::max),
        ("min", "Smallest element", Tensor::min),
    ];
    for (name, what, f) in reductions {
        func(name, &format!("{what} of all elements (a number).")).register_into_engine(
            engine,
            move |t: &mut Tensor| -> ScriptResult<FLOAT> {
                let r = f(t, None).and_then(|r| r.item()).map_err(engine_err)?;
                Ok(r as FLOAT)
            },
        );
        func(
            name,
            &format!("{what} along dimension dim, which is dropped."),
        )
        .register_into_engine(engine, move |t: &mut Tensor, dim: INT| {
            f(t, Some(dim)).map_err(engine_err)
        });
    }
    type Map = fn(f32) -> f32;
    let maps: [(&str, Map); 5] = [
        ("exp", f32::exp),
        ("log", f32::ln),
        ("sqrt", f32::sqrt),
        ("abs", f32::abs),
        ("tanh", f32::tanh),
    ];
    for (name, f) in maps {
        func(name, &format!("{name} of every element."))
            .register_into_engine(engine, move |t: &mut Tensor| t.map(f).map_err(engine_err));
    }
}

/// Integer dimensions from a shape array.
fn dims(shape: &Array) -> ScriptResult<Vec<usize>> {
    shape
        .iter()
        .enumerate()
        .map(|(i, d)| match d.clone().try_cast::<INT>() {
            Some(n) if n >= 0 => Ok(n as usize),
            _ => Err(runtime(format!(
                "shape[{i}]: expected a non-negative integer, got {d}"
            ))),
        })
        .collect()
}

fn filled(shape: &Array, value: f32) -> ScriptResult<Tensor> {
    let dims = dims(shape)?;
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= 1 << 28)
        .ok_or_else(|| runtime(format!("shape {dims:?} is too large")))?;
    Tensor::from_vec(vec![value; n], dims).map_err(engine_err)
}

fn arange(start: INT, end: INT) -> ScriptResult<Tensor> {
    // In i128: `end - start` of two i64s cannot overflow there.
    if end < start || end as i128 - start as i128 > 1 << 28 {
        return Err(runtime(format!(
            "arange({start}, {end}): empty or too long"
        )));
    }
    let data: Vec<f32> = (start..end).map(|i| i as f32).collect();
    let n = data.len();
    Tensor::from_vec(data, [n]).map_err(engine_err)
}

/// A possibly negative index into the first dimension.
fn wrap(i: INT, t: &Tensor) -> ScriptResult<usize> {
    let Some(&n) = t.dims().first() else {
        return Err(runtime("cannot index a scalar tensor; use item()"));
    };
    let j = if i < 0 { i + n as INT } else { i };
    if j < 0 || j >= n as INT {
        return Err(runtime(format!(
            "index {i} is out of range for a first dimension of {n}"
        )));
    }
    Ok(j as usize)
}

fn rows(t: &Tensor, start: INT, end: INT) -> ScriptResult<Tensor> {
    let n = t.dims().first().copied().unwrap_or(0) as INT;
    let clamp = |x: INT| if x < 0 { (x + n).max(0) } else { x.min(n) };
    let (s, e) = (clamp(start), clamp(end));
    t.narrow(0, s as usize, (e - s).max(0) as usize)
        .and_then(|v| v.contiguous())
        .map_err(engine_err)
}

/// Walk nested arrays, checking they are rectangular.
fn from_nested(values: &Dynamic) -> ScriptResult<Tensor> {
    let mut dims = Vec::new();
    let mut probe = values.clone();
    while let Some(a) = probe.clone().try_cast::<Array>() {
        dims.push(a.len());
        match a.into_iter().next() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut data = Vec::new();
    flatten(values, &dims, 0, &mut data)?;
    Tensor::from_vec(data, dims).map_err(engine_err)
}

fn flatten(value: &Dynamic, dims: &[usize], depth: usize, out: &mut Vec<f32>) -> ScriptResult<()> {
    if depth == dims.len() {
        out.push(super::convert::number(value, "tensor values")? as f32);
        return Ok(());
    }
    let Some(array) = value.clone().try_cast::<Array>() else {
        return Err(runtime(format!(
            "tensor: ragged nesting: expected an array of {} at depth {depth}, got {}",
            dims[depth],
            value.type_name()
        )));
    };
    if array.len() != dims[depth] {
        return Err(runtime(format!(
            "tensor: ragged nesting: an array at depth {depth} has {} elements, expected {}",
            array.len(),
            dims[depth]
        )));
    }
    array
        .iter()
        .try_for_each(|v| flatten(v, dims, depth + 1, out))
}

fn to_nested(t: &Tensor) -> ScriptResult<Dynamic> {
    let values = t.to_f32_vec().map_err(engine_err)?;
    fn build(values: &[f32], dims: &[usize]) -> Dynamic {
        match dims {
            [] => Dynamic::from(values[0] as FLOAT),
            [n] => Dynamic::from(
                values[..*n]
                    .iter()
                    .map(|&x| Dynamic::from(x as FLOAT))
                    .collect::<Array>(),
            ),
            [n, rest @ ..] => {
                let stride: usize = rest.iter().product();
                Dynamic::from(
                    (0..*n)
                        .map(|i| build(&values[i * stride..], rest))
                        .collect::<Array>(),
                )
            }
        }
    }
    Ok(build(&values, t.dims()))
}
