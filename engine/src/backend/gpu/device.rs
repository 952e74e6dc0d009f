//! Finding a GPU and opening it: the adapter (the best one, or one named by
//! the caller), its device and queue, and what it can do.

use crate::backend::GpuOptions;
use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};

/// An open GPU. Cheap to share behind an `Arc`; every model and kernel
/// launch on this device goes through it.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    pub(crate) info: wgpu::AdapterInfo,
    pub(crate) limits: wgpu::Limits,
    /// Per-dispatch timestamps are available (else timing falls back to
    /// submission-to-completion wall time).
    pub(crate) timestamps: bool,
    /// Shaders may use f16 arithmetic (`shader-f16`).
    pub(crate) f16: bool,
    pub(crate) shaders: super::shaders::PipelineCache,
    /// Buffers of ended conversations, for the next ones.
    pub(crate) pool: super::pool::BufferPool,
    /// Validation and out-of-memory errors the device reported, waiting to
    /// be returned by the next call that checks.
    errors: Arc<Mutex<Vec<String>>>,
    /// Why the device was lost, once it is.
    lost: Arc<Mutex<Option<String>>>,
    /// The kernels' parameters, reused by every submission (grown when a
    /// batch needs more): writes to it are ordered after the work already
    /// submitted, so reuse is safe, and decoding allocates nothing per token.
    uniforms: Mutex<Option<wgpu::Buffer>>,
    /// Kernel timestamps a browser reads later (see `timings`).
    pub(crate) pending_timings: Mutex<Vec<super::timings::PendingTimings>>,
}

/// The GPUs opened so far, by the options that chose them.
static OPEN: Mutex<Vec<(GpuOptions, Arc<Gpu>)>> = Mutex::new(Vec::new());

/// An adapter, as `Gpu::adapter` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub kind: String,
    pub driver: String,
}

fn instance() -> wgpu::Instance {
    wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env())
}

fn summary(info: &wgpu::AdapterInfo) -> AdapterSummary {
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        kind: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
    }
}

/// A browser error as wgpu shows it (`JsValue(OperationError: why\n
/// stack)`) reduced to its first line; other messages unchanged.
fn plain_message(message: &str) -> &str {
    let inner = message
        .strip_prefix("JsValue(")
        .and_then(|m| m.strip_suffix(')'))
        .unwrap_or(message);
    inner.lines().next().unwrap_or(inner)
}

