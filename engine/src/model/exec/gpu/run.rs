//! Running an architecture on the GPU: feeding tokens in chunks (one
//! submission each), running the head on the rows whose logits are wanted,
//! and reading back those logits, or only their argmax or top k.

use super::cache::{GpuCache, Scratch};
use super::exec::GpuExec;
use super::Device;
use crate::backend::gpu::{kernels, Gpu};
use crate::error::{Error, Result};
use crate::model::exec::{Architecture, Dims, Slot};
use crate::model::hooks::{Hooks, NoHooks};
use crate::model::{Logits, ModelInfo, Need, Next, State};
use std::ops::Range;
use std::sync::Arc;

/// What one chunk's submission reads back.
enum Want {
    /// Nothing (a prefill chunk before the last).
    Nothing,
    /// The logits of these rows of the chunk.
    Logits(Range<usize>),
    /// The argmax of the last row's logits.
    Argmax,
    /// The k largest of the last row's logits, with their ids.
    TopK(usize),
}

/// `Model::forward` (and `forward_hooked`) on the GPU.
pub(super) fn forward<H: Hooks + ?Sized>(
    m: &impl Architecture<Device>,
    gpu: &Gpu,
    state: &mut State,
    tokens: &[u32],
    logits: Logits,
    hooks: &mut H,
) -> Result<Vec<f32>> {
    check_ids(m.info(), tokens)?;
    state.run_guarded(tokens, |state, pos0| {
        let cache = GpuCache::of(state)?;
        let mut out = Vec::new();
        let chunk = cache.chunk;
        let n_chunks = tokens.len().div_ceil(chunk);
        for (i, ids) in tokens.chunks(chunk).enumerate() {
            let want = match logits {
                Logits::All => Want::Logits(0..ids.len()),
                Logits::Last if i + 1 == n_chunks => Want::Logits(ids.len() - 1..ids.len()),
                Logits::Last => Want::Nothing,
            };
            let bytes = run_chunk(m, gpu, cache, pos0 + i * chunk, ids, want, hooks)?;
            out.extend(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes));
        }
        Ok(out)
    })
}

/// `Model::forward_argmax` on the GPU: the head's argmax is found there
/// and only it is read back.
pub(super) fn forward_argmax(
    m: &impl Architecture<Device>,
    gpu: &Gpu,
    state: &mut State,
    tokens: &[u32],
) -> Result<u32> {
    let bytes = forward_last(m, gpu, state, tokens, Want::Argmax)?;
    Ok(bytemuck::pod_read_unaligned::<u32>(&bytes[..4]))
}

/// `Model::forward_top_k`: the k largest logits and their ids, found on
/// the GPU; 8k bytes are read back.
pub(super) fn forward_top_k(
    m: &impl Architecture<Device>,
    gpu: &Gpu,
    state: &mut State,
    tokens: &[u32],
    k: usize,
) -> Result<Vec<(u32, f32)>> {
    let k = k.min(m.info().vocab_size);
    if k == 0 || k > kernels::MAX_TOP_K {
        return Err(Error::Invalid(format!(
            "forward_top_k: k = {k} must be between 1 and {}",
            kernels::MAX_TOP_K
        )));
    }
    let bytes = forward_last(m, gpu, state, tokens, Want::TopK(k))?;
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
    Ok((0..k)
        .map(|j| (words[j], f32::from_bits(words[k + j])))
        .collect())
}

/// Feeds `tokens` and reads back `want` for the last one.
fn forward_last(
    m: &impl Architecture<Device>,
    gpu: &Gpu,
    state: &mut State,
    tokens: &[u32],
    want: Want,
) -> Result<Vec<u8>> {
    check_ids(m.info(), tokens)?;
    if tokens.is_empty() {
        return Err(Error::Invalid("no tokens to feed".into()));
    }
    state.run_guarded(tokens, |state, pos0| {
        let cache = GpuCache::of(state)?;
        let chunk = cache.chunk;
        let n_chunks = tokens.len().div_ceil(chunk);
        let mut last = Vec::new();
        let mut want = Some(want);
        for (i, ids) in tokens.chunks(chunk).enumerate() {
            let this = match (i + 1 == n_chunks, want.take()) {
                (true, Some(w)) => w,
                (_, w) => {
                    want = w;
                    Want::Nothing
                }
            };
            last = run_chunk(m, gpu, cache, pos0 + i * chunk, ids, this, &mut NoHooks)?;
        }
        Ok(last)
    })
}

