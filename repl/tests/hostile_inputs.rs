//! Inputs that used to crash the engine, each now a one-line error (or a
//! correct answer) in bounded time and memory. Every run is the real
//! `monologue` binary under an address-space limit, so a runaway
//! allocation fails the test instead of passing by luck on a big machine,
//! and under a deadline, so a hang fails it too.

mod common;

use common::{model_path, scratch};
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The address space each run may use. A generation with SmolLM2 needs
/// about 0.2 GB resident; the rest is reserved thread stacks and malloc
/// arenas. The crashes these tests cover asked for 2.4 GB to 274 GB.
const ADDRESS_SPACE_KB: u64 = 2 << 20;
const DEADLINE: Duration = Duration::from_secs(60);

/// `monologue ARGS` under the limits; the run must end by itself with
/// status 0 or 1 and no panic or abort.
fn bounded<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {ADDRESS_SPACE_KB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_monologue"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the monologue binary runs");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > DEADLINE {
            child.kill().unwrap();
            panic!("still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for crash in [
        "panicked",
        "memory allocation",
        "overflowed its stack",
        "fatal",
    ] {
        assert!(!stderr.contains(crash), "it crashed: {stderr}");
    }
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "ended by {:?}: {stderr}",
        out.status
    );
    out
}

/// The one-line error of a run that must have failed.
fn error_of<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = bounded(args);
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "it succeeded: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    stderr
}

