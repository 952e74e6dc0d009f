//! Opening the model maps it rather than reading it: resident memory grows
//! by the parsed header (tokenizer strings), not by the weights. Alone in
//! its own test binary so no other test's allocations disturb the numbers.

mod common;

use monologue::io::GgufFile;

/// Resident set size in bytes, from /proc/self/statm (second field, pages).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc is needed");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn opening_and_building_all_tensors_does_not_read_the_weights() {
    let path = common::smollm2();
    let file_len = std::fs::metadata(&path).unwrap().len() as usize;
    let before = resident_bytes();
    let file = GgufFile::open(&path).unwrap();
    let tensors: Vec<_> = file
        .tensors()
        .iter()
        .map(|t| file.tensor(&t.name).unwrap())
        .collect();
    let grown = resident_bytes().saturating_sub(before);
    assert_eq!(tensors.len(), 272);
    // The header (≈1.8 MB of tokenizer data) is read and parsed; the 96 MB
    // of weights must not be.
    assert!(
        grown < file_len / 8,
        "resident memory grew by {grown} bytes after opening a {file_len}-byte file"
    );
    eprintln!("resident memory grew by {grown} bytes for a {file_len}-byte file");
}
