//! How to load a model: the options every face shares, and the backends.

use crate::backend::GpuOptions;
use crate::error::{Error, Result};
use crate::tensor::DType;
use serde::{Deserialize, Serialize};

/// How to load a model. The field names are the option names of every
/// face (`--kv-cache f16`, `load_model(name, #{ kv_cache: "f16" })`); types
/// and backends are written as text (`"Q8_0"`, `"wgpu:llvmpipe"`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "cli", derive(clap::Args))]
pub struct LoadOptions {
    /// Quantize float weights while loading, to any block format (Q8_0,
    /// Q4_K, …); rows too short for a K-quant's 256-weight blocks get the
    /// 32-weight format llama.cpp uses instead.
    #[serde(with = "quantize_text")]
    #[cfg_attr(feature = "cli", arg(long, value_name = "TYPE", value_parser = parse_quantize))]
    pub quantize: Option<DType>,
    /// Element type of the key/value cache: f32 (the default) or f16.
    #[serde(with = "kv_cache_text")]
    #[cfg_attr(feature = "cli", arg(long, value_name = "TYPE", value_parser = parse_kv_cache))]
    pub kv_cache: Option<DType>,
    /// Where the forward pass runs: cpu, wgpu (the best GPU adapter),
    /// wgpu:NAME (an adapter whose name contains NAME), or wgpu-f32[:NAME]
    /// (no f16 arithmetic even where the GPU offers it).
    #[serde(with = "backend_text")]
    #[cfg_attr(feature = "cli", arg(long, default_value = "cpu"))]
    pub backend: Backend,
}

/// `--quantize`: the block formats float weights may be quantized to.
pub fn parse_quantize(name: &str) -> std::result::Result<DType, String> {
    match DType::from_name(name) {
        Some(d) if d.is_quantized() => Ok(d),
        _ => {
            let names: Vec<&str> = DType::QUANTIZED.iter().map(|d| d.name()).collect();
            Err(format!("{name} is not one of {}", names.join(", ")))
        }
    }
}

/// `--kv-cache`: f32 or f16, in either case.
pub fn parse_kv_cache(name: &str) -> std::result::Result<DType, String> {
    match name.to_ascii_uppercase().as_str() {
        "F32" => Ok(DType::F32),
        "F16" => Ok(DType::F16),
        _ => Err(format!("{name} is not F32 or F16")),
    }
}

/// Serde for an optional type written as its name, checked by `$parse`.
macro_rules! dtype_text {
    ($module:ident, $parse:ident) => {
        mod $module {
            use crate::tensor::DType;
            use serde::{Deserialize, Deserializer, Serializer};

            pub fn serialize<S: Serializer>(d: &Option<DType>, s: S) -> Result<S::Ok, S::Error> {
                match d {
                    Some(d) => s.serialize_str(d.name()),
                    None => s.serialize_none(),
                }
            }

            pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DType>, D::Error> {
                Option::<String>::deserialize(d)?
                    .map(|name| super::$parse(&name).map_err(serde::de::Error::custom))
                    .transpose()
            }
        }
    };
}
dtype_text!(quantize_text, parse_quantize);
dtype_text!(kv_cache_text, parse_kv_cache);

/// Serde for a backend written as `Backend`'s text form.
mod backend_text {
    use super::Backend;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &Backend, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Backend, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where a model's forward pass runs.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Backend {
    /// The CPU kernels (`backend::cpu`).
    #[default]
    Cpu,
    /// The WGSL kernels on a GPU through wgpu.
    Wgpu(GpuOptions),
}

impl std::str::FromStr for Backend {
    type Err = Error;

    /// `cpu`, `wgpu`, `wgpu:NAME` (an adapter whose name contains NAME),
    /// and `wgpu-f32` / `wgpu-f32:NAME` (never f16 arithmetic).
    fn from_str(s: &str) -> Result<Self> {
        let (kind, adapter) = match s.split_once(':') {
            Some((kind, name)) if !name.is_empty() => (kind, Some(name.to_string())),
            Some(_) => ("", None),
            None => (s, None),
        };
        let f32_only = match kind {
            "cpu" if adapter.is_none() => return Ok(Backend::Cpu),
            "wgpu" | "gpu" => false,
            "wgpu-f32" | "gpu-f32" => true,
            _ => {
                return Err(Error::Invalid(format!(
                    "unknown backend {s:?}: use cpu, wgpu, wgpu:ADAPTER-NAME, or wgpu-f32[:ADAPTER-NAME]"
                )))
            }
        };
        Ok(Backend::Wgpu(GpuOptions { adapter, f32_only }))
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Backend::Cpu => write!(f, "cpu"),
            Backend::Wgpu(o) => {
                write!(f, "wgpu{}", if o.f32_only { "-f32" } else { "" })?;
                match &o.adapter {
                    Some(a) => write!(f, ":{a}"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_parse_and_print_back() {
        for text in [
            "cpu",
            "wgpu",
            "wgpu:llvmpipe",
            "wgpu-f32",
            "wgpu-f32:NVIDIA H200",
        ] {
            let backend: Backend = text.parse().unwrap();
            assert_eq!(backend.to_string(), text);
        }
        let gpu: Backend = "gpu-f32:lava".parse().unwrap();
        assert_eq!(
            gpu,
            Backend::Wgpu(GpuOptions {
                adapter: Some("lava".into()),
                f32_only: true
            })
        );
        for bad in ["", "cuda", "cpu:x", "wgpu:", "wgpu-f16"] {
            let err = bad.parse::<Backend>().unwrap_err().to_string();
            assert!(err.contains("unknown backend"), "{bad:?}: {err}");
        }
    }
}
