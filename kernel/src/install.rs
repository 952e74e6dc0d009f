//! `monologue-kernel install`: write the kernelspec Jupyter finds the kernel
//! by (`kernels/monologue/kernel.json`).

use serde_json::json;
use std::path::{Path, PathBuf};

/// Where to install: `--prefix P` → `P/share/jupyter/kernels`; `--user` →
/// the user's data dir; otherwise `$JUPYTER_PATH`'s first entry if set, else
/// the user's data dir.
pub fn kernels_dir(user: bool, prefix: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = prefix {
        return Ok(p.join("share/jupyter/kernels"));
    }
    if !user {
        if let Some(first) =
            std::env::var_os("JUPYTER_PATH").and_then(|p| std::env::split_paths(&p).next())
        {
            return Ok(first.join("kernels"));
        }
    }
    let home = std::env::var_os("HOME").ok_or("HOME is not set: use --prefix")?;
    Ok(PathBuf::from(home).join(".local/share/jupyter/kernels"))
}

/// The logos Jupyter shows in its launcher (drawn by `kernel/logo/draw.py`).
const LOGOS: [(&str, &[u8]); 2] = [
    ("logo-32x32.png", include_bytes!("../logo/logo-32x32.png")),
    ("logo-64x64.png", include_bytes!("../logo/logo-64x64.png")),
];

pub fn install(dir: &Path, model: Option<&str>) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let mut argv = vec![exe.display().to_string()];
    if let Some(m) = model {
        argv.push("--model".into());
        argv.push(m.into());
    }
    argv.push("{connection_file}".into());
    let spec = json!({
        "argv": argv,
        "display_name": "Monologue (rhai)",
        "language": "rhai",
        "interrupt_mode": "message",
        "metadata": { "debugger": false },
    });
    let target = dir.join("monologue");
    std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    let file = target.join("kernel.json");
    let text = serde_json::to_string_pretty(&spec).expect("JSON");
    std::fs::write(&file, text).map_err(|e| format!("{}: {e}", file.display()))?;
    for (name, bytes) in LOGOS {
        let file = target.join(name);
        std::fs::write(&file, bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    }
    Ok(target)
}
