//! Single-thread encode speed on the parity corpus.
//!
//! Run the parity test once first (it builds the corpus and tokenizer files
//! in target/tmp/tokenizer-parity), then:
//!     cargo run --release -p monologue --example tokenizer_bench
//! and compare with `python3 tests/tokenizer/bench.py target/tmp/tokenizer-parity`.

use std::path::Path;
use std::time::Instant;

use monologue::tokenizer::Tokenizer;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/tmp/tokenizer-parity".into());
    let dir = Path::new(&dir);
    let corpus: String = std::fs::read_to_string(dir.join("corpus.jsonl"))
        .expect(
            "corpus.jsonl: run `cargo test --release -p monologue --test tokenizer_parity` first",
        )
        .lines()
        .map(|l| serde_json::from_str::<String>(l).unwrap())
        .collect();
    let mb = corpus.len() as f64 / 1e6;
    for name in ["gpt2", "smollm2"] {
        let tok = Tokenizer::from_json_file(dir.join(format!("{name}.json"))).unwrap();
        let mut best = f64::MAX;
        let mut n = 0;
        for _ in 0..3 {
            let t = Instant::now();
            n = tok.encode(&corpus, false, false).len();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{name}: {mb:.1} MB -> {n} tokens, best of 3: {best:.3} s = {:.1} MB/s",
            mb / best
        );
    }
}
