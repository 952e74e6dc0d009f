//! What every model on the GPU shares: feeding tokens in chunks (one
//! submission each), running the head on the rows whose logits are wanted,
//! and reading back either those logits or only their argmax.

use super::batch::Batch;
use super::cache::{GpuCache, Scratch};
use super::device::Gpu;
use super::kernels;
use super::weight::GpuWeight;
use crate::error::{Error, Result};
use crate::generate::{Need, Next};
use crate::model::{Logits, ModelInfo, State};
use std::ops::Range;
use std::sync::Arc;

/// A model whose forward pass is recorded into a [`Batch`].
pub(super) trait Recorded: Sync {
    fn gpu(&self) -> &Gpu;

    fn shape(&self) -> &ModelInfo;

    /// Records the embedding and every layer for the `tokens` ids in
    /// `s.ids` (their positions, from `pos0`, in `s.positions`), leaving
    /// the residual stream in `s.x` and the new keys and values in `cache`.
    fn record_layers<'a>(
        &'a self,
        b: &mut Batch<'a>,
        cache: &'a GpuCache,
        pos0: usize,
        tokens: usize,
    ) -> Result<()>;

    /// Records the final norm of `s.x` (`tokens` rows) into `s.normed`.
    fn record_final_norm<'a>(
        &'a self,
        b: &mut Batch<'a>,
        s: &'a Scratch,
        tokens: usize,
    ) -> Result<()>;

    /// The unembedding matrix.
    fn head(&self) -> &GpuWeight;
}

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

/// `Model::forward` for a recorded model.
pub(super) fn forward(
    m: &impl Recorded,
    state: &mut State,
    tokens: &[u32],
    logits: Logits,
) -> Result<Vec<f32>> {
    check_ids(m.shape(), tokens)?;
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
            let bytes = run_chunk(m, cache, pos0 + i * chunk, ids, want)?;
            out.extend(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes));
        }
        Ok(out)
    })
}

/// `Model::forward_argmax` for a recorded model: the head's argmax is
/// found on the GPU and only it is read back.
pub(super) fn forward_argmax(m: &impl Recorded, state: &mut State, tokens: &[u32]) -> Result<u32> {
    let bytes = forward_last(m, state, tokens, Want::Argmax)?;
    Ok(bytemuck::pod_read_unaligned::<u32>(&bytes[..4]))
}

/// `Model::forward_top_k`: the k largest logits and their ids, found on
/// the GPU; 8k bytes are read back.
pub(super) fn forward_top_k(
    m: &impl Recorded,
    state: &mut State,
    tokens: &[u32],
    k: usize,
) -> Result<Vec<(u32, f32)>> {
    let k = k.min(m.shape().vocab_size);
    if k == 0 || k > kernels::MAX_TOP_K {
        return Err(Error::Invalid(format!(
            "forward_top_k: k = {k} must be between 1 and {}",
            kernels::MAX_TOP_K
        )));
    }
    let bytes = forward_last(m, state, tokens, Want::TopK(k))?;
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(&bytes);
    Ok((0..k)
        .map(|j| (words[j], f32::from_bits(words[k + j])))
        .collect())
}

/// Feeds `tokens` and reads back `want` for the last one.
fn forward_last(
    m: &impl Recorded,
    state: &mut State,
    tokens: &[u32],
    want: Want,
) -> Result<Vec<u8>> {
    check_ids(m.shape(), tokens)?;
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
            last = run_chunk(m, cache, pos0 + i * chunk, ids, this)?;
        }
        Ok(last)
    })
}

/// Why `forward_hooked` fails on the GPU.
pub(super) fn hooks_need_the_cpu() -> Error {
    Error::Invalid(
        "hooks (activation caches, interventions) run on the CPU backend; load the model without the GPU backend to inspect it".into(),
    )
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
fn run_chunk(
    m: &impl Recorded,
    cache: &mut GpuCache,
    pos0: usize,
    ids: &[u32],
    want: Want,
) -> Result<Vec<u8>> {
    let bytes = submit_chunk(m, cache, pos0, ids, want)?;
    if bytes == 0 {
        return Ok(Vec::new());
    }
    m.gpu().read_mapped(&cache.scratch.readback, bytes)
}

/// Records and submits one chunk; what was asked for waits in the
/// scratch's read-back buffer. Returns its size in bytes.
fn submit_chunk(
    m: &impl Recorded,
    cache: &mut GpuCache,
    pos0: usize,
    ids: &[u32],
    want: Want,
) -> Result<u64> {
    let gpu = m.gpu();
    let vocab = m.shape().vocab_size;
    let t = ids.len();
    let s = &cache.scratch;
    let positions: Vec<u32> = (pos0..pos0 + t).map(|p| p as u32).collect();
    gpu.queue.write_buffer(&s.ids, 0, bytemuck::cast_slice(ids));
    gpu.queue
        .write_buffer(&s.positions, 0, bytemuck::cast_slice(&positions));

    let mut b = Batch::new(gpu);
    m.record_layers(&mut b, cache, pos0, t)?;
    // Only the rows whose logits are wanted go through the head.
    let (rows, bytes) = match &want {
        Want::Nothing => (0..0, 0),
        Want::Logits(rows) => (rows.clone(), 4 * (rows.len() * vocab) as u64),
        Want::Argmax => (t - 1..t, 4),
        Want::TopK(k) => (t - 1..t, 8 * *k as u64),
    };
    if !rows.is_empty() {
        m.record_final_norm(&mut b, s, t)?;
        kernels::matmul(
            &mut b,
            m.head(),
            &s.normed,
            rows.start,
            rows.len(),
            &s.logits,
        )?;
        match want {
            Want::Argmax => kernels::argmax(&mut b, &s.logits, &s.best, 1, vocab)?,
            Want::TopK(k) => kernels::top_k(&mut b, &s.logits, &s.best, vocab, k)?,
            _ => {}
        }
        let from = if matches!(want, Want::Logits(_)) {
            &s.logits
        } else {
            &s.best
        };
        b.copy_after(from, 0, &s.readback, 0, bytes);
    }
    b.submit()?;
    cache.len = pos0 + t;
    Ok(bytes)
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

/// [`Submit::submit`] for a recorded model.
pub(super) fn submit(
    m: &impl Recorded,
    gpu: &Arc<Gpu>,
    state: &mut State,
    tokens: &[u32],
    need: Need,
) -> Result<Readback> {
    check_ids(m.shape(), tokens)?;
    if tokens.is_empty() {
        return Err(Error::Invalid("no tokens to feed".into()));
    }
    let vocab = m.shape().vocab_size;
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
            bytes = submit_chunk(m, cache, pos0 + i * chunk, ids, want)?;
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
