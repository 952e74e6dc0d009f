//! The GPU half of a chat step. A browser cannot block on its GPU, so a
//! step is split: [`WebChat::submit_step`] submits the forward pass, the
//! worker awaits its [`Readback`], and [`WebChat::accept_step`] takes the
//! result.

use super::{piece, report, StepReport, WebChat};
use monologue::generate::Next;
use monologue::model::exec::gpu::Readback;
use monologue::profile::{self, KernelRecord};
use monologue::{Error, Result};

/// A forward pass on the GPU, submitted: await `readback.read()`, then
/// pass the result to [`WebChat::accept_step`] with the rest.
pub struct Submitted {
    pub readback: Readback,
    pub feed: Vec<u32>,
    pub timing: PassTiming,
}

/// How a submitted pass is timed when the reply is profiled.
#[derive(Debug, Clone, Copy)]
pub enum PassTiming {
    /// Each kernel by GPU timestamps (read with the result).
    PerKernel,
    /// No timestamp queries: the whole pass, from this moment (profile
    /// clock) to its result.
    WholePassFrom(u64),
}

impl WebChat {
    /// The GPU half of a step: submits the next forward pass and returns
    /// what to await, with the ids it fed. None once the reply is done.
    pub fn submit_step(&mut self) -> Result<Option<Submitted>> {
        let Some(turn) = self.turn.as_ref() else {
            return Err(Error::Invalid(
                "no reply in progress: send a message first".into(),
            ));
        };
        if turn.is_done() {
            return Ok(None);
        }
        let Some(gpu) = self.lm.model.gpu_submit() else {
            return Err(Error::Invalid(
                "this model runs on the CPU: use step".into(),
            ));
        };
        let (feed, need) = turn.next_pass();
        let started_ns = profile::now_ns();
        match gpu.submit(self.session.state_mut(), &feed, need) {
            Ok(readback) => Ok(Some(Submitted {
                timing: if readback.times_kernels() {
                    PassTiming::PerKernel
                } else {
                    PassTiming::WholePassFrom(started_ns)
                },
                readback,
                feed,
            })),
            Err(e) => self
                .accept_step(&feed, Err(e), PassTiming::PerKernel)
                .map(|_| None),
        }
    }

    /// Completes a step with the awaited result of [`submit_step`](Self::submit_step).
    pub fn accept_step(
        &mut self,
        feed: &[u32],
        next: Result<Next>,
        timing: PassTiming,
    ) -> Result<StepReport> {
        let Some(turn) = self.turn.as_mut() else {
            return Err(Error::Invalid("no reply in progress".into()));
        };
        if let (true, PassTiming::WholePassFrom(started_ns)) = (self.profiling, timing) {
            let now = profile::now_ns();
            profile::push(KernelRecord {
                name: "forward (whole pass)",
                backend: "webgpu",
                shapes: format!("{} tokens", feed.len()),
                bytes: 0,
                flops: 0,
                start_ns: started_ns,
                duration_ns: now.saturating_sub(started_ns),
            });
        }
        let mut pieces = Vec::new();
        let result = self.session.accept(turn, feed, next, &mut |text, kind| {
            pieces.push(piece(text, kind));
        });
        if let Err(e) = result {
            return Err(self.failed(e));
        }
        Ok(report(turn, pieces))
    }
}
