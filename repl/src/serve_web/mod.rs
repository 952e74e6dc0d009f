//! `monologue serve-web`: the browser chat on 127.0.0.1.
//!
//! A static server for the page that `web/build.sh` writes, plus the model
//! file at `/model.gguf`, and each model known by a short name whose file
//! is here (`scripts/fetch-model.sh NAME`) at `/models/NAME.gguf`, listed in
//! `/models.json` for the page's model menu. Every request is logged to stdout as one line
//! (`GET /model.gguf 200 98.0 MB`), which is also how the browser tests
//! count downloads.

mod http;

use clap::Args;
use http::{Body, Response};
use monologue::error::printable;
use std::fs::File;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Connections served at once; one more gets a 503 and is closed. A page
/// opens a handful (Chromium at most six per host).
const MAX_CONNECTIONS: usize = 32;

#[derive(Args, Debug)]
pub struct ServeWebArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The model the page loads, served as /model.gguf: a GGUF file or `smollm2`; or a LoRA
    /// adapter (a `peft` folder or a LoRA fine-tune's run) on a GGUF base: the base is served
    /// as /model.gguf, the adapter's files under /adapter/, and the page merges them as it loads.
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// The built page (default: web/dist of this checkout).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

struct Site {
    dir: PathBuf,
    model: PathBuf,
    /// The LoRA adapter folder served with the model, if any.
    adapter: Option<PathBuf>,
    /// The short-named models found: (name, file).
    known: Vec<(String, PathBuf)>,
}

pub fn run(args: &ServeWebArgs) -> Result<(), Box<dyn std::error::Error>> {
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/dist"));
    if !dir.join("index.html").is_file() || !dir.join("pkg/monologue_web_bg.wasm").is_file() {
        return Err(format!(
            "{} holds no built chat page: run web/build.sh first",
            dir.display()
        )
        .into());
    }
    let resolved = monologue::load::resolve_model_path(&args.model)?;
    let (model, adapter) = match monologue::load::adapter_base(&resolved)? {
        Some(base) => (base, Some(resolved)),
        None => (resolved, None),
    };
    if !model.is_file() {
        return Err(format!(
            "{}: the browser chat needs a single GGUF file",
            model.display()
        )
        .into());
    }
    let listener = TcpListener::bind(("127.0.0.1", args.port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let port = listener.local_addr().map_or(args.port, |a| a.port());
    let adapted = adapter
        .as_ref()
        .map(|a| format!(" with the LoRA adapter {}", a.display()))
        .unwrap_or_default();
    println!(
        "serving the chat at http://127.0.0.1:{port}/ (model: {}{adapted}; Ctrl-C stops)",
        model.display()
    );
    std::io::stdout().flush()?;
    let known = monologue::load::SHORT_NAMES
        .iter()
        .filter_map(|&(name, _, _)| {
            let path = monologue::load::resolve_model_path(name).ok()?;
            path.is_file().then(|| (name.to_string(), path))
        })
        .collect();
    let site = Arc::new(Site {
        dir,
        model,
        adapter,
        known,
    });
    let open = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::SeqCst);
            let busy = Response::text(503, "too many connections; try again");
            let _ = http::write_response(&mut stream, busy, false, false);
            continue;
        }
        let (site, open) = (site.clone(), open.clone());
        // A thread per connection: the model's download must not hold up
        // the page's other files.
        std::thread::spawn(move || {
            serve_connection(&site, stream);
            open.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

/// Answers the requests of one connection until the client closes it,
/// asks to, or misbehaves.
fn serve_connection(site: &Site, stream: TcpStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    // A client that stops reading frees its slot after a minute.
    let _ = writer.set_write_timeout(Some(std::time::Duration::from_secs(60)));
    let mut reader = BufReader::new(stream);
    loop {
        let request = match http::read_request(&mut reader) {
            Ok(r) => r,
            Err(http::BadRequest::Gone) => return,
            Err(http::BadRequest::Status(status, why)) => {
                println!("bad request {status}: {why}");
                let _ =
                    http::write_response(&mut writer, Response::text(status, why), false, false);
                http::linger(&mut reader);
                return;
            }
        };
        let path = request.target.split(['?', '#']).next().unwrap_or("/");
        // Escaped: a request must not write terminal sequences into the log.
        let path = printable(path).into_owned();
        let head_only = request.method == "HEAD";
        let response = respond(site, &request, &path);
        let status = response.status;
        let body = response.body.len();
        let sent = http::write_response(&mut writer, response, head_only, request.keep_alive);
        let method = printable(&request.method);
        match sent {
            Ok(_) => {
                let size = match body {
                    _ if head_only => String::new(),
                    n if n >= 1_000_000 => format!(" {:.1} MB", n as f64 / 1e6),
                    n => format!(" {n} B"),
                };
                println!("{method} {path} {status}{size}");
            }
            Err(e) => eprintln!("serve-web: {method} {path}: {e}"),
        }
        let _ = std::io::stdout().flush();
        if !request.keep_alive {
            return;
        }
    }
}

/// The answer to one request.
fn respond(site: &Site, request: &http::Request, path: &str) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        return Response::text(405, "only GET and HEAD are served").with("Allow", "GET, HEAD");
    }
    if path == "/models.json" {
        return Response::new(200, Body::Text(models_json(site)))
            .with("Content-Type", "application/json")
            .with("Cache-Control", "no-cache");
    }
    let Some(file) = resolve(site, path) else {
        return Response::text(404, "not found");
    };
    let Ok(opened) = File::open(&file) else {
        return Response::text(404, "not found");
    };
    let Ok(meta) = opened.metadata() else {
        return Response::text(404, "not found");
    };
    let len = meta.len();
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let etag = format!("\"{len:x}-{modified:x}\"");
    // A resumed download asks for the rest of the file; `If-Range` makes
    // sure the rest belongs to the same file.
    let range_header = match request.header("If-Range") {
        Some(tag) if tag != etag => None,
        _ => request.header("Range"),
    };
    let (status, start, count) = match http::byte_range(range_header, len) {
        Ok(None) => (200, 0, len),
        Ok(Some((start, count))) => (206, start, count),
        Err(()) => {
            return Response::text(416, "the range lies past the end of the file")
                .with("Content-Range", &format!("bytes */{len}"));
        }
    };
    let mut response = Response::new(
        status,
        Body::File {
            file: opened,
            start,
            len: count,
        },
    )
    .with("Content-Type", content_type(&file))
    .with("ETag", &etag)
    .with("Accept-Ranges", "bytes")
    // The page checks the model's ETag itself; its files are small.
    .with("Cache-Control", "no-cache")
    // Cross-origin isolation: finer timers for the kernel table, and
    // SharedArrayBuffer for wasm threads.
    .with("Cross-Origin-Opener-Policy", "same-origin")
    .with("Cross-Origin-Embedder-Policy", "require-corp");
    if status == 206 {
        let last = start + count - 1;
        response = response.with("Content-Range", &format!("bytes {start}-{last}/{len}"));
    }
    if path == "/model.gguf" || path.starts_with("/models/") {
        // The page shows the model's real name; the URL is always model.gguf.
        if let Some(name) = file.file_name().and_then(|n| n.to_str()) {
            if name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                response = response.with("X-Model-Name", name);
            }
        }
    }
    response
}

