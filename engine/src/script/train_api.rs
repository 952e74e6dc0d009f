//! Training from scripts: `let run = train(#{ text: "...", steps: 200 })`,
//! then `run.step()`, `run.steps(50)`, `run.losses`, `run.plot()`,
//! `run.save("dir")` (and `load_model("dir")` to generate from it).

use super::convert::{runtime, string, ScriptResult};
use super::options::apply_map;
use super::register::{func, getter};
use super::Shared;
use crate::finetune::sft;
use crate::finetune::trainer::Trainer;
use crate::finetune::{arithmetic, FineTune, FinetuneOptions};
use crate::train::{StepRecord, TrainOptions};
use rhai::{Array, Dynamic, Engine, Map};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// A training run shared between script values: a model from scratch, or
/// a pretrained one being fine-tuned.
#[derive(Clone)]
pub struct TrainRun(Arc<Mutex<Box<dyn Trainer>>>);

impl TrainRun {
    fn new(run: impl Trainer + 'static) -> Self {
        TrainRun(Arc::new(Mutex::new(Box::new(run))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Box<dyn Trainer>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `train(#{...})`: the engine's training options (`TrainOptions`, the
/// names `monologue train` takes too), plus the text to learn from.
fn new_run(opts: &Map) -> ScriptResult<TrainRun> {
    let mut opts = opts.clone();
    // `model` is what scripts called the architecture before the options
    // had one vocabulary; it still works.
    if let Some(arch) = opts.remove("model") {
        if opts.contains_key("arch") {
            return Err(runtime("train: give `arch` or `model`, not both"));
        }
        opts.insert("arch".into(), arch);
    }
    let options = apply_map(&TrainOptions::default(), &opts, &["text", "data"], "train")?;
    let text = match (opts.get("text"), opts.get("data")) {
        (Some(t), _) => string(t, "text")?,
        (None, Some(path)) => {
            let path = string(path, "data")?;
            std::fs::read_to_string(&path)
                .map_err(|e| runtime(format!("train: data {path}: {e}")))?
        }
        (None, None) => return Err(runtime("train: give `text` or `data` (a file)")),
    };
    let run = options
        .start(&text)
        .map_err(|e| runtime(format!("train: {e}")))?;
    Ok(TrainRun::new(run))
}

/// `finetune(#{...})`: the engine's fine-tuning options (`FinetuneOptions`,
/// `monologue finetune`'s names), plus the conversations: `data` (a JSON
/// lines file), or `task: "addition"` with `examples` and `digits`.
fn new_finetune(opts: &Map) -> ScriptResult<TrainRun> {
    let extra = ["data", "task", "examples", "digits"];
    let options = apply_map(&FinetuneOptions::default(), opts, &extra, "finetune")?;
    let count = |key: &str, default: i64| -> ScriptResult<usize> {
        match opts.get(key) {
            Some(v) => v
                .as_int()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| runtime(format!("finetune: `{key}` must be a positive integer"))),
            None => Ok(default as usize),
        }
    };
    let conversations = match (opts.get("data"), opts.get("task")) {
        (Some(path), _) => {
            let path = string(path, "data")?;
            sft::read_jsonl(std::path::Path::new(&path))
                .map_err(|e| runtime(format!("finetune: {e}")))?
        }
        (None, Some(task)) if string(task, "task")? == "addition" => {
            let mut rng = crate::generate::Rng::new(options.seed ^ 0x7ace);
            arithmetic::traces(&mut rng, count("examples", 2000)?, count("digits", 3)?)
        }
        (None, Some(task)) => {
            return Err(runtime(format!(
                "finetune: unknown task {task} (the generated task is \"addition\")"
            )))
        }
        (None, None) => return Err(runtime(
            "finetune: give `data` (a JSON lines file of conversations) or `task: \"addition\"`",
        )),
    };
    let run = FineTune::from_options(&options, &conversations)
        .map_err(|e| runtime(format!("finetune: {e}")))?;
    Ok(TrainRun::new(run))
}

fn record_map(r: &StepRecord) -> Map {
    let mut m = Map::new();
    m.insert("step".into(), Dynamic::from(r.step as i64));
    m.insert("loss".into(), Dynamic::from(r.loss as f64));
    m.insert("lr".into(), Dynamic::from(r.lr as f64));
    m.insert("grad_norm".into(), Dynamic::from(r.grad_norm as f64));
    m.insert("tok_s".into(), Dynamic::from(r.tok_s));
    if let Some(v) = r.val_loss {
        m.insert("val_loss".into(), Dynamic::from(v as f64));
    }
    m
}

/// Up to `n` steps, stopping early (after a whole step) when the script is
/// interrupted. Returns the last step's record, or () if none ran.
fn steps(shared: &Shared, run: &TrainRun, n: usize) -> ScriptResult<Dynamic> {
    let mut last = Dynamic::UNIT;
    let mut r = run.lock();
    for _ in 0..n {
        if shared.cancel.load(Ordering::Relaxed) {
            break;
        }
        let record = r.step().map_err(|e| runtime(format!("train step: {e}")))?;
        last = Dynamic::from(record_map(&record));
    }
    Ok(last)
}

/// `n` steps with the loss chart shown live: displayed once, then redrawn
/// in place every `every` steps (a notebook's `update_display_data`) and
/// at the end. An interrupt stops after the current step, keeping the run.
fn live(shared: &Shared, run: &TrainRun, n: usize, every: usize) -> ScriptResult<Dynamic> {
    // One chart per run object, however many times `live` is called.
    let id = format!("monologue-train-{:p}", Arc::as_ptr(&run.0));
    let chart = |r: &dyn Trainer| {
        crate::train::plot::loss_curves(r.history())
            .map(Dynamic::from)
            .map_err(|e| runtime(e.to_string()))
    };
    let mut shown = false;
    let mut last = Dynamic::UNIT;
    for i in 0..n {
        last = steps(shared, run, 1)?;
        if last.is_unit() {
            break;
        }
        if (i + 1) % every.max(1) == 0 || i + 1 == n {
            let plot = chart(&**run.lock())?;
            shared.emit_display_as(&plot, &id, shown);
            shown = true;
        }
    }
    Ok(last)
}

/// Learns a byte-level BPE of `vocab_size` tokens (with `<|endoftext|>`)
/// from `text` and writes it to `out`, atomically; returns `out`.
fn train_tokenizer(text: &str, vocab_size: usize, out: &str) -> ScriptResult<String> {
    use crate::tokenizer::train::{train, TrainOptions};
    let options = TrainOptions {
        vocab_size,
        min_frequency: 2,
        special_tokens: vec!["<|endoftext|>".into()],
        pre: crate::tokenizer::PreTokenizer::from_gguf_name("gpt2")
            .map_err(|e| runtime(e.to_string()))?,
    };
    let tok = train(std::iter::once(text), &options)
        .map_err(|e| runtime(format!("train_tokenizer: {e}")))?;
    let path = std::path::Path::new(out);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| runtime(format!("train_tokenizer: {}: {e}", dir.display())))?;
    }
    crate::io::atomic::write_atomic(
        path,
        tok.to_json()
            .map_err(|e| runtime(format!("train_tokenizer: {e}")))?
            .as_bytes(),
    )
    .map_err(|e| runtime(format!("train_tokenizer: {out}: {e}")))?;
    Ok(out.to_string())
}

pub fn register(engine: &mut Engine, shared: &Arc<Shared>) {
    engine.register_type_with_name::<TrainRun>("TrainRun");
    func(
        "plot_losses",
        "Training-loss curves of several runs on one chart: #{ \"GPT\": run1, \"RNN\": run2 }.",
    )
    .register_into_engine(engine, |runs: Map| {
        let mut series = Vec::new();
        for (name, run) in runs {
            let run = run
                .try_cast::<TrainRun>()
                .ok_or_else(|| runtime(format!("plot_losses: {name} is not a training run")))?;
            let r = run.lock();
            series.push(crate::plot::Series {
                name: name.to_string(),
                xs: r.history().iter().map(|h| h.step as f64).collect(),
                ys: r.history().iter().map(|h| h.loss as f64).collect(),
            });
        }
        crate::plot::Plot::line(series)
            .map(|p| {
                p.with_title("training loss")
                    .with_labels("step", "cross-entropy (nats per token)")
            })
            .map_err(|e| runtime(format!("plot_losses: {e}")))
    });
    func(
        "task_corpus",
        "Lines of a verifiable task (\"copy\", \"reverse\" or \"arithmetic\") to warm a model up on before rlvr:\n`lines` problems with answers, strings of up to `max_len` letters.",
    )
    .register_into_engine(engine, |task: &str, lines: i64, max_len: i64| {
        let task: crate::train::tasks::Task =
            task.parse().map_err(|e| runtime(format!("task_corpus: {e}")))?;
        let mut rng = crate::generate::Rng::new(0x7a5c);
        Ok::<_, Box<rhai::EvalAltResult>>(task.corpus(
            &mut rng,
            lines.max(0) as usize,
            max_len.max(2) as usize,
        ))
    });
    func(
        "train_tokenizer",
        "Learn a byte-level BPE tokenizer of `vocab_size` tokens from `text` and write its tokenizer.json\nto `out`; returns `out` (give it to train(#{ tokenizer: out })).",
    )
    .register_into_engine(engine, |text: &str, vocab_size: i64, out: &str| {
        train_tokenizer(text, vocab_size.max(0) as usize, out)
    });
    let s = shared.clone();
    func(
        "live",
        "Run n steps with the loss chart redrawn in place every `every` steps (a notebook shows it live);\nan interrupt stops after the current step. Returns the last step's record.",
    )
    .register_into_engine(engine, move |run: &mut TrainRun, n: i64, every: i64| {
        live(&s, run, n.max(0) as usize, every.max(1) as usize)
    });
    func(
        "train",
        "A new training run: #{ text or data (a file), arch: \"gpt\" or \"rnn\", steps, layers, width, heads,\nbatch, seq, lr, min_lr, warmup, clip, accumulate, weight_decay, eval_every, eval_batches, seed,\nval_fraction, tokenizer; for the RNN also embed, experts, top_k, expert_hidden, fast, rwkv, balance }.\nThe names and defaults are `monologue train`'s (4 layers, width 128, seq 128).",
    )
    .register_into_engine(engine, |opts: Map| new_run(&opts));
    func(
        "finetune",
        "Fine-tune a pretrained model: #{ model, data (JSON lines of {\"messages\": [...]}) or task: \"addition\"\n(with examples, digits), batch, seq, steps or epochs, lr, min_lr, warmup, clip, accumulate,\nweight_decay, eval_every, eval_batches, validation, seed, lora_rank (0: every weight), lora_alpha,\nlora_dropout, lora_targets }. The names and defaults are `monologue finetune`'s; the run has the\nmethods of train(...)'s.",
    )
    .register_into_engine(engine, |opts: Map| new_finetune(&opts));
    func(
        "addition_trace",
        "The worked reply finetune(#{ task: \"addition\" }) teaches for a + b: the columns added right to left\nwith their carries inside <think>, then the sum.",
    )
    .register_into_engine(engine, |a: i64, b: i64| -> ScriptResult<String> {
        const MAX: i64 = 999_999_999_999_999_999;
        if !(0..=MAX).contains(&a) || !(0..=MAX).contains(&b) {
            return Err(runtime("addition_trace: a and b must be 0 to 18 digits"));
        }
        Ok(arithmetic::trace(a as u64, b as u64))
    });
    func(
        "step",
        "One optimizer step; returns #{ step, loss, lr, grad_norm, tok_s, val_loss }.",
    )
    .register_into_engine(engine, |run: &mut TrainRun| {
        let record = run
            .lock()
            .step()
            .map_err(|e| runtime(format!("train step: {e}")))?;
        Ok::<_, Box<rhai::EvalAltResult>>(record_map(&record))
    });
    let s = shared.clone();
    func(
        "steps",
        "Run n steps (an interrupt stops after the current one); returns the last step's record.",
    )
    .register_into_engine(engine, move |run: &mut TrainRun, n: i64| {
        steps(&s, run, n.max(0) as usize)
    });
    getter("losses", "Training loss of every step so far.").register_into_engine(
        engine,
        |run: &mut TrainRun| -> Array {
            run.lock()
                .history()
                .iter()
                .map(|r| Dynamic::from(r.loss as f64))
                .collect()
        },
    );
    getter("history", "Every step's record, as maps.").register_into_engine(
        engine,
        |run: &mut TrainRun| -> Array {
            run.lock()
                .history()
                .iter()
                .map(|r| Dynamic::from(record_map(r)))
                .collect()
        },
    );
    getter("step_count", "Optimizer steps done.")
        .register_into_engine(engine, |run: &mut TrainRun| run.lock().steps_done() as i64);
    getter(
        "total_steps",
        "The schedule's length in steps (`steps`, or what `epochs` come to): run.live(run.total_steps, 10).",
    )
    .register_into_engine(engine, |run: &mut TrainRun| run.lock().total_steps() as i64);
    func("evaluate", "Mean validation loss over a few batches.").register_into_engine(
        engine,
        |run: &mut TrainRun| {
            run.lock()
                .evaluate()
                .map(|l| l.map_or(Dynamic::UNIT, |l| Dynamic::from(l as f64)))
                .map_err(|e| runtime(format!("evaluate: {e}")))
        },
    );
    func(
        "plot",
        "The loss curves (training, and validation where measured).",
    )
    .register_into_engine(engine, |run: &mut TrainRun| {
        crate::train::plot::loss_curves(run.lock().history()).map_err(|e| runtime(e.to_string()))
    });
    func(
        "save",
        "Save a checkpoint into a run folder; load_model(folder) then generates from it.",
    )
    .register_into_engine(engine, |run: &mut TrainRun, dir: &str| {
        run.lock()
            .save(std::path::Path::new(dir))
            .map(|p| p.display().to_string())
            .map_err(|e| runtime(format!("save: {e}")))
    });
    for name in ["to_string", "to_debug"] {
        func(name, "A one-line description of the run.").register_into_engine(
            engine,
            |run: &mut TrainRun| {
                let r = run.lock();
                let last = r
                    .history()
                    .last()
                    .map(|h| format!(", loss {:.4}", h.loss))
                    .unwrap_or_default();
                format!(
                    "TrainRun({}; step {} of {}{last})",
                    r.describe(),
                    r.steps_done(),
                    r.total_steps()
                )
            },
        );
    }
}
