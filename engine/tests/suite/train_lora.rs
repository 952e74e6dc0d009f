//! LoRA fine-tuning (`train::lora`, `train::tape` with frozen bases,
//! `finetune::peft`): it starts as the model itself, its gradients
//! are the full fine-tune's projected onto the adapters, it learns, it
//! resumes bit for bit, and its `peft` folder carries the same adapters
//! between a GGUF `llama` file (queries and keys in llama.cpp's row order)
//! and the Hugging Face checkpoint it was converted from.

use crate::common::hf_reference::fixture;
use monologue::finetune::pretrained::Pretrained;
use monologue::finetune::sft::Conversation;
use monologue::finetune::{checkpoint, peft, FineTune};
use monologue::generate::Message;
use monologue::train::lora::LoraConfig;
use monologue::train::run::TrainConfig;

fn lora(rank: usize, dropout: f32) -> LoraConfig {
    LoraConfig {
        rank,
        alpha: 2.0 * rank as f32,
        dropout,
        ..LoraConfig::default()
    }
}

fn load(path: &std::path::Path, lora: Option<LoraConfig>) -> Pretrained {
    let (file, path, recipe) = monologue::load::recipe(path).unwrap();
    Pretrained::from_recipe(&file, recipe, path, lora).unwrap()
}

