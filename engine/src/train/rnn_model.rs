//! The trained GRU+RWKV RNN ([`super::rnn`]) in the inference path, so that
//! `monologue generate`, the REPL and notebooks run it like any model.
//!
//! It runs the training graph's forward pass with frozen weights. Its
//! "cache" is the recurrent state: fixed-size, whatever the context. To
//! rewind (a chat that edits a turn), the state keeps a snapshot every
//! [`SNAPSHOT_EVERY`] positions and the tokens since; `truncate` goes back
//! to the nearest snapshot and the next forward replays the rest.

use super::graph::Graph;
use super::rnn::{Rnn, RnnConfig, RnnState};
use crate::error::{Error, Result};
use crate::io::ModelFile;
use crate::model::hooks::Hooks;
use crate::model::site::all_sites;
use crate::model::{DeviceCache, Logits, Model, ModelInfo, State};
use crate::tensor::DType;
use std::sync::Mutex;

/// Positions between two snapshots of the recurrent state.
pub const SNAPSHOT_EVERY: usize = 64;

pub struct RnnModel {
    info: ModelInfo,
    net: Rnn,
    /// The weights (frozen) and, during a forward, its activations.
    graph: Mutex<Graph>,
}

impl RnnModel {
    /// The RNN saved in `file` (a checkpoint's `model.safetensors`) with
    /// the shape in its `config.json`.
    pub fn load(config: RnnConfig, file: &ModelFile) -> Result<RnnModel> {
        let mut graph = Graph::new();
        let mut rng = crate::ops::rng::Rng::new(0);
        let net = Rnn::new(config, &mut graph, &mut rng)?;
        for p in &mut graph.params {
            let values = file.tensor(&p.name)?.to_f32_vec()?;
            if values.len() != p.value.len() {
                return Err(Error::Invalid(format!(
                    "{}: {} holds {} values, the RNN's config needs {:?}",
                    file.path(),
                    p.name,
                    values.len(),
                    p.shape
                )));
            }
            p.value = values;
            p.trainable = false;
            p.grad = Vec::new();
        }
        let h = config.hidden;
        let info = ModelInfo {
            architecture: "rnn".into(),
            vocab_size: config.vocab,
            // A recurrent state holds any number of positions.
            context_length: usize::MAX / 2,
            n_layers: config.layers,
            d_model: h,
            n_heads: config.heads,
            n_kv_heads: config.heads,
            head_dim: h / config.heads.max(1),
            d_ff: config.expert_hidden,
            qk_norm: false,
            windows: Vec::new(),
        };
        Ok(RnnModel {
            info,
            net,
            graph: Mutex::new(graph),
        })
    }

    /// Runs `tokens` from `state`; the logits of every position.
    fn run(&self, state: &mut RnnState, tokens: &[u32]) -> Result<Vec<f32>> {
        let mut g = self.graph.lock().unwrap_or_else(|e| e.into_inner());
        let result = self
            .net
            .forward(&mut g, tokens, state)
            .map(|out| g.value(out.logits).to_vec());
        g.clear();
        result
    }
}

/// The recurrent state of one conversation, with what it needs to rewind.
#[derive(Debug)]
struct RnnCache {
    tokens: Vec<u32>,
    /// `(position, state after that many tokens)`, oldest first; always
    /// holds position 0.
    snapshots: Vec<(usize, RnnState)>,
    /// The state after `tokens[..at]`; the rest is replayed before the
    /// next new token.
    current: RnnState,
    at: usize,
}

impl DeviceCache for RnnCache {
    fn positions(&self) -> usize {
        self.tokens.len()
    }

    fn truncate(&mut self, pos: usize) {
        if pos >= self.tokens.len() {
            return;
        }
        self.tokens.truncate(pos);
        self.snapshots.retain(|(p, _)| *p <= pos);
        if self.at > pos {
            let (p, s) = self.snapshots.last().cloned().expect("snapshot 0 is kept");
            (self.at, self.current) = (p, s);
        }
    }

    /// It replays from its snapshots: any earlier position will do.
    fn can_resume_at(&self, pos: usize) -> bool {
        pos <= self.tokens.len()
    }

    fn bytes(&self) -> usize {
        let state = |s: &RnnState| {
            s.layers
                .iter()
                .map(|l| l.shift.len() + l.wkv.len() + l.hidden.len())
                .sum::<usize>()
                * 4
        };
        state(&self.current)
            + self.snapshots.iter().map(|(_, s)| state(s)).sum::<usize>()
            + self.tokens.len() * 4
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl Model for RnnModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn new_state_with(&self, capacity: usize, _kv_dtype: DType) -> Result<State> {
        let zeros = RnnState::zeros(&self.net.config, 1);
        let cache = RnnCache {
            tokens: Vec::new(),
            snapshots: vec![(0, zeros.clone())],
            current: zeros,
            at: 0,
        };
        Ok(State::on_device(capacity, Box::new(cache)))
    }

    fn forward(&self, state: &mut State, tokens: &[u32], logits: Logits) -> Result<Vec<f32>> {
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        state.check_room(tokens.len())?;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.info.vocab_size) {
            return Err(Error::Invalid(format!(
                "token {bad} is outside the vocabulary of {}",
                self.info.vocab_size
            )));
        }
        let cache = state
            .device
            .as_mut()
            .and_then(|d| d.as_any_mut().downcast_mut::<RnnCache>())
            .ok_or_else(|| Error::Invalid("this state does not belong to the RNN".into()))?;
        // Replay what a truncate rewound past, then the new tokens, from a
        // copy: on error the state stays as it was.
        let mut next = cache.current.clone();
        let replay = &cache.tokens[cache.at..];
        if !replay.is_empty() {
            self.run(&mut next, replay)?;
        }
        let mut all = Vec::new();
        let mut pos = cache.tokens.len();
        let mut snapshots = Vec::new();
        // Feed up to each snapshot boundary, so snapshots fall on them.
        let mut rest = tokens;
        while !rest.is_empty() {
            let room = SNAPSHOT_EVERY - pos % SNAPSHOT_EVERY;
            let (now, later) = rest.split_at(room.min(rest.len()));
            all.extend(self.run(&mut next, now)?);
            pos += now.len();
            if pos.is_multiple_of(SNAPSHOT_EVERY) {
                snapshots.push((pos, next.clone()));
            }
            rest = later;
        }
        cache.tokens.extend_from_slice(tokens);
        cache.snapshots.extend(snapshots);
        cache.current = next;
        cache.at = cache.tokens.len();
        let vocab = self.info.vocab_size;
        Ok(match logits {
            Logits::All => all,
            Logits::Last => all[all.len() - vocab..].to_vec(),
        })
    }

    fn forward_hooked(
        &self,
        state: &mut State,
        tokens: &[u32],
        logits: Logits,
        hooks: &mut dyn Hooks,
    ) -> Result<Vec<f32>> {
        if let Some(site) = all_sites(&self.info).into_iter().find(|&s| hooks.wants(s)) {
            return Err(Error::Invalid(format!(
                "hook {site:?}: the RNN has no hook points yet (they name transformer activations)"
            )));
        }
        self.forward(state, tokens, logits)
    }

    fn unembed(&self, _resid: &[f32]) -> Result<Vec<f32>> {
        Err(Error::Invalid(
            "the logit lens reads transformer residual streams; the RNN has none".into(),
        ))
    }
}