/// The file a URL path names: the model, or a file inside the page's
/// folder (never outside it).
fn resolve(site: &Site, path: &str) -> Option<PathBuf> {
    if path == "/model.gguf" {
        return Some(site.model.clone());
    }
    if let Some(file) = path.strip_prefix("/adapter/") {
        use monologue::model::adapter::{CONFIG, WEIGHTS};
        return match (&site.adapter, file) {
            (Some(dir), CONFIG | WEIGHTS) => Some(dir.join(file)),
            _ => None,
        };
    }
    if let Some(name) = path
        .strip_prefix("/models/")
        .and_then(|p| p.strip_suffix(".gguf"))
    {
        return site.known.iter().find(|k| k.0 == name).map(|k| k.1.clone());
    }
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    if relative
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == ".." || part.contains('\\'))
    {
        return None;
    }
    let file = site.dir.join(relative);
    file.is_file().then_some(file)
}

/// The models the page may offer: the served one (`model.gguf`, under its
/// short name when it is one of them), then each other short-named one
/// found, with its file's name and size.
fn models_json(site: &Site) -> String {
    let entry = |url: String, name: &str, file: &Path| {
        serde_json::json!({
            "url": url,
            "name": name,
            "file": file.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
            "bytes": file.metadata().map_or(0, |m| m.len()),
        })
    };
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let served_as = site.known.iter().find(|(_, file)| same(file, &site.model));
    let name = served_as.map_or("served", |(name, _)| name.as_str());
    let mut served = entry("model.gguf".into(), name, &site.model);
    if site.adapter.is_some() {
        served["adapter"] = "adapter/".into();
    }
    let mut models = vec![served];
    for (name, file) in &site.known {
        if !same(file, &site.model) {
            models.push(entry(format!("models/{name}.gguf"), name, file));
        }
    }
    serde_json::Value::Array(models).to_string()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        // Streaming compilation needs exactly this type.
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The served model appears once, under its short name when it has one.
    #[test]
    fn the_served_model_is_listed_once() {
        let dir = std::env::temp_dir().join(format!("monologue-models-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.gguf"), dir.join("b.gguf"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"bb").unwrap();
        let site = |model: &Path| Site {
            dir: dir.clone(),
            model: model.to_path_buf(),
            adapter: None,
            known: vec![("small".into(), a.clone()), ("big".into(), b.clone())],
        };
        let list: serde_json::Value = serde_json::from_str(&models_json(&site(&a))).unwrap();
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        let urls: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["url"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["small", "big"]);
        assert_eq!(urls, ["model.gguf", "models/big.gguf"]);
        let other = dir.join("c.gguf");
        std::fs::write(&other, b"c").unwrap();
        let list: serde_json::Value = serde_json::from_str(&models_json(&site(&other))).unwrap();
        let names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["served", "small", "big"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An adapter's two files are served under /adapter/ and listed with
    /// the model; nothing else in its folder is.
    #[test]
    fn an_adapter_is_served_beside_its_base() {
        let dir = std::env::temp_dir().join(format!("monologue-adapter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("base.gguf");
        std::fs::write(&base, b"gguf").unwrap();
        let site = Site {
            dir: dir.join("page"),
            model: base,
            adapter: Some(dir.clone()),
            known: Vec::new(),
        };
        let list: serde_json::Value = serde_json::from_str(&models_json(&site)).unwrap();
        assert_eq!(list[0]["adapter"], "adapter/");
        let config = resolve(&site, "/adapter/adapter_config.json");
        assert_eq!(config, Some(dir.join("adapter_config.json")));
        assert!(resolve(&site, "/adapter/adapter_model.safetensors").is_some());
        assert_eq!(resolve(&site, "/adapter/optimizer.safetensors"), None);
        assert_eq!(resolve(&site, "/adapter/../base.gguf"), None);
        let plain = Site {
            adapter: None,
            ..site
        };
        assert_eq!(resolve(&plain, "/adapter/adapter_config.json"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