fn logits(model: &mut Pretrained, ids: &[u32]) -> Vec<f32> {
    let v = model.forward(ids, 1).unwrap();
    let out = model.graph.value(v).to_vec();
    model.graph.clear();
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const IDS: [u32; 12] = [5, 17, 99, 3, 250, 41, 7, 7, 180, 64, 2, 31];

#[test]
fn adapters_start_as_the_model_itself_and_train_alone() {
    for name in ["llama", "gemma3", "qwen2"] {
        let mut full = load(&fixture(name), None);
        let mut adapted = load(&fixture(name), Some(lora(4, 0.0)));
        let d = max_diff(&logits(&mut full, &IDS), &logits(&mut adapted, &IDS));
        assert!(
            d < 1e-4,
            "{name}: LoRA at initialisation moves logits by {d}"
        );
        // Only the adapters train: 7 projections × 2 matrices per block.
        let trained: Vec<_> = adapted
            .graph
            .params
            .iter()
            .filter(|p| p.trainable)
            .collect();
        assert_eq!(trained.len(), 14 * adapted.info().n_layers, "{name}");
        assert!(trained.iter().all(|p| p.name.contains(".lora_")));
        assert_eq!(adapted.adapters.len(), 7 * adapted.info().n_layers);
    }
}

/// With B = 0, dL/dB = s · (dL/dW) · Aᵀ and dL/dA = 0, where dL/dW is the
/// gradient full fine-tuning gives the same weight: LoRA's backward pass
/// (through frozen weights) against the full one.
#[test]
fn adapter_gradients_are_the_full_gradient_projected() {
    let targets: Vec<u32> = IDS[1..].iter().copied().chain([1]).collect();
    for name in ["llama", "qwen3"] {
        let mut full = load(&fixture(name), None);
        let l = full.loss(&IDS, &targets, 1).unwrap();
        full.graph.backward(l).unwrap();
        let config = lora(3, 0.0);
        let s = config.scale();
        let mut adapted = load(&fixture(name), Some(config));
        let l = adapted.loss(&IDS, &targets, 1).unwrap();
        adapted.graph.backward(l).unwrap();
        let mut worst = 0f32;
        for adapter in adapted.adapters.clone() {
            let w = full
                .graph
                .params
                .iter()
                .find(|p| p.name == adapter.weight)
                .unwrap();
            let (a, b) = (
                &adapted.graph.params[adapter.a],
                &adapted.graph.params[adapter.b],
            );
            let (out, inp, r) = (w.shape[0], w.shape[1], a.shape[0]);
            assert!(a.grad.iter().all(|&g| g == 0.0), "{name}: dL/dA with B = 0");
            let scale = w.grad.iter().fold(0f32, |m, g| m.max(g.abs())).max(1e-6);
            for o in 0..out {
                for k in 0..r {
                    let want: f32 = (0..inp)
                        .map(|i| s * w.grad[o * inp + i] * a.value[k * inp + i])
                        .sum();
                    let got = b.grad[o * r + k];
                    worst = worst.max((got - want).abs() / scale);
                }
            }
        }
        assert!(
            worst < 1e-4,
            "{name}: dL/dB off by {worst} of the gradient's scale"
        );
    }
}

fn chat_set() -> Vec<Conversation> {
    [("Say hello.", "hello there"), ("Name a colour.", "blue")]
        .iter()
        .map(|(q, a)| Conversation {
            messages: vec![Message::user(*q), Message::assistant(*a)],
        })
        .collect()
}

fn config(steps: usize, lr: f32) -> TrainConfig {
    TrainConfig {
        batch: 1,
        seq: 128,
        steps,
        lr,
        min_lr: lr,
        warmup: 0,
        eval_every: 0,
        ..TrainConfig::default()
    }
}

#[test]
fn lora_learns_a_chat_set_and_resumes_bit_for_bit() {
    let model = fixture("qwen2").display().to_string();
    let set = chat_set();
    let cfg = TrainConfig {
        accumulate: 2,
        ..config(60, 2e-2)
    };
    let run = |steps: usize| {
        let mut ft = FineTune::start(&model, Some(lora(8, 0.1)), &set, cfg.clone(), 0.0).unwrap();
        for _ in 0..steps {
            ft.step().unwrap();
        }
        ft
    };
    let straight = run(60);
    let (first, last) = (straight.history[0].loss, straight.history[59].loss);
    // Dropout keeps it from the last digits of memorising.
    assert!(first > 2.0 && last < 0.5, "loss {first} → {last}");

    let half = run(30);
    let dir = std::env::temp_dir().join(format!("monologue-lora-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let saved = half.save(&dir).unwrap();
    assert!(saved.join(peft::CONFIG).is_file() && saved.join(peft::WEIGHTS).is_file());
    let mut resumed = checkpoint::resume(&dir, &set).unwrap();
    for _ in 0..30 {
        resumed.step().unwrap();
    }
    for (a, b) in resumed
        .model
        .graph
        .params
        .iter()
        .zip(&straight.model.graph.params)
    {
        let same = a
            .value
            .iter()
            .zip(&b.value)
            .all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{} differs after resuming", a.name);
    }
}

/// Adapters trained on llama.cpp's GGUF copy of a Hugging Face model,
/// saved as a `peft` folder and read onto the Hugging Face original, give
/// the same logits: the query and key rows went back to Hugging Face's
/// order on the way out.
#[test]
fn peft_adapters_move_between_gguf_and_hugging_face_layouts() {
    let gguf = fixture("llama")
        .join("llama_cpp.gguf")
        .display()
        .to_string();
    let mut ft =
        FineTune::start(&gguf, Some(lora(4, 0.0)), &chat_set(), config(3, 1e-2), 0.0).unwrap();
    for _ in 0..3 {
        ft.step().unwrap();
    }
    let dir = std::env::temp_dir().join(format!("monologue-peft-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    peft::write(&ft.model, &dir, "llama").unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(peft::CONFIG)).unwrap()).unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);

    let trained = logits(&mut ft.model, &IDS);
    let mut hf = load(&fixture("llama"), Some(lora(4, 0.0)));
    let before = logits(&mut hf, &IDS);
    peft::read(&mut hf, &dir).unwrap();
    let after = logits(&mut hf, &IDS);
    assert!(
        max_diff(&trained, &before) > 1e-3,
        "the adapters changed nothing"
    );
    let d = max_diff(&trained, &after);
    assert!(
        d < 1e-4,
        "the Hugging Face model with the adapters differs by {d}"
    );
}

/// A LoRA run's checkpoint loads through the front door like any model:
/// its base with the adapters merged in, for generation and chat; merged
/// and written in the base's format, it is the same model.
#[test]
fn a_lora_checkpoint_loads_as_its_base_with_the_adapters() {
    for (what, model) in [
        ("gguf", fixture("llama").join("llama_cpp.gguf")),
        ("hf", fixture("qwen3")),
    ] {
        let model = model.display().to_string();
        let mut ft = FineTune::start(
            &model,
            Some(lora(4, 0.0)),
            &chat_set(),
            config(3, 1e-2),
            0.0,
        )
        .unwrap();
        for _ in 0..3 {
            ft.step().unwrap();
        }
        let dir =
            std::env::temp_dir().join(format!("monologue-lora-load-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ft.save(&dir).unwrap();
        let tape = logits(&mut ft.model, &IDS);
        let lm = monologue::LanguageModel::load(&dir.display().to_string(), &Default::default())
            .unwrap();
        let mut state = lm.model.new_state(32).unwrap();
        let loaded = lm
            .model
            .forward(&mut state, &IDS, monologue::model::Logits::All)
            .unwrap();
        let d = max_diff(&tape, &loaded);
        assert!(d < 1e-4, "{what}: the loaded adapter model differs by {d}");
        let base = monologue::load::model(&model, &Default::default()).unwrap();
        let mut state = base.new_state(32).unwrap();
        let plain = base
            .forward(&mut state, &IDS, monologue::model::Logits::All)
            .unwrap();
        assert!(
            max_diff(&plain, &loaded) > 1e-3,
            "{what}: the adapters were not applied"
        );
    }
}

/// Hugging Face `peft` loads an adapter the engine wrote (trained on the
/// GGUF copy, so its query and key rows went back to Hugging Face order)
/// onto the Hugging Face model, and computes the logits the engine
/// computes with the same adapter: `tests/reference/peft_adapter.py`.
#[test]
fn peft_computes_what_we_compute_with_our_adapter() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/train/peft-llama");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("peft_logits.json")).unwrap())
            .unwrap();
    // Both the base it names (the Hugging Face fixture) and the GGUF copy
    // the adapter was trained on.
    let gguf = fixture("llama").join("llama_cpp.gguf");
    let models = [
        monologue::load::model(&dir, &Default::default()).unwrap(),
        monologue::load::model_with_adapter(
            &monologue::io::ModelFile::open(&gguf).unwrap(),
            &gguf,
            &Default::default(),
            &monologue::model::adapter::AdapterSource::Folder(&dir),
        )
        .unwrap(),
    ];
    for case in reference["cases"].as_array().unwrap() {
        let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let want: Vec<f32> = serde_json::from_value(case["logits"].clone()).unwrap();
        assert!(
            case["moved"].as_f64().unwrap() > 0.1,
            "the adapter moves peft's logits"
        );
        for (which, model) in ["hugging face", "gguf"].iter().zip(&models) {
            let mut state = model.new_state(32).unwrap();
            let ours = model
                .forward(&mut state, &ids, monologue::model::Logits::All)
                .unwrap();
            let d = max_diff(&ours, &want);
            assert!(d < 1e-4, "{which} base: differs from peft by {d}");
        }
    }
}

/// The model in training, as an inference model (what GRPO samples from),
/// computes what the tape computes, with LoRA and in full.
#[test]
fn the_training_model_samples_with_its_current_weights() {
    for (what, lora_config) in [("lora", Some(lora(4, 0.0))), ("full", None)] {
        for name in ["llama", "gemma3"] {
            let model = fixture(name).display().to_string();
            let mut ft = FineTune::start(
                &model,
                lora_config.clone(),
                &chat_set(),
                config(2, 1e-2),
                0.0,
            )
            .unwrap();
            for _ in 0..2 {
                ft.step().unwrap();
            }
            let tape = logits(&mut ft.model, &IDS);
            let live = monologue::finetune::model_file::inference_model(&ft.model).unwrap();
            let mut state = live.new_state(32).unwrap();
            let ours = live
                .forward(&mut state, &IDS, monologue::model::Logits::All)
                .unwrap();
            let d = max_diff(&tape, &ours);
            assert!(
                d < 1e-4,
                "{what} {name}: the inference model differs by {d}"
            );
        }
    }
}

/// Away from B = 0, every adapter's gradient (A's and B's) against a
/// central difference of the loss along a random direction.
#[test]
fn adapter_gradients_match_finite_differences_once_trained() {
    let model = fixture("qwen2").display().to_string();
    let mut ft = FineTune::start(
        &model,
        Some(lora(4, 0.0)),
        &chat_set(),
        config(3, 2e-2),
        0.0,
    )
    .unwrap();
    for _ in 0..3 {
        ft.step().unwrap();
    }
    let targets: Vec<u32> = IDS[1..].iter().copied().chain([1]).collect();
    let m = &mut ft.model;
    let loss_at = |m: &mut Pretrained| -> f64 {
        let l = m.loss(&IDS, &targets, 1).unwrap();
        let v = m.graph.value(l)[0] as f64;
        m.graph.clear();
        v
    };
    let l = m.loss(&IDS, &targets, 1).unwrap();
    m.graph.backward(l).unwrap();
    m.graph.clear();
    let mut rng = crate::common::Rng::new(5);
    for adapter in m.adapters.clone().iter().step_by(5) {
        for index in [adapter.a, adapter.b] {
            let n = m.graph.params[index].value.len();
            let dir = rng.normals(n);
            let along: f64 = m.graph.params[index]
                .grad
                .iter()
                .zip(&dir)
                .map(|(g, d)| (g * d) as f64)
                .sum();
            let eps = 1e-2f32;
            let shift = |m: &mut Pretrained, by: f32| {
                for (v, d) in m.graph.params[index].value.iter_mut().zip(&dir) {
                    *v += by * d;
                }
            };
            shift(m, eps);
            let plus = loss_at(m);
            shift(m, -2.0 * eps);
            let minus = loss_at(m);
            shift(m, eps);
            let numeric = (plus - minus) / (2.0 * eps as f64);
            let err = (numeric - along).abs() / along.abs().max(1e-2);
            assert!(
                err < 0.05,
                "{}: gradient along a direction {along} vs difference {numeric}",
                m.graph.params[index].name
            );
        }
    }
}

/// An adapter whose query B has fewer rows than the model's query
/// projection is refused by name before its rows are reordered by head
/// (it must not index past its end), given as files' contents as a page
/// hands them over.
#[test]
fn an_adapter_with_the_wrong_rows_is_refused() {
    use monologue::model::adapter::AdapterSource;
    use safetensors::tensor::TensorView;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/train/peft-llama");
    let bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shortened = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let mut shape = view.shape().to_vec();
            let mut data = view.data().to_vec();
            if name == shortened {
                // Two rows fewer.
                shape[0] -= 2;
                data.truncate(shape[0] * shape[1] * 4);
            }
            (name, shape, data)
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            let view = TensorView::new(view_dtype(&file, name), shape.clone(), data).unwrap();
            (name.clone(), view)
        })
        .collect();
    let hostile = safetensors::tensor::serialize(views, &None).unwrap();
    let config = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap();
    let gguf = fixture("llama").join("llama_cpp.gguf");
    let source = AdapterSource::Contents {
        name: "hostile",
        config: &config,
        weights: &hostile,
    };
    let err = monologue::load::model_with_adapter(
        &monologue::io::ModelFile::open(&gguf).unwrap(),
        &gguf,
        &Default::default(),
        &source,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("layers.0.self_attn.q_proj") && err.contains("rows"),
        "{err}"
    );
}

fn view_dtype(file: &safetensors::SafeTensors, name: &str) -> safetensors::Dtype {
    file.tensor(name).unwrap().dtype()
}