/// Best first: real GPUs before software ones.
fn rank(kind: wgpu::DeviceType) -> u8 {
    match kind {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

impl Gpu {
    /// Opens the chosen adapter. With none on the machine, the error says
    /// so and what to install.
    pub fn open(options: &GpuOptions) -> Result<Gpu> {
        let mut adapters = pollster::block_on(instance().enumerate_adapters(wgpu::Backends::all()));
        if adapters.is_empty() {
            return Err(Error::Invalid(
                "no GPU adapter found: wgpu sees no Vulkan, Metal or DX12 device \
                 (on Linux without a GPU, `apt-get install mesa-vulkan-drivers libvulkan1` \
                 gives the lavapipe software adapter)"
                    .into(),
            ));
        }
        adapters.sort_by_key(|a| rank(a.get_info().device_type));
        let adapter = match &options.adapter {
            None => adapters.swap_remove(0),
            Some(want) => {
                let want_lower = want.to_lowercase();
                let found = adapters
                    .iter()
                    .position(|a| a.get_info().name.to_lowercase().contains(&want_lower));
                match found {
                    Some(i) => adapters.swap_remove(i),
                    None => {
                        let names: Vec<String> =
                            adapters.iter().map(|a| a.get_info().name).collect();
                        return Err(Error::Invalid(format!(
                            "no GPU adapter named like {want:?}; found: {}",
                            names.join(", ")
                        )));
                    }
                }
            }
        };
        pollster::block_on(Self::open_adapter(adapter, options))
    }

    /// Opens the browser's WebGPU adapter (`navigator.gpu`): wgpu's
    /// futures resolve through the page's event loop there, so this is
    /// async where [`Gpu::open`] blocks.
    pub async fn open_async(options: &GpuOptions) -> Result<Gpu> {
        let adapter = instance()
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::Invalid(format!("no WebGPU adapter: {e}")))?;
        Self::open_adapter(adapter, options).await
    }

    async fn open_adapter(adapter: wgpu::Adapter, options: &GpuOptions) -> Result<Gpu> {
        let info = adapter.get_info();
        let available = adapter.features();
        // Two optional features, each with a fallback: timestamp queries
        // (else kernels are timed from the host) and f16 arithmetic in
        // shaders (else the f32 kernels). Everything else is WebGPU core.
        let mut optional = wgpu::Features::TIMESTAMP_QUERY;
        if !options.f32_only {
            optional |= wgpu::Features::SHADER_F16;
        }
        let features = available & optional;
        let timestamps = features.contains(wgpu::Features::TIMESTAMP_QUERY);
        // WebGPU's defaults, except that larger buffers are taken where the
        // adapter offers them (a 1B model's embedding is over 128 MiB).
        let offered = adapter.limits();
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: offered.max_storage_buffer_binding_size,
            max_buffer_size: offered.max_buffer_size,
            ..wgpu::Limits::default()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("monologue"),
                required_features: features,
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| {
                let which = if info.name.is_empty() {
                    String::new()
                } else {
                    format!(" {:?}", info.name)
                };
                Error::Invalid(format!(
                    "opening the GPU{which}: {}",
                    plain_message(&e.to_string())
                ))
            })?;
        // wgpu's default is to panic on a device error; keep them instead
        // and return them as errors.
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.to_string());
        }));
        // A lost device (driver reset, the browser reclaiming the GPU) fails
        // every later call with the reason, so callers can fall back.
        let lost = Arc::new(Mutex::new(None));
        let on_lost = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            *on_lost.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(format!("{message} ({reason:?})"));
        });
        Ok(Gpu {
            device,
            queue,
            info,
            limits,
            timestamps,
            f16: features.contains(wgpu::Features::SHADER_F16),
            shaders: Default::default(),
            pool: Default::default(),
            errors,
            lost,
            uniforms: Mutex::new(None),
            pending_timings: Mutex::new(Vec::new()),
        })
    }

    /// The GPU for `options`, opened once per process and shared by every
    /// model loaded on it.
    pub fn shared(options: &GpuOptions) -> Result<Arc<Gpu>> {
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, gpu)) = open.iter().find(|(o, _)| o == options) {
            return Ok(gpu.clone());
        }
        let gpu = Arc::new(Gpu::open(options)?);
        open.push((options.clone(), gpu.clone()));
        Ok(gpu)
    }

    /// Makes `gpu`, opened with [`Gpu::open_async`], the one [`Gpu::shared`]
    /// gives for `options` (a browser cannot open it synchronously), in
    /// place of any earlier one (a lost device's replacement).
    pub fn share(options: &GpuOptions, gpu: Arc<Gpu>) {
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        open.retain(|(o, _)| o != options);
        open.push((options.clone(), gpu));
    }

    /// A uniform buffer of at least `bytes`, the same one each time unless
    /// a larger one is needed.
    pub(crate) fn uniform_buffer(&self, bytes: u64) -> wgpu::Buffer {
        let mut slot = self.uniforms.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(buffer) = slot.as_ref().filter(|b| b.size() >= bytes) {
            return buffer.clone();
        }
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("kernel parameters"),
            size: bytes.next_power_of_two().max(1 << 16),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        *slot = Some(buffer.clone());
        buffer
    }

    /// The adapter in use.
    pub fn adapter(&self) -> AdapterSummary {
        summary(&self.info)
    }

    /// Whether per-dispatch GPU timestamps are available.
    pub fn has_timestamps(&self) -> bool {
        self.timestamps
    }

    /// Whether shaders may compute in f16 (`shader-f16`).
    pub fn has_f16(&self) -> bool {
        self.f16
    }

    /// Why the device was lost, if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The first error the device reported since the last check, if any.
    pub(crate) fn check_errors(&self) -> Result<()> {
        if let Some(why) = self.lost() {
            return Err(Error::Invalid(format!("the GPU device was lost: {why}")));
        }
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        let first = errors.drain(..).next();
        match first {
            Some(first) => Err(Error::Invalid(format!("GPU error: {first}"))),
            None => Ok(()),
        }
    }

    /// Block until all submitted work is done.
    pub(crate) fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| Error::Invalid(format!("waiting for the GPU: {e}")))
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .field("timestamps", &self.timestamps)
            .field("f16", &self.f16)
            .finish()
    }
}
