//! `monologue serve-web`: the browser chat on 127.0.0.1.
//!
//! A static server for the page that `web/build.sh` writes, plus the model
//! file at `/model.gguf`. Every request is logged to stdout as one line
//! (`GET /model.gguf 200 98.0 MB`), which is also how the browser tests
//! count downloads.

use clap::Args;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

#[derive(Args, Debug)]
pub struct ServeWebArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The model the page loads, served as /model.gguf: a GGUF file or `smollm2`.
    #[arg(long, default_value = "smollm2")]
    pub model: String,
    /// The built page (default: web/dist of this checkout).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

struct Site {
    dir: PathBuf,
    model: PathBuf,
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
    let model = monologue::language_model::resolve_model_path(&args.model)?;
    if !model.is_file() {
        return Err(format!(
            "{}: the browser chat needs a single GGUF file",
            model.display()
        )
        .into());
    }
    let server = Server::http(("127.0.0.1", args.port))
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .unwrap_or(args.port);
    println!(
        "serving the chat at http://127.0.0.1:{port}/ (model: {}; Ctrl-C stops)",
        model.display()
    );
    std::io::stdout().flush()?;
    let site = Arc::new(Site { dir, model });
    for request in server.incoming_requests() {
        let site = site.clone();
        // One thread per request: the model's download must not hold up
        // the page's other files.
        std::thread::spawn(move || serve(&site, request));
    }
    Ok(())
}

fn serve(site: &Site, request: Request) {
    let method = request.method().clone();
    let url = request.url().to_string();
    let path = url.split(['?', '#']).next().unwrap_or("/").to_string();
    let (status, bytes) = match respond(site, request, &method, &path) {
        Ok(sent) => sent,
        Err(e) => {
            eprintln!("serve-web: {method} {path}: {e}");
            return;
        }
    };
    let size = match bytes {
        Some(n) if n >= 1_000_000 => format!(" {:.1} MB", n as f64 / 1e6),
        Some(n) => format!(" {n} B"),
        None => String::new(),
    };
    println!("{method} {path} {status}{size}");
    let _ = std::io::stdout().flush();
}

/// Answers one request; returns the status and the body's size.
fn respond(
    site: &Site,
    request: Request,
    method: &Method,
    path: &str,
) -> std::io::Result<(u16, Option<u64>)> {
    if *method != Method::Get && *method != Method::Head {
        request.respond(plain(405, "only GET and HEAD are served"))?;
        return Ok((405, None));
    }
    let Some(file) = resolve(site, path) else {
        request.respond(plain(404, "not found"))?;
        return Ok((404, None));
    };
    let Ok(opened) = File::open(&file) else {
        request.respond(plain(404, "not found"))?;
        return Ok((404, None));
    };
    let meta = opened.metadata()?;
    let len = meta.len();
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    let etag = format!("\"{len:x}-{modified:x}\"");
    let mut headers = vec![
        header("Content-Type", content_type(&file)),
        header("ETag", &etag),
        // The page checks the model's ETag itself; its files are small.
        header("Cache-Control", "no-cache"),
        // Cross-origin isolation: finer timers for the kernel table, and
        // SharedArrayBuffer for wasm threads.
        header("Cross-Origin-Opener-Policy", "same-origin"),
        header("Cross-Origin-Embedder-Policy", "require-corp"),
    ];
    if path == "/model.gguf" {
        // The page shows the model's real name; the URL is always model.gguf.
        if let Some(name) = site.model.file_name().and_then(|n| n.to_str()) {
            if let Ok(h) = Header::from_bytes("X-Model-Name".as_bytes(), name.as_bytes()) {
                headers.push(h);
            }
        }
    }
    if *method == Method::Head {
        let mut response =
            Response::empty(200).with_header(header("Content-Length", &len.to_string()));
        for h in headers {
            response.add_header(h);
        }
        request.respond(response)?;
        return Ok((200, None));
    }
    let mut response = Response::new(
        StatusCode(200),
        Vec::new(),
        opened,
        Some(len as usize),
        None,
    );
    for h in headers {
        response.add_header(h);
    }
    request.respond(response)?;
    Ok((200, Some(len)))
}

/// The file a URL path names: the model, or a file inside the page's
/// folder (never outside it).
fn resolve(site: &Site, path: &str) -> Option<PathBuf> {
    if path == "/model.gguf" {
        return Some(site.model.clone());
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

fn header(name: &str, value: &str) -> Header {
    // Our names and values are ASCII, which is all Header::from_bytes refuses.
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("an ASCII header")
}

fn plain(status: u16, text: &str) -> Response<std::io::Cursor<Vec<u8>>> {
    Response::from_string(text)
        .with_status_code(status)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}
