//! The inspection API on the GPU: every hook point, attention-pattern
//! edits, interventions and the logit lens give what they give on the CPU,
//! through the same forward pass (the GPU executor reads an activation
//! back only when someone listens).

use super::f32_only;
use crate::common::hf_reference::{fixture, reference};
use crate::common::max_diff;
use monologue::backend::gpu::Gpu;
use monologue::inspect::{run_with_cache, Edit, Hooked, Intervention, Interventions, Point, Site};
use monologue::model::{Backend, LoadOptions, Logits, Model};

/// f32 on both sides; the GPU sums in another order.
const TOL: f32 = 1e-4;

const FIXTURES: [&str; 6] = ["llama", "qwen2", "gpt2", "qwen3", "gemma3", "mistral"];

fn load(name: &str, backend: Backend) -> Box<dyn Model> {
    let options = LoadOptions {
        backend,
        ..Default::default()
    };
    monologue::load::model(fixture(name), &options).unwrap()
}

fn logits(model: &dyn Model, tokens: &[u32]) -> Vec<f32> {
    let mut state = model.new_state(tokens.len()).unwrap();
    model.forward(&mut state, tokens, Logits::All).unwrap()
}

/// `run_with_cache` records the same value at every hook point of every
/// block on both backends.
pub fn every_hook_point_on_the_gpu_matches_the_cpu(_: &Gpu) {
    for name in FIXTURES {
        let (cpu, gpu) = (load(name, Backend::Cpu), load(name, f32_only()));
        let ids = &reference(&fixture(name))[1].ids;
        let (cpu_logits, cpu_cache) = run_with_cache(&*cpu, ids, &["*"]).unwrap();
        let (gpu_logits, gpu_cache) = run_with_cache(&*gpu, ids, &["*"]).unwrap();
        let all = |t: &monologue::Tensor| t.to_f32_vec().unwrap();
        assert!(
            max_diff(&all(&gpu_logits), &all(&cpu_logits)) < TOL,
            "{name}"
        );
        let names = cpu_cache.names();
        assert_eq!(gpu_cache.names(), names, "{name}");
        // Every point of every block, the embedding, final norm and logits.
        let info = cpu.info();
        let per_block = monologue::inspect::BLOCK_POINTS
            .iter()
            .filter(|p| p.in_model(info))
            .count();
        assert_eq!(names.len(), per_block * info.n_layers + 3, "{name}");
        for site in &names {
            let (c, g) = (cpu_cache.get(site).unwrap(), gpu_cache.get(site).unwrap());
            assert_eq!(g.dims(), c.dims(), "{name} {site}");
            let d = max_diff(&all(g), &all(c));
            assert!(d < TOL, "{name} {site}: GPU and CPU differ by {d}");
        }
    }
}

/// Zeroing one head through its output `z` or through its attention
/// pattern changes the logits, by the same amount on the GPU as on the
/// CPU; so do steering the residual stream, zeroing an MLP's output and
/// patching in the residual stream of another input.
pub fn interventions_on_the_gpu_match_the_cpu(_: &Gpu) {
    for name in FIXTURES {
        let (cpu, gpu) = (load(name, Backend::Cpu), load(name, f32_only()));
        let ids = &reference(&fixture(name))[1].ids;
        let plain = logits(&*gpu, ids);
        let edited = |model: &dyn Model, site: Site, edit: Edit, head: Option<usize>| {
            let mut i = Intervention::new(site, edit);
            i.head = head;
            let mut hooks = Interventions::checked(vec![i], model.info()).unwrap();
            logits(&Hooked::new(model, &mut hooks), ids)
        };
        let steer = Edit::Steer {
            vector: (0..cpu.info().d_model)
                .map(|i| (i % 7) as f32 - 3.0)
                .collect(),
            scale: 0.5,
        };
        // Block 0's output on another input, recorded on the CPU.
        let other = &reference(&fixture(name))[0].ids;
        let (_, other_cache) = run_with_cache(&*cpu, other, &["blocks.0.resid_post"]).unwrap();
        let patch = Edit::Patch {
            from: other_cache.get("blocks.0.resid_post").unwrap().clone(),
        };
        let cases = [
            (Site::block(1, Point::AttnZ), Edit::Zero, Some(1)),
            (Site::block(1, Point::AttnPattern), Edit::Zero, Some(1)),
            (Site::block(0, Point::ResidPost), steer, None),
            (Site::block(1, Point::MlpOut), Edit::Zero, None),
            (Site::block(0, Point::ResidPost), patch, None),
        ];
        for (site, edit, head) in cases {
            let on_gpu = edited(&*gpu, site, edit.clone(), head);
            let on_cpu = edited(&*cpu, site, edit, head);
            let what = format!("{name} {}", site.name());
            assert!(max_diff(&on_gpu, &plain) > 1e-3, "{what}: did nothing");
            let d = max_diff(&on_gpu, &on_cpu);
            assert!(d < TOL, "{what}: GPU and CPU differ by {d}");
        }
    }
}

/// The logit lens on the GPU: the last block's output, unembedded, is the
/// logits.
pub fn the_logit_lens_on_the_gpu_ends_at_the_logits(_: &Gpu) {
    for name in FIXTURES {
        let model = load(name, f32_only());
        let ids = &reference(&fixture(name))[1].ids;
        let last = format!("blocks.{}.resid_post", model.info().n_layers - 1);
        let (logits, cache) = run_with_cache(&*model, ids, &[last.as_str()]).unwrap();
        let resid = cache.get(&last).unwrap().to_f32_vec().unwrap();
        let lens = model.unembed(&resid).unwrap();
        let d = max_diff(&lens, &logits.to_f32_vec().unwrap());
        assert!(d < TOL, "{name}: the lens's last layer differs by {d}");
    }
}