fn check_ids(m: &ModelInfo, tokens: &[u32]) -> Result<()> {
    match tokens.iter().find(|&&t| t as usize >= m.vocab_size) {
        Some(bad) => Err(Error::Invalid(format!(
            "token id {bad} is outside the vocabulary of {} tokens",
            m.vocab_size
        ))),
        None => Ok(()),
    }
}

/// One submission: `ids` at positions `pos0…`. Returns the bytes of what
/// was asked for (f32 logits, one u32 argmax, or the top k), read back.
fn run_chunk<H: Hooks + ?Sized>(
    m: &impl Architecture<Device>,
    gpu: &Gpu,
    cache: &mut GpuCache,
    pos0: usize,
    ids: &[u32],
    want: Want,
    hooks: &mut H,
) -> Result<Vec<u8>> {
    let bytes = submit_chunk(m, gpu, cache, pos0, ids, want, hooks)?;
    if bytes == 0 {
        return Ok(Vec::new());
    }
    gpu.read_mapped(&cache.scratch.readback, bytes)
}

/// Records and submits one chunk; what was asked for waits in the
/// scratch's read-back buffer. Returns its size in bytes.
fn submit_chunk<H: Hooks + ?Sized>(
    m: &impl Architecture<Device>,
    gpu: &Gpu,
    cache: &mut GpuCache,
    pos0: usize,
    ids: &[u32],
    want: Want,
    hooks: &mut H,
) -> Result<u64> {
    let vocab = m.info().vocab_size;
    let t = ids.len();
    let s = &cache.scratch;
    let positions: Vec<u32> = (pos0..pos0 + t).map(|p| p as u32).collect();
    gpu.queue.write_buffer(&s.ids, 0, bytemuck::cast_slice(ids));
    gpu.queue
        .write_buffer(&s.positions, 0, bytemuck::cast_slice(&positions));

    // Only the rows whose logits are wanted go through the head.
    let (rows, bytes) = match &want {
        Want::Nothing => (0..0, 0),
        Want::Logits(rows) => (rows.clone(), 4 * (rows.len() * vocab) as u64),
        Want::Argmax => (t - 1..t, 4),
        Want::TopK(k) => (t - 1..t, 8 * *k as u64),
    };
    let dims = Dims::of(m.info());
    let mut e = GpuExec::new(
        gpu,
        (&cache.keys, &cache.values, &cache.rows),
        s,
        dims,
        t,
        pos0,
        rows.clone(),
        hooks,
    );
    m.body(&mut e)?;
    if !rows.is_empty() {
        m.head(&mut e)?;
        let b = e.batch();
        match want {
            Want::Argmax => kernels::argmax(b, &s.logits, &s.best, 1, vocab)?,
            Want::TopK(k) => kernels::top_k(b, &s.logits, &s.best, vocab, k)?,
            _ => {}
        }
        let from = if matches!(want, Want::Logits(_)) {
            &s.logits
        } else {
            &s.best
        };
        b.copy_after(from, 0, &s.readback, 0, bytes);
    }
    e.submit()?;
    cache.len = pos0 + t;
    cache.high = cache.high.max(cache.len);
    Ok(bytes)
}

/// `Model::unembed` on the GPU: the head alone over residual-stream rows
/// uploaded into a scratch of their own, a chunk at a time.
pub(super) fn unembed(m: &impl Architecture<Device>, gpu: &Gpu, resid: &[f32]) -> Result<Vec<f32>> {
    let info = m.info();
    let d = info.d_model;
    if !resid.len().is_multiple_of(d) {
        return Err(Error::Invalid(format!(
            "unembed: {} values are not whole rows of the model width {d}",
            resid.len()
        )));
    }
    let mut out = Vec::with_capacity(resid.len() / d * info.vocab_size);
    for rows in resid.chunks(UNEMBED_CHUNK * d) {
        let n = rows.len() / d;
        let scratch = Scratch::new(gpu, info, n, 1)?;
        let result = unembed_chunk(m, gpu, &scratch, rows, n);
        gpu.give_back(scratch.buffers());
        out.extend(result?);
    }
    Ok(out)
}

