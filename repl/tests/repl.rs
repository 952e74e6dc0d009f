//! The REPL as a person uses it: driven through a real pseudo-terminal
//! (rexpect), so rustyline's line editing, completion and history, and
//! Ctrl-C arriving as a signal, are all exercised for real.

mod common;

use rexpect::reader::Options;
use rexpect::session::{spawn_with_options, PtySession};
use std::path::{Path, PathBuf};
use std::process::Command;

const TIMEOUT_MS: u64 = 60_000;

fn scratch(name: &str) -> PathBuf {
    let dir = common::scratch(&format!("repl-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `monologue` (optionally with the model loaded) in a terminal, with its
/// history file in `home`.
///
/// Like a person, the tests wait for each input's output before typing the
/// next one: rustyline discards what was typed while an input ran.
fn spawn(home: &Path, with_model: bool) -> PtySession {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_monologue"));
    if with_model {
        cmd.arg("--model").arg(common::model_path());
    }
    cmd.env("HOME", home)
        .env("TERM", "xterm")
        .env("MONOLOGUE_PLOTS", home.join("plots"))
        .current_dir(home);
    let options = Options::new()
        .timeout_ms(Some(TIMEOUT_MS))
        .strip_ansi_escape_codes(true);
    let mut p = spawn_with_options(cmd, options).expect("spawn monologue");
    // rexpect reads bytes as Latin-1: "»" arrives as "Â»".
    p.exp_string("»").expect("the prompt");
    p
}

#[test]
fn multi_line_input_runs_when_the_expression_is_complete() {
    let home = scratch("multiline");
    let mut p = spawn(&home, false);
    p.send_line("let f = |x| {").unwrap();
    p.send_line("    x * 3").unwrap();
    p.send_line("}; f.call(14) + 1000").unwrap();
    p.exp_string("1042").unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn tab_completes_function_names() {
    let home = scratch("complete");
    let mut p = spawn(&home, false);
    // `tens` + Tab becomes `tensor`; the rest of the line is typed after it.
    p.send("tens").unwrap();
    p.send("\t").unwrap();
    p.send_line("([100.0, 23.5]).sum()").unwrap();
    p.exp_string("123.5").unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn history_persists_between_sessions() {
    let home = scratch("history");
    let mut p = spawn(&home, false);
    p.send_line("400 + 56").unwrap();
    p.exp_string("456").unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
    assert!(std::fs::read_to_string(home.join(".monologue_history"))
        .unwrap()
        .contains("400 + 56"));

    let mut p = spawn(&home, false);
    // Up twice: past `:quit` to the input before it.
    p.send("\x1b[A\x1b[A").unwrap();
    p.send_line("").unwrap();
    p.exp_string("456").unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn an_error_does_not_end_the_session_and_help_works() {
    let home = scratch("errors");
    let mut p = spawn(&home, false);
    p.send_line("let kept = 40; kept + 1").unwrap();
    p.exp_string("41").unwrap();
    p.send_line("no_such_function(1)").unwrap();
    p.exp_string("Function not found: no_such_function")
        .unwrap();
    p.send_line("let x = 1 +;").unwrap();
    p.exp_string("line 1, column").unwrap();
    p.send_line("load_model(\"/no/such/file.gguf\")").unwrap();
    // Wait for the error itself, not the echo of the input (a line typed
    // while an input runs would be lost).
    p.exp_string("no such file or folder").unwrap();
    p.send_line("kept + 2 + 1000").unwrap();
    p.exp_string("1042").unwrap();
    p.send_line(":help top_k").unwrap();
    p.exp_string("most likely next tokens").unwrap();
    // :load runs a file in this session: its variables stay.
    std::fs::write(
        home.join("more.rhai"),
        "let loaded = kept * 25;\nloaded + 3",
    )
    .unwrap();
    p.send_line(":load more.rhai").unwrap();
    p.exp_string("1003").unwrap();
    p.send_line("loaded + 7").unwrap();
    p.exp_string("1007").unwrap();
    p.send_line(":time").unwrap();
    p.exp_string("timing on").unwrap();
    p.send_line("kept").unwrap();
    p.exp_string(" ms)").unwrap();
    // Ctrl-C at an empty prompt does not exit; Ctrl-D does.
    p.send_control('c').unwrap();
    p.exp_string("Ctrl-D or :quit exits").unwrap();
    p.send_line("kept * 100").unwrap();
    p.exp_string("4000").unwrap();
    p.send_control('d').unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn ctrl_c_stops_a_generation_and_keeps_the_variables() {
    let home = scratch("interrupt");
    let mut p = spawn(&home, true);
    p.send_line("let keep = 7; keep + 1").unwrap();
    p.exp_string("8").unwrap();
    // Greedy SmolLM2 answers this with an endless run of zeros.
    p.send_line(
        "let price = m.generate(\"Le café coûte 3 € à Paris, et à Tokyo il coûte\", #{ max_tokens: 4000, temperature: 0.0 });",
    )
    .unwrap();
    // Let more than ten characters stream (however slow the machine), then
    // interrupt.
    p.exp_string("000000000000").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("interrupted").unwrap();
    // The text so far was kept.
    p.send_line("price.len() > 10").unwrap();
    p.exp_string("true").unwrap();
    p.send_line("keep * 6 + 1000").unwrap();
    p.exp_string("1042").unwrap();
    // The model still works after the interrupt.
    p.send_line("m.encode(\"Hello world\")").unwrap();
    p.exp_string("[19556, 905]").unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
}

#[test]
fn plots_are_saved_and_the_profile_is_shown() {
    let home = scratch("plots");
    let mut p = spawn(&home, true);
    p.send_line("plot_line([0, 1, 2], [3.0, 2.0, 1.0], #{ title: \"loss\" })")
        .unwrap();
    p.exp_string("saved").unwrap();
    p.send_line(":profile").unwrap();
    p.exp_string("profile after each input on").unwrap();
    p.send_line("m.top_k(\"The capital of France is\", 3).len()")
        .unwrap();
    p.exp_string("matmul_q4_1").unwrap();
    p.send_line(":quit").unwrap();
    p.exp_eof().unwrap();
    let png = std::fs::read(home.join("plots/plot-1.png")).unwrap();
    assert_eq!(&png[..4], b"\x89PNG");
}