fn succeeds<S: AsRef<OsStr>>(args: &[S]) -> String {
    let out = bounded(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SmolLM2 with `llama.context_length` (a u32) set to `value`.
fn smollm2_with_context(value: u32, name: &str) -> PathBuf {
    let mut bytes = std::fs::read(model_path()).unwrap();
    let key = b"llama.context_length";
    let at = bytes.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    assert_eq!(bytes[at..at + 4], 4u32.to_le_bytes(), "a u32 value");
    bytes[at + 4..at + 8].copy_from_slice(&value.to_le_bytes());
    let path = scratch(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn generate_args(model: &Path) -> Vec<String> {
    [
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--prompt",
        "The capital of France is",
        "--greedy",
        "--max-tokens",
        "4",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn a_claimed_context_of_billions_costs_nothing_until_used() {
    let plain = succeeds(&generate_args(&model_path()));
    // One flipped bit made 8192 into 2147491840: RoPE tables for every
    // claimed position were 274 GB. 2^24 took 3 GB.
    for (value, name) in [
        (2_147_491_840u32, "ctx-flip.gguf"),
        (1 << 24, "ctx-2-24.gguf"),
    ] {
        let model = smollm2_with_context(value, name);
        assert_eq!(succeeds(&generate_args(&model)), plain, "context {value}");
        std::fs::remove_file(model).unwrap();
    }
}

/// A copy of the tiny Llama checkpoint with `edit` applied to the JSON
/// file `file` of it.
fn tiny_llama_with(name: &str, file: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let from = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/hf/llama");
    let dir = scratch(name);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let path = dir.join(file);
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(&path, json.to_string()).unwrap();
    dir
}

#[test]
fn config_sizes_are_checked_before_they_are_trusted() {
    let far = tiny_llama_with("positions", "config.json", |c| {
        c["max_position_embeddings"] = 1_000_000_000u64.into();
    });
    succeeds(&generate_args(&far));
    // 4 heads × (16 + 2^62) wraps to 64 = the real width, so every weight
    // shape still matched, and the first allocation panicked.
    let wrapped = tiny_llama_with("head-dim", "config.json", |c| {
        c["head_dim"] = (16u64 + (1 << 62)).into();
    });
    let err = error_of(&generate_args(&wrapped));
    assert!(
        err.contains("head size") && err.contains("too large"),
        "{err}"
    );
}

#[test]
fn tokenizer_ids_beyond_the_vocabulary_are_refused() {
    let vocab = tiny_llama_with("tok-vocab", "tokenizer.json", |t| {
        t["model"]["vocab"]["hostile"] = 2_000_000_000u64.into();
    });
    let err = error_of(&generate_args(&vocab));
    assert!(err.contains("id 2000000000 leaves a gap"), "{err}");
    let added = tiny_llama_with("tok-added", "tokenizer.json", |t| {
        let list = t["added_tokens"].as_array_mut().unwrap();
        let mut token = list[0].clone();
        token["id"] = 100_000_000u64.into();
        token["content"] = "<hostile>".into();
        list.push(token);
    });
    let err = error_of(&generate_args(&added));
    assert!(err.contains("id 100000000 leaves a gap"), "{err}");
}

fn chat_with_template(name: &str, template: &str) -> Output {
    let dir = tiny_llama_with(name, "tokenizer_config.json", |c| {
        c["chat_template"] = template.into();
    });
    let mut args = generate_args(&dir);
    args.push("--chat".into());
    bounded(&args)
}

fn template_error(name: &str, template: &str) -> String {
    let out = chat_with_template(name, template);
    assert_eq!(out.status.code(), Some(1));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn templates_cannot_kill_the_process() {
    // A value nested a million deep, dropped after rendering: it overflowed
    // the stack at 160,000 levels. It renders now (within the fuel).
    let deep = "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}\
                {% set ns.x = [[[[[[[[[[ns.x]]]]]]]]]] %}{% endfor %}hi";
    assert!(chat_with_template("deep", deep).status.success());
    let nested = "{% set ns = namespace(x=[]) %}{% for i in range(40000) %}\
                  {% set ns.x = [ns.x] %}{% endfor %}{{ ns.x | tojson }}";
    let err = template_error("tojson-deep", nested);
    assert!(err.contains("nests deeper than 256 levels"), "{err}");
    for (name, template) in [
        (
            "separators",
            "{{ range(10000) | list | tojson(separators=['x' * 1000000, ':']) }}",
        ),
        (
            "indent",
            "{{ [[[[1, 2]]]] | tojson(indent='x' * 1000000) }}",
        ),
    ] {
        let err = template_error(name, template);
        assert!(
            err.contains("tojson: the text would exceed"),
            "{name}: {err}"
        );
    }
    // A value built from shared halves has 2^100000 leaves.
    let doubling = "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}\
                    {% set ns.x = [ns.x, ns.x] %}{% endfor %}{{ ns.x | tojson }}";
    template_error("doubling", doubling);
}

#[test]
fn text_from_files_cannot_steer_the_terminal() {
    let raised = template_error(
        "raise",
        "{{ raise_exception('bad \u{1b}]0;retitled\u{7} \u{1b}[2J') }}",
    );
    assert!(
        !raised.contains('\u{1b}') && !raised.contains('\u{7}'),
        "{raised:?}"
    );
    assert!(raised.contains("\\u{1b}[2J"), "{raised:?}");

    // A GGUF whose metadata key and tensor name carry escape sequences.
    let mut bytes = std::fs::read(model_path()).unwrap();
    for (from, to) in [
        (
            &b"general.architecture"[..],
            &b"general.\x1b[2Jitecture"[..],
        ),
        (&b"output_norm.weight"[..], &b"output_\x1b[31mweight"[..]),
    ] {
        assert_eq!(from.len(), to.len());
        let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
        bytes[at..at + from.len()].copy_from_slice(to);
    }
    let path = scratch("escapes.gguf");
    std::fs::write(&path, bytes).unwrap();
    let shown = succeeds(&["inspect", path.to_str().unwrap()]);
    assert!(!shown.contains('\u{1b}'), "an escape reached the terminal");
    assert!(shown.contains("general.\\u{1b}[2Jitecture"), "{shown}");
    assert!(shown.contains("output_\\u{1b}[31mweight"), "{shown}");
    std::fs::remove_file(path).unwrap();
}

#[test]
fn scripts_hit_limits_instead_of_aborting() {
    let cases = [
        ("let a = []; a.pad(10000000000, 0)", "size limit"),
        ("let s = \"x\"; s.pad(3000000000, \"x\")", "size limit"),
        (
            "zeros([4]).reshape([4611686018427387905, 4])",
            "shape mismatch in reshape",
        ),
        (
            "arange(-9223372036854775807, 9223372036854775807)",
            "too long",
        ),
        (
            "let a = zeros([65536, 1]); a + a.t()",
            "would exceed the limit",
        ),
        (
            "zeros([65536, 1]).matmul(zeros([1, 65536]))",
            "would exceed the limit",
        ),
    ];
    for (i, (script, expected)) in cases.iter().enumerate() {
        let path = scratch(&format!("limit-{i}.rhai"));
        std::fs::write(&path, script).unwrap();
        let err = error_of(&["run", path.to_str().unwrap()]);
        assert!(err.contains(expected), "{script}: {err}");
    }
    // A script may raise its limits for the inputs after the call.
    let path = scratch("raise.rhai");
    std::fs::write(
        &path,
        "set_limits(#{ max_array: 20000000 }); print(limits().max_array);",
    )
    .unwrap();
    assert_eq!(
        succeeds(&["run", path.to_str().unwrap()]).trim(),
        "20000000"
    );
    let path = scratch("bad-limit.rhai");
    std::fs::write(&path, "set_limits(#{ max_arrays: 5 })").unwrap();
    let err = error_of(&["run", path.to_str().unwrap()]);
    assert!(err.contains("unknown limit \"max_arrays\""), "{err}");
}

#[test]
fn a_fifo_is_refused_not_waited_on() {
    let fifo = scratch("model.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let err = error_of(&generate_args(&fifo));
    assert!(err.contains("not a regular file"), "{err}");
    let err = error_of(&["inspect", fifo.to_str().unwrap()]);
    assert!(err.contains("not a regular file"), "{err}");
    std::fs::remove_file(fifo).unwrap();
}

/// `train` arguments for a tiny GPT on a small corpus, saving into `out`.
fn tiny_train_args(out: &Path, steps: &str) -> Vec<String> {
    let text = "a small corpus for a small model. ".repeat(40);
    [
        "train",
        "--text",
        &text,
        "--out",
        out.to_str().unwrap(),
        "--steps",
        steps,
        "--layers",
        "1",
        "--width",
        "32",
        "--heads",
        "2",
        "--seq",
        "16",
        "--batch",
        "2",
        "--threads",
        "1",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn the_last_checkpoint_is_saved_once() {
    let out = scratch("saves");
    let mut args = tiny_train_args(&out, "4");
    args.extend(["--save-every", "2", "--json"].map(String::from));
    succeeds(&args);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("step-") || n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["step-000002", "step-000004"]);
}

#[test]
fn a_failed_save_leaves_no_partial_checkpoint() {
    // The file-size limit (with SIGXFSZ ignored, so writes fail with
    // EFBIG) lets config.json through and stops model.safetensors.
    let out = scratch("failed-save");
    let run = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 20; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_monologue"))
        .args(tiny_train_args(&out, "2"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("error: "), "{stderr}");
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// A page folder that satisfies serve-web (its tests need no wasm build).
fn fake_page() -> PathBuf {
    let dir = scratch("page");
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html>hi").unwrap();
    std::fs::write(dir.join("pkg/monologue_web_bg.wasm"), b"\0asm").unwrap();
    dir
}

struct Server {
    child: std::process::Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let page = fake_page();
        let mut child = Command::new(env!("CARGO_BIN_EXE_monologue"))
            .args([
                "serve-web",
                "--port",
                "0",
                "--dir",
                page.to_str().unwrap(),
                "--model",
            ])
            .arg(model_path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = Vec::new();
        let stdout = child.stdout.as_mut().unwrap();
        let mut byte = [0u8];
        while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
            line.push(byte[0]);
        }
        let line = String::from_utf8(line).unwrap();
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        // Keep reading the request log so the server never blocks on it.
        let mut rest = child.stdout.take().unwrap();
        std::thread::spawn(move || std::io::copy(&mut rest, &mut std::io::sink()));
        Server { child, port }
    }

    fn ask(&self, request: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        String::from_utf8(head).unwrap()
    }

    fn resident_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap()
    }
}

#[test]
fn serve_web_bounds_requests_and_resumes_downloads() {
    let server = Server::start();
    let len = std::fs::metadata(model_path()).unwrap().len();

    let head = server.ask("HEAD /model.gguf HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {len}\r\n")),
        "{head}"
    );
    assert!(head.contains("Accept-Ranges: bytes"), "{head}");

    let rest = server.ask(&format!(
        "GET /model.gguf HTTP/1.1\r\nRange: bytes={}-\r\nConnection: close\r\n\r\n",
        len - 100
    ));
    assert!(rest.starts_with("HTTP/1.1 206"), "{rest}");
    assert!(rest.contains("Content-Length: 100\r\n"), "{rest}");
    let want = format!("Content-Range: bytes {}-{}/{len}", len - 100, len - 1);
    assert!(rest.contains(&want), "{rest}");
    let past = server.ask(&format!(
        "GET /model.gguf HTTP/1.1\r\nRange: bytes={len}-\r\nConnection: close\r\n\r\n"
    ));
    assert!(past.starts_with("HTTP/1.1 416"), "{past}");

    // An endless header line: 100 MB sent, the server keeps at most 8 KiB
    // of it and answers 431.
    let before = server.resident_kb();
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut reply = s.try_clone().unwrap();
    reply
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let answer = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = reply.read(&mut buf) {
            answer.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    });
    s.write_all(b"GET / HTTP/1.1\r\nX-Endless: ").unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..100 {
        if s.write_all(&chunk).is_err() {
            break; // the server closed the connection
        }
    }
    let answer = answer.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    let grown = server.resident_kb().saturating_sub(before);
    assert!(grown < 20_000, "the server grew by {grown} KB");

    // Too many idle connections: the extra one is told so, and the
    // server still answers once they are gone.
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    let mut extra = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut busy = String::new();
    extra
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let _ = extra.read_to_string(&mut busy);
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy:?}");
    drop(idle);
    // Their threads notice the closed connections and free the slots.
    let deadline = Instant::now() + Duration::from_secs(10);
    let page = loop {
        let page = server.ask("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        if !page.starts_with("HTTP/1.1 503") || Instant::now() > deadline {
            break page;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
}
