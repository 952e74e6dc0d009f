//! The connection file Jupyter writes for a kernel: where to bind each
//! socket and the key that signs every message.

use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
pub struct Connection {
    pub transport: String,
    pub ip: String,
    pub shell_port: u16,
    pub control_port: u16,
    pub iopub_port: u16,
    pub stdin_port: u16,
    pub hb_port: u16,
    #[serde(default)]
    pub key: String,
    #[serde(default = "default_scheme")]
    pub signature_scheme: String,
}

fn default_scheme() -> String {
    "hmac-sha256".into()
}

impl Connection {
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("connection file {}: {e}", path.display()))?;
        let c: Connection = serde_json::from_str(&text)
            .map_err(|e| format!("connection file {}: {e}", path.display()))?;
        if c.transport != "tcp" {
            return Err(format!(
                "connection file {}: transport `{}` is not supported (only tcp)",
                path.display(),
                c.transport
            ));
        }
        if !c.key.is_empty() && c.signature_scheme != "hmac-sha256" {
            return Err(format!(
                "connection file {}: signature scheme `{}` is not supported (only hmac-sha256)",
                path.display(),
                c.signature_scheme
            ));
        }
        Ok(c)
    }

    pub fn endpoint(&self, port: u16) -> String {
        format!("tcp://{}:{port}", self.ip)
    }
}