/// Rows of the residual stream unembedded per submission.
const UNEMBED_CHUNK: usize = 64;

fn unembed_chunk(
    m: &impl Architecture<Device>,
    gpu: &Gpu,
    s: &Scratch,
    rows: &[f32],
    n: usize,
) -> Result<Vec<f32>> {
    gpu.queue.write_buffer(&s.x, 0, bytemuck::cast_slice(rows));
    let dims = Dims::of(m.info());
    let mut no_hooks = NoHooks;
    let mut e = GpuExec::new(gpu, (&[], &[], &[]), s, dims, n, 0, 0..n, &mut no_hooks);
    m.head(&mut e)?;
    e.submit()?;
    gpu.read_f32(s.slot(Slot::Logits), 0, n * dims.vocab)
}

/// A forward pass submitted to the GPU whose result is not read yet. The
/// browser cannot block on the GPU, so it awaits [`Readback::read`] while
/// its event loop runs; native code may await it too.
pub struct Readback {
    gpu: Arc<Gpu>,
    buffer: wgpu::Buffer,
    bytes: u64,
    need: Need,
}

impl Readback {
    /// Whether a profiled pass records each kernel's GPU time (the device
    /// has timestamp queries), rather than none.
    pub fn times_kernels(&self) -> bool {
        self.gpu.has_timestamps()
    }

    /// What the generation loop asked for, once the GPU is done.
    pub async fn read(self) -> Result<Next> {
        let bytes = self.gpu.read_mapped_async(&self.buffer, self.bytes).await?;
        // The pass is done, so its kernels' timestamps (if profiled) are too.
        self.gpu.collect_timings().await?;
        let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(match self.need {
            Need::Argmax => Next::Chosen(words[0]),
            Need::TopK(k) => Next::TopK(
                (0..k)
                    .map(|j| (words[j], f32::from_bits(words[k + j])))
                    .collect(),
            ),
            Need::Logits => Next::Logits(bytemuck::pod_collect_to_vec(&bytes)),
        })
    }
}

/// A GPU model's asynchronous face (see [`crate::model::Model::gpu_submit`]).
pub trait Submit {
    /// Feeds `tokens` and submits the work that yields what `need` asks of
    /// the last one; the state already counts them when this returns.
    fn submit(&self, state: &mut State, tokens: &[u32], need: Need) -> Result<Readback>;
}

/// [`Submit::submit`] on the GPU.
pub(super) fn submit(
    m: &impl Architecture<Device>,
    gpu: &Arc<Gpu>,
    state: &mut State,
    tokens: &[u32],
    need: Need,
) -> Result<Readback> {
    check_ids(m.info(), tokens)?;
    if tokens.is_empty() {
        return Err(Error::Invalid("no tokens to feed".into()));
    }
    let vocab = m.info().vocab_size;
    let need = match need {
        Need::TopK(k) if k == 0 || k.min(vocab) > kernels::MAX_TOP_K => {
            return Err(Error::Invalid(format!(
                "top-k read-back: k = {k} must be between 1 and {}",
                kernels::MAX_TOP_K
            )))
        }
        Need::TopK(k) => Need::TopK(k.min(vocab)),
        other => other,
    };
    let submitted = state.run_guarded(tokens, |state, pos0| {
        let cache = GpuCache::of(state)?;
        let chunk = cache.chunk;
        let n_chunks = tokens.len().div_ceil(chunk);
        let mut bytes = 0;
        for (i, ids) in tokens.chunks(chunk).enumerate() {
            let want = match (i + 1 == n_chunks, need) {
                (false, _) => Want::Nothing,
                (true, Need::Argmax) => Want::Argmax,
                (true, Need::TopK(k)) => Want::TopK(k),
                (true, Need::Logits) => Want::Logits(ids.len() - 1..ids.len()),
            };
            bytes = submit_chunk(m, gpu, cache, pos0 + i * chunk, ids, want, &mut NoHooks)?;
        }
        Ok(Some(Readback {
            gpu: gpu.clone(),
            buffer: cache.scratch.readback.clone(),
            bytes,
            need,
        }))
    })?;
    // run_guarded gives None only for no tokens, refused above.
    submitted.ok_or_else(|| Error::Invalid("no tokens to feed".into()))
}
