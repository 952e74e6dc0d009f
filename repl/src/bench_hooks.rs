//! `monologue bench hooks`: what listening costs. Decode (tg) speed with
//! the plain forward pass, through a hook wrapper that listens to nothing,
//! and while recording one activation per layer — rounds interleaved so
//! that machine noise hits all three alike, the fastest round reported.

use monologue::bench;
use monologue::inspect::{Hooked, Interventions, Recorder};
use monologue::model::{Logits, Model, State};

#[derive(clap::Args, Debug)]
pub struct HookBenchArgs {
    #[command(flatten)]
    pub model: crate::prompt::ModelArgs,
    /// Tokens generated one at a time per measurement.
    #[arg(long, default_value_t = 64)]
    pub gen_tokens: usize,
    /// Rounds of the three measurements; the fastest of each is reported.
    #[arg(long, default_value_t = 7)]
    pub runs: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &HookBenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let lm = args.model.load()?;
    let vocab = lm.model.info().vocab_size as u64;
    let n = args.gen_tokens.max(1);
    let tokens: Vec<u32> = (0..=n as u64)
        .map(|i| ((i * 2_654_435_761 + 12_345) % vocab) as u32)
        .collect();
    let mut state = lm.new_state(Some(n + 1))?;
    let decode = |model: &dyn Model, state: &mut State| {
        state.truncate(0);
        for &t in &tokens[..n] {
            model.forward(state, &[t], Logits::Last).expect("decode");
        }
    };
    let mut nothing = Interventions::default();
    let mut recorder = Recorder::new(&["blocks.*.resid_post"], lm.model.info())?;
    let (mut plain, mut empty, mut recording) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        plain.push(bench::median_seconds(1, || decode(&*lm.model, &mut state)));
        let hooked = Hooked::new(&*lm.model, &mut nothing);
        empty.push(bench::median_seconds(1, || decode(&hooked, &mut state)));
        let hooked = Hooked::new(&*lm.model, &mut recorder);
        recording.push(bench::median_seconds(1, || decode(&hooked, &mut state)));
    }
    // The fastest round: interference from the rest of the machine only
    // ever slows a round down, so the minimum is the steadiest estimate.
    let tok_s = |times: Vec<f64>| n as f64 / times.into_iter().fold(f64::INFINITY, f64::min);
    let (plain, empty, recording) = (tok_s(plain), tok_s(empty), tok_s(recording));
    if args.json {
        let report = serde_json::json!({
            "decode_tok_s_plain": plain,
            "decode_tok_s_hooks_listening_to_nothing": empty,
            "decode_tok_s_recording_resid_post": recording,
            "gen_tokens": n,
        });
        println!("{report}");
    } else {
        println!("| forward pass (tg{n}) | t/s | vs plain |");
        println!("|---|---:|---:|");
        for (what, speed) in [
            ("plain (no hooks)", plain),
            ("hook wrapper, nothing listening", empty),
            ("recording blocks.*.resid_post", recording),
        ] {
            println!(
                "| {what} | {speed:.1} | {:+.1}% |",
                100.0 * (speed / plain - 1.0)
            );
        }
    }
    Ok(())
}
