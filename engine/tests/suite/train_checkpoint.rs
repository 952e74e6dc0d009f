//! Checkpoints: a resumed run continues bit for bit, the saved model loads
//! in the inference path as a GPT-2, a process killed while saving leaves
//! a loadable checkpoint, and damaged checkpoints are clear errors.

use monologue::model::{LoadOptions, Logits};
use monologue::train::checkpoint::{self, resolve};
use monologue::train::data::{byte_tokenizer, Dataset};
use monologue::train::gpt::GptConfig;
use monologue::train::{Run, TrainConfig};
use monologue::LanguageModel;
use std::path::{Path, PathBuf};

const TEXT: &str = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer the slings and arrows of outrageous fortune. ";

fn shape() -> GptConfig {
    GptConfig {
        vocab: 0, // taken from the tokenizer
        context: 32,
        layers: 2,
        width: 32,
        heads: 4,
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        batch: 2,
        seq: 16,
        steps: 12,
        lr: 2e-3,
        warmup: 3,
        accumulate: 2,
        eval_every: 3,
        eval_batches: 2,
        ..TrainConfig::default()
    }
}

fn text() -> String {
    TEXT.repeat(6)
}

fn new_run() -> Run {
    let data = Dataset::new(&text(), byte_tokenizer().unwrap(), 0.1).unwrap();
    Run::new_gpt(shape(), config(), data).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("monologue-ckpt-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Everything that must be identical (tokens per second is a timing).
fn trace(run: &Run) -> Vec<(u32, Option<u32>, u32, u32)> {
    run.history
        .iter()
        .map(|r| {
            (
                r.loss.to_bits(),
                r.val_loss.map(f32::to_bits),
                r.lr.to_bits(),
                r.grad_norm.to_bits(),
            )
        })
        .collect()
}

#[test]
fn a_resumed_run_continues_bit_identically() {
    let mut straight = new_run();
    for _ in 0..12 {
        straight.step().unwrap();
    }
    let dir = scratch("resume");
    let mut first = new_run();
    for _ in 0..6 {
        first.step().unwrap();
    }
    checkpoint::save(&first, &dir).unwrap();
    drop(first);
    let mut resumed = checkpoint::resume(&dir, &text(), 0.1).unwrap();
    assert_eq!(resumed.step, 6);
    for _ in 0..6 {
        resumed.step().unwrap();
    }
    assert_eq!(trace(&resumed), trace(&straight));
    for (a, b) in resumed.graph.params.iter().zip(&straight.graph.params) {
        assert_eq!(a.value, b.value, "{} differs after resuming", a.name);
    }
    assert_eq!(resumed.optimizer, straight.optimizer);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_loads_as_a_gpt2_model() {
    let mut run = new_run();
    for _ in 0..5 {
        run.step().unwrap();
    }
    let dir = scratch("load");
    checkpoint::save(&run, &dir).unwrap();
    // The run's folder stands for its newest checkpoint.
    let lm = LanguageModel::load(dir.to_str().unwrap(), &LoadOptions::default()).unwrap();
    let ids = lm.tokenizer.encode("To be, or not", false, false);
    let mut state = lm.model.new_state(32).unwrap();
    let served = lm.model.forward(&mut state, &ids, Logits::All).unwrap();
    let logits = run.model.forward(&mut run.graph, &ids, 1).unwrap();
    let trained = run.graph.value(logits).to_vec();
    run.graph.clear();
    let diff = served
        .iter()
        .zip(&trained)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert_eq!(served.len(), trained.len());
    assert!(
        diff < 1e-4,
        "inference and training logits differ by {diff}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_the_newest_checkpoints_are_kept() {
    let dir = scratch("prune");
    let mut run = new_run();
    for _ in 0..4 {
        run.step().unwrap();
        checkpoint::save(&run, &dir).unwrap();
    }
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["latest", "step-000003", "step-000004"]);
    assert_eq!(resolve(&dir).unwrap(), dir.join("step-000004"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Not a test of its own: the child process of the next test, which runs
/// it with MONOLOGUE_SAVE_UNTIL_KILLED set. It trains and saves in a loop
/// until it is killed.
#[test]
fn helper_saves_until_killed() {
    let Ok(dir) = std::env::var("MONOLOGUE_SAVE_UNTIL_KILLED") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut run = checkpoint::resume(&dir, &text(), 0.1).unwrap();
    loop {
        run.step().unwrap();
        checkpoint::save(&run, &dir).unwrap();
    }
}

#[test]
fn killing_the_process_while_it_saves_leaves_a_loadable_checkpoint() {
    let dir = scratch("kill");
    let mut run = new_run();
    run.step().unwrap();
    checkpoint::save(&run, &dir).unwrap();
    let mut last_step = 1;
    // The helper's name as the test harness lists it: its module path
    // without the crate (`train_checkpoint::helper_saves_until_killed`).
    let helper = match module_path!().split_once("::") {
        Some((_, module)) => format!("{module}::helper_saves_until_killed"),
        None => "helper_saves_until_killed".to_string(),
    };
    for delay_ms in [150, 400, 700, 1100, 1600] {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([helper.as_str(), "--exact", "--test-threads", "1"])
            .env("MONOLOGUE_SAVE_UNTIL_KILLED", &dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();
        let resumed = checkpoint::resume(&dir, &text(), 0.1)
            .unwrap_or_else(|e| panic!("after a kill at {delay_ms} ms: {e}"));
        assert!(
            resumed.step >= last_step,
            "the checkpoint went back in time"
        );
        assert_eq!(resumed.history.len(), resumed.step);
        last_step = resumed.step;
    }
    assert!(
        last_step > 1,
        "the child never saved: the test proved nothing"
    );
    eprintln!("killed five times; the last checkpoint was at step {last_step}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn resume_error(dir: &Path) -> String {
    match checkpoint::resume(dir, &text(), 0.1) {
        Ok(_) => panic!("{} resumed", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn damaged_and_foreign_checkpoints_are_clear_errors() {
    let dir = scratch("damaged");
    let run = new_run();
    let saved = checkpoint::save(&run, &dir).unwrap();

    // A truncated weights file.
    let weights = saved.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = resume_error(&dir);
    assert!(err.contains("model.safetensors"), "{err}");
    std::fs::write(&weights, &bytes).unwrap();

    // Another format.
    let json_path = saved.join("training.json");
    let json = std::fs::read_to_string(&json_path).unwrap();
    std::fs::write(&json_path, json.replace("\"format\": 1", "\"format\": 99")).unwrap();
    let err = resume_error(&dir);
    assert!(err.contains("format 99"), "{err}");
    std::fs::write(&json_path, "{ not json").unwrap();
    let err = resume_error(&dir);
    assert!(err.contains("training.json is damaged"), "{err}");

    // Not a checkpoint at all.
    let empty = scratch("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = resume_error(&empty);
    assert!(err.contains("not a training checkpoint"), "{err}");

    // `latest` naming something that is not there.
    std::fs::write(dir.join("latest"), "step-999999").unwrap();
    let err = resume_error(&dir);
    assert!(err.contains("step-999999"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&empty).unwrap();
}
