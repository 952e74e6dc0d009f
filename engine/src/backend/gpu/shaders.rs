//! The WGSL sources from `shaders/`, built into the binary and looked up by
//! name, and a cache of compiled pipelines.
//!
//! A kernel that reads weights is compiled once per weight format: the
//! format's file (`q8_0.wgsl`, …, providing `dequant_block`) is placed
//! before the kernel's file (`matvec.wgsl`, …).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

macro_rules! shader_sources {
    ($($name:literal),* $(,)?) => {
        /// (file stem, WGSL source) for every file in `shaders/`.
        const SOURCES: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../../shaders/", $name, ".wgsl"))),)*
        ];
    };
}

shader_sources!(
    "q8_0",
    "q4_0",
    "q4_1",
    "q5_0",
    "q5_1",
    "q2_k",
    "q3_k",
    "q4_k",
    "q5_k",
    "q6_k",
    "iq4_nl",
    "iq4_xs",
    "f16",
    "bf16",
    "f32",
    "tile_f32",
    "tile_f16",
    "matvec",
    "matmul",
    "embedding",
    "norm",
    "rope",
    "attention",
    "softmax",
    "elementwise",
    "activation",
    "argmax",
    "top_k",
);

/// The source of `shaders/<name>.wgsl`.
pub fn source(name: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// What to compile: a kernel file, its entry point, the weight format file
/// to place before it (if it reads weights), and the precision file to
/// place first (if it is written over a tile type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KernelId {
    pub file: &'static str,
    pub entry: &'static str,
    pub format: Option<&'static str>,
    pub precision: Option<&'static str>,
}

impl KernelId {
    pub const fn new(file: &'static str, entry: &'static str) -> Self {
        KernelId {
            file,
            entry,
            format: None,
            precision: None,
        }
    }

    pub const fn with_format(
        file: &'static str,
        entry: &'static str,
        format: &'static str,
    ) -> Self {
        KernelId {
            file,
            entry,
            format: Some(format),
            precision: None,
        }
    }

    /// The same kernel with `precision` (a file such as `tile_f16`) first.
    pub const fn in_precision(self, precision: &'static str) -> Self {
        KernelId {
            precision: Some(precision),
            ..self
        }
    }
}

/// Compiled pipelines, built on first use.
#[derive(Default)]
pub struct PipelineCache {
    pipelines: Mutex<HashMap<KernelId, Arc<wgpu::ComputePipeline>>>,
}

impl PipelineCache {
    pub fn get(&self, device: &wgpu::Device, id: KernelId) -> Arc<wgpu::ComputePipeline> {
        let mut cache = self.pipelines.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(id)
            .or_insert_with(|| Arc::new(compile(device, id)))
            .clone()
    }
}

fn compile(device: &wgpu::Device, id: KernelId) -> wgpu::ComputePipeline {
    // Every name here comes from the table above, so a missing file is a
    // bug in this crate, caught by the kernel tests.
    let file = |name: &str| source(name).unwrap_or_else(|| panic!("no shader {name}.wgsl"));
    // Precision first (it may hold an `enable` directive), then the format.
    let code: Vec<&str> = [id.precision, id.format, Some(id.file)]
        .into_iter()
        .flatten()
        .map(file)
        .collect();
    let code = code.join("\n");
    let label = format!(
        "{}:{}{}{}",
        id.file,
        id.entry,
        id.format.map(|f| format!("[{f}]")).unwrap_or_default(),
        id.precision.map(|p| format!("[{p}]")).unwrap_or_default()
    );
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&label),
        source: wgpu::ShaderSource::Wgsl(code.into()),
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&label),
        layout: None,
        module: &module,
        entry_point: Some(id.entry),
        compilation_options: Default::default(),
        cache: None,
    })
}
