//! The vendor runtime's behaviour (`CVI_NN_*`, spec runtime.md §2) as a Rust API.
//!
//! A [`Runtime`] is the process context: the emulated device's memory ([`Allocation`]s with the
//! vendor's types and names, the shared-gmem list) and the one TPU. A [`ModelHandle`] is a
//! registered model instance: clones share the parsed model, its weight and command-buffer
//! allocations; each has its own program (private gmem, IO buffers), created by
//! [`ModelHandle::tensors`] after the configuration is chosen. TPU routines of all handles run
//! one at a time (a token passed through a crossbeam channel); CPU routines run in the calling
//! threads, in parallel.

mod device;
mod frames;
mod kernel;
mod tensor;
#[cfg(test)]
mod tests;

pub use device::{AllocKind, Allocation, DeviceAllocator};
pub use frames::VideoFrame;
pub use kernel::MatMulKernel;
pub use tensor::{MemType, TensorInfo};

use crate::cvimodel::{Model, ModelError, SectionType};
use crate::memory::{MemoryOptions, MemoryPlan};
use crate::session::{Instance, LoadedModel, RuntimeError};
use crossbeam::channel::{bounded, Receiver, Sender};
use cvsim_isa::Chip;
use cvsim_isa::{Region, RegionKind};
use cvsim_sim::timing::TimingConfig;
use device::Device;
use std::io::{Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// `CVI_RC` values (spec runtime.md §2.4): 0xC0778000 | code for the errors.
pub mod rc {
    pub const SUCCESS: i32 = 0;
    pub const FAILURE: i32 = -1;
    pub const INVALID_ARG: i32 = 0xC077_8003_u32 as i32;
    pub const UNINIT: i32 = 0xC077_8007_u32 as i32;
    pub const UNSUPPORT: i32 = 0xC077_8008_u32 as i32;
    pub const NOMEM: i32 = 0xC077_800C_u32 as i32;
    pub const AGAIN: i32 = 0xC077_8010_u32 as i32;
    pub const BUSY: i32 = 0xC077_8012_u32 as i32;
    pub const TIMEOUT: i32 = 0xC077_8015_u32 as i32;
    pub const DATA_ERR: i32 = 0xC077_8016_u32 as i32;
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Boxed: an emulator error carries the failing descriptor and would make every result large.
    #[error(transparent)]
    Runtime(Box<RuntimeError>),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("this process serves {first} (the chip of the first model registered); model `{model}` is for {chip}")]
    ChipMismatch { first: Chip, model: String, chip: Chip },
    #[error("program {program} does not exist (the model has {count})")]
    NoProgram { program: usize, count: usize },
    #[error("the configuration must be set before the tensors are first taken (GetInputOutputTensors)")]
    ConfigAfterLoad,
    #[error("the program is not loaded: take the tensors (GetInputOutputTensors) first")]
    NotLoaded,
    #[error("no tensor named `{name}` among the program's {which} ({known})")]
    NoTensor { name: String, which: &'static str, known: String },
    #[error("tensor `{name}`: {got} bytes given, its memory is {want} bytes")]
    Size { name: String, got: usize, want: u64 },
    #[error("tensor `{name}` lives in region {region}; only IO tensors (regions {first}..{last}) can be bound to an address", first = Region::IO_FIRST, last = Region::IO_LAST)]
    NotIo { name: String, region: String },
    #[error("device address {paddr:#x}..{end:#x} is not inside one buffer allocated on the device", end = paddr + len)]
    BadAddress { paddr: u64, len: u64 },
    #[error("device memory exhausted: {size} bytes of {kind:?} requested with {live} bytes live")]
    NoMem { size: u64, kind: AllocKind, live: u64 },
    #[error("input `{name}` takes frames of shape {want:?}; the frame is {got:?}")]
    FrameShape { name: String, want: [i64; 4], got: [i64; 4] },
    #[error("input `{name}`: {why}")]
    Frame { name: String, why: String },
    #[error("kernel function: {0}")]
    Kernel(String),
    #[error("the forward pass panicked: {0}")]
    Panicked(String),
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        ApiError::Runtime(Box::new(e))
    }
}

impl ApiError {
    /// The `CVI_RC` the vendor runtime returns for the same case. Where it asserts instead
    /// (a wrong program index, a tensor it does not know), cvsim returns INVALID_ARG.
    pub fn status(&self) -> i32 {
        match self {
            ApiError::Runtime(e) => match **e {
                RuntimeError::Model(ModelError::UnsupportedVersion { .. }) => rc::INVALID_ARG,
                RuntimeError::NoProgram { .. } => rc::INVALID_ARG,
                _ => rc::FAILURE,
            },
            ApiError::Io { .. } | ApiError::Panicked(_) => rc::FAILURE,
            ApiError::ChipMismatch { .. } => rc::INVALID_ARG,
            ApiError::NoProgram { .. } | ApiError::NoTensor { .. } | ApiError::Size { .. } => rc::INVALID_ARG,
            ApiError::BadAddress { .. } => rc::INVALID_ARG,
            ApiError::ConfigAfterLoad | ApiError::NotLoaded => rc::UNINIT,
            ApiError::NotIo { .. } => rc::UNSUPPORT,
            ApiError::NoMem { .. } => rc::NOMEM,
            // The vendor's one frame check that returns a code; its others are assertions.
            ApiError::FrameShape { .. } => rc::DATA_ERR,
            ApiError::Frame { .. } | ApiError::Kernel(_) => rc::INVALID_ARG,
        }
    }
}

/// Time spent in one forward pass, split the way a board shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardStats {
    /// Waiting for the TPU while other handles' TPU routines ran.
    pub tpu_wait: Duration,
    /// Running TPU routines.
    pub tpu_run: Duration,
    /// Running CPU routines.
    pub cpu: Duration,
    pub tpu_routines: usize,
    pub cpu_routines: usize,
    /// Host time of each routine, in program order (a TPU routine's without its wait).
    pub routine_times: Vec<Duration>,
}

struct Inner {
    device: Mutex<Device>,
    chip: Mutex<Option<Chip>>,
    /// The one TPU: whoever holds the token runs TPU routines.
    tpu_take: Receiver<()>,
    tpu_give: Sender<()>,
    /// The user's allocator for runtime buffers, if one is installed.
    allocator: Mutex<Option<Arc<dyn DeviceAllocator>>>,
    /// `TPU_ENABLE_PMU`: print the PMU summary after each TPU routine.
    pmu: std::sync::atomic::AtomicBool,
    /// Held while the runtime allocates or frees its buffers, so that the shared-gmem decisions
    /// are taken one at a time. A user allocator may call [`Runtime::alloc`] (which does not take
    /// it) from inside.
    alloc_lock: Mutex<()>,
}

/// The process context (`CVI_RT_HANDLE`): device memory and the TPU.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind; keep serving the other handles.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Holding the TPU; dropping it hands the TPU to the next waiter, also on unwinding.
struct TpuToken<'a>(&'a Inner);

impl Drop for TpuToken<'_> {
    fn drop(&mut self) {
        let _ = self.0.tpu_give.send(());
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        let (tpu_give, tpu_take) = bounded(1);
        tpu_give.send(()).expect("a fresh channel has room for the token");
        Runtime {
            inner: Arc::new(Inner {
                device: Mutex::default(),
                chip: Mutex::new(None),
                tpu_take,
                tpu_give,
                allocator: Mutex::new(None),
                pmu: std::sync::atomic::AtomicBool::new(false),
                alloc_lock: Mutex::new(()),
            }),
        }
    }

    /// The process-wide runtime (what the C ABI uses). As the vendor runtime, it prints the PMU
    /// summary after each TPU routine when the environment has `TPU_ENABLE_PMU` > 0.
    pub fn global() -> &'static Runtime {
        static GLOBAL: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| {
            let rt = Runtime::new();
            let on = std::env::var("TPU_ENABLE_PMU").ok().and_then(|v| v.trim().parse::<i64>().ok()).is_some_and(|v| v > 0);
            rt.set_pmu(on);
            rt
        })
    }

    /// Print, after each TPU routine, the PMU summary the board prints with `TPU_ENABLE_PMU=1`
    /// (`tdma_exe_ms`, `tiu_exe_ms`, `inference_ms`, ...), from the timing model with its default
    /// constants; the same text as `cvsim run --pmu`.
    pub fn set_pmu(&self, on: bool) {
        self.inner.pmu.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    fn device(&self) -> MutexGuard<'_, Device> {
        lock(&self.inner.device)
    }

    /// `CVI_RT_Global_SetMemAllocCallback` (`Some`) and `CVI_RT_Global_ResetMemAllocCallback`
    /// (`None`): where later runtime buffers come from. Buffers keep the allocator they came from.
    pub fn set_allocator(&self, a: Option<Arc<dyn DeviceAllocator>>) {
        *lock(&self.inner.allocator) = a;
    }

    fn alloc_lock(&self) -> MutexGuard<'_, ()> {
        lock(&self.inner.alloc_lock)
    }

    /// A buffer of the runtime's own, through the user's allocator when one is installed (the
    /// dmabuf built from a CMDBUF section never is: the board's device layer makes it). The
    /// caller holds the allocation lock and not the device lock.
    fn runtime_alloc(&self, size: u64, kind: AllocKind, name: String) -> Result<u64, ApiError> {
        let hook = if kind == AllocKind::Cmdbuf { None } else { lock(&self.inner.allocator).clone() };
        let Some(hook) = hook else { return self.device().alloc(size, kind, name) };
        let p = hook.alloc(size, kind, &name).ok_or_else(|| ApiError::NoMem { size, kind, live: self.device_bytes() })?;
        let recorded = self.device().record_hooked(p, size, kind, name, hook.clone());
        if recorded.is_err() {
            hook.free(p);
        }
        recorded.map(|()| p)
    }

    /// Drop one holder of a runtime buffer; the caller holds the allocation lock and not the
    /// device lock.
    fn runtime_release(&self, paddr: u64) {
        let back = self.device().release(paddr);
        if let Some((p, by)) = back {
            by.free(p);
        }
    }

    /// The shared-gmem buffer for a request (already rounded): reused or new.
    fn acquire_shared(&self, request: u64) -> Result<u64, ApiError> {
        let reused = self.device().reuse_shared(request);
        if let Some(p) = reused {
            return Ok(p);
        }
        let p = self.runtime_alloc(request, AllocKind::Shared, "SharedMemory".into())?;
        self.device().add_shared(p);
        Ok(p)
    }

    fn tpu(&self) -> TpuToken<'_> {
        // The sender half lives in `inner`, so the channel never disconnects.
        let _ = self.inner.tpu_take.recv();
        TpuToken(&self.inner)
    }

    /// `CVI_NN_RegisterModel`.
    pub fn register_file(&self, path: impl AsRef<std::path::Path>) -> Result<ModelHandle, ApiError> {
        self.register(Model::from_file(path).map_err(RuntimeError::from)?)
    }

    /// `CVI_NN_RegisterModelFromBuffer`.
    pub fn register_bytes(&self, bytes: &[u8]) -> Result<ModelHandle, ApiError> {
        self.register(Model::from_bytes(bytes).map_err(RuntimeError::from)?)
    }

    /// `CVI_NN_RegisterModelFromFd`: the model starts `offset` bytes into the file and runs to
    /// its end. The descriptor is duplicated, not closed, and its position is left alone.
    pub fn register_fd(&self, fd: std::os::fd::BorrowedFd<'_>, offset: u64) -> Result<ModelHandle, ApiError> {
        let io = |source| ApiError::Io { what: format!("model file descriptor {fd:?} at offset {offset}"), source };
        let mut file = std::fs::File::from(fd.try_clone_to_owned().map_err(io)?);
        // A duplicate shares the position with the caller's descriptor: restore it afterwards.
        let saved = file.stream_position().map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut bytes = Vec::new();
        let read = file.read_to_end(&mut bytes).map_err(io);
        file.seek(SeekFrom::Start(saved)).map_err(io)?;
        read?;
        self.register(Model::from_vec(bytes).map_err(RuntimeError::from)?)
    }

    fn register(&self, model: Model) -> Result<ModelHandle, ApiError> {
        {
            let mut chip = lock(&self.inner.chip);
            match *chip {
                Some(first) if first != model.chip() => {
                    return Err(ApiError::ChipMismatch { first, model: model.name.clone(), chip: model.chip() })
                }
                _ => *chip = Some(model.chip()),
            }
        }
        let plan = MemoryPlan::new(&model, MemoryOptions::default()).map_err(RuntimeError::from)?;
        let loaded = LoadedModel::new(model)?;
        let name = loaded.model.name.clone();
        let _allocating = self.alloc_lock();
        let mut made = Vec::new();
        let mut alloc = |size, kind| -> Result<u64, ApiError> {
            let p = self.runtime_alloc(size, kind, name.clone())?;
            made.push(p);
            Ok(p)
        };
        let result = (|| {
            let weight = if plan.weight > 0 { Some(alloc(plan.weight, AllocKind::Weight)?) } else { None };
            let mut cmdbufs = Vec::new();
            for c in &plan.cmdbufs {
                let kind = if c.kind == SectionType::Cmdbuf { AllocKind::Cmdbuf } else { AllocKind::Dmabuf };
                cmdbufs.push(alloc(c.total, kind)?);
            }
            Ok((weight, cmdbufs))
        })();
        let (weight, cmdbufs) = match result {
            Ok(v) => v,
            Err(e) => {
                for p in made {
                    self.runtime_release(p);
                }
                return Err(e);
            }
        };
        let shared = Arc::new(Registered { loaded, weight, cmdbufs, pmu_text: Mutex::default() });
        Ok(ModelHandle::with(self.clone(), shared))
    }

    /// `CVI_NN_Global_SetSharedMemorySize`: later shared-gmem requests are at least this large.
    pub fn set_shared_memory_size(&self, size: u64) {
        let mut dev = self.device();
        dev.shared_preset = dev.shared_preset.max(size);
    }

    /// Every live device allocation, by address.
    pub fn allocations(&self) -> Vec<Allocation> {
        self.device().allocations()
    }

    /// Bytes of device memory allocated now.
    pub fn device_bytes(&self) -> u64 {
        self.device().live_bytes()
    }

    /// Allocate a device buffer for the user (as `CVI_RT_MemAlloc`), e.g. to bind a tensor to.
    pub fn alloc(&self, size: u64) -> Result<u64, ApiError> {
        self.device().alloc(size, AllocKind::User, "user".into())
    }

    /// Free a buffer from [`Runtime::alloc`].
    pub fn free(&self, paddr: u64) -> Result<(), ApiError> {
        let mut dev = self.device();
        match dev.get(paddr) {
            Some(a) if a.kind == AllocKind::User => {
                dev.release(paddr);
                Ok(())
            }
            _ => Err(ApiError::BadAddress { paddr, len: 0 }),
        }
    }

    /// Host address of a user buffer's bytes (`CVI_RT_MemGetVAddr`), stable until the buffer is
    /// freed: the CPU side of an application writes frames there. `None` unless `paddr` starts a
    /// buffer from [`Runtime::alloc`].
    pub fn host_ptr(&self, paddr: u64) -> Option<*mut u8> {
        self.device().user_bytes_mut(paddr).map(|v| v.as_mut_ptr())
    }

    /// Write into a user device buffer.
    pub fn write(&self, paddr: u64, bytes: &[u8]) -> Result<(), ApiError> {
        let mut dev = self.device();
        let bad = ApiError::BadAddress { paddr, len: bytes.len() as u64 };
        let (start, off) = dev.user_span(paddr, bytes.len() as u64).ok_or(bad)?;
        dev.user_bytes_mut(start).expect("span found")[off..off + bytes.len()].copy_from_slice(bytes);
        Ok(())
    }

    /// Read from a user device buffer.
    pub fn read(&self, paddr: u64, len: usize) -> Result<Vec<u8>, ApiError> {
        let dev = self.device();
        let (start, off) = dev.user_span(paddr, len as u64).ok_or(ApiError::BadAddress { paddr, len: len as u64 })?;
        Ok(dev.user_bytes(start).expect("span found")[off..off + len].to_vec())
    }
}

/// What clones share: the parsed model and decoded command buffers, and their allocations.
struct Registered {
    loaded: Arc<LoadedModel>,
    weight: Option<u64>,
    cmdbufs: Vec<u64>,
    /// The PMU summary of each TPU section, made when first asked for (timing does not depend on
    /// the data, so one schedule per section serves every forward).
    pmu_text: Mutex<std::collections::HashMap<String, String>>,
}

impl Registered {
    fn pmu_summary(&self, section: &str) -> String {
        let mut cache = lock(&self.pmu_text);
        if let Some(t) = cache.get(section) {
            return t.clone();
        }
        let text = crate::timing::section_pmu_text(&self.loaded, section, &TimingConfig::default());
        cache.insert(section.to_string(), text.clone());
        text
    }
}

/// One loaded program of one handle.
struct ProgramState {
    inst: Instance,
    /// Ledger entries this program holds (shared, private, IO buffers).
    allocs: Vec<u64>,
    /// The runtime's own IO buffer per region (freed when the region is bound).
    io_alloc: [Option<u64>; Region::COUNT],
    /// A user buffer bound to the region (zero copy).
    bound: [Option<u64>; Region::COUNT],
    inputs: Vec<TensorInfo>,
    outputs: Vec<TensorInfo>,
    /// Bytes set from host memory, copied into the tensor at forward.
    staged: Vec<(String, Vec<u8>)>,
}

#[derive(Default)]
struct HandleState {
    program: usize,
    output_all: bool,
    prog: Option<ProgramState>,
}

/// A registered model instance (`CVI_MODEL_HANDLE`). Dropping it is `CVI_NN_CleanupModel`.
pub struct ModelHandle {
    rt: Runtime,
    shared: Arc<Registered>,
    state: Arc<Mutex<HandleState>>,
}

/// A configuration option (`CVI_CONFIG_OPTION`) that has an effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Config {
    /// `OPTION_PROGRAM_INDEX`.
    ProgramIndex(usize),
    /// `OPTION_OUTPUT_ALL_TENSORS`.
    OutputAllTensors(bool),
    /// `OPTION_BATCH_SIZE`: resets the program index to 0.
    BatchSize,
}

impl std::fmt::Debug for ModelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelHandle").field("model", &self.model().name).field("weight", &self.shared.weight).finish()
    }
}

impl ModelHandle {
    fn with(rt: Runtime, shared: Arc<Registered>) -> ModelHandle {
        ModelHandle { rt, shared, state: Arc::default() }
    }

    pub fn model(&self) -> &Model {
        &self.shared.loaded.model
    }

    /// The parsed model with its command streams, shared by clones (for the timing model, which
    /// reads the streams, not device memory).
    pub fn loaded_model(&self) -> &Arc<LoadedModel> {
        &self.shared.loaded
    }

    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// Device address of the weight allocation (shared by clones), if the model has weights.
    pub fn weight_paddr(&self) -> Option<u64> {
        self.shared.weight
    }

    /// `CVI_NN_CloneModel`: shares the model's weights and command buffers; its program and
    /// configuration are its own.
    pub fn clone_model(&self) -> ModelHandle {
        let mut dev = self.rt.device();
        for &p in self.shared.weight.iter().chain(&self.shared.cmdbufs) {
            dev.retain(p);
        }
        drop(dev);
        ModelHandle::with(self.rt.clone(), self.shared.clone())
    }

    fn state(&self) -> MutexGuard<'_, HandleState> {
        lock(&self.state)
    }

    /// `CVI_NN_SetConfig`; only before the tensors are first taken.
    pub fn set_config(&self, c: Config) -> Result<(), ApiError> {
        let mut st = self.state();
        if st.prog.is_some() {
            return Err(ApiError::ConfigAfterLoad);
        }
        match c {
            Config::ProgramIndex(i) => {
                let count = self.model().programs.len();
                if i >= count {
                    return Err(ApiError::NoProgram { program: i, count });
                }
                st.program = i;
            }
            Config::OutputAllTensors(v) => st.output_all = v,
            Config::BatchSize => st.program = 0,
        }
        Ok(())
    }

    /// `CVI_NN_GetInputOutputTensors`: loads the program on the first call (allocating its
    /// shared, private and IO memory) and returns the input and output tensors.
    pub fn tensors(&self) -> Result<(Vec<TensorInfo>, Vec<TensorInfo>), ApiError> {
        let mut st = self.state();
        if st.prog.is_none() {
            let p = self.load(st.program, st.output_all)?;
            st.prog = Some(p);
        }
        let p = st.prog.as_ref().expect("loaded above");
        Ok((p.inputs.clone(), p.outputs.clone()))
    }

    fn load(&self, program: usize, output_all: bool) -> Result<ProgramState, ApiError> {
        let model = self.model();
        let preset = self.rt.device().shared_preset;
        let plan = MemoryPlan::new(model, MemoryOptions { program, shared_preset: preset, ..Default::default() })
            .map_err(RuntimeError::from)?;
        let legacy = model.programs[program].is_legacy_neuron();
        let mut made: Vec<u64> = Vec::new();
        let mut io_alloc = [None; Region::COUNT];
        let mut failure = None;
        let _allocating = self.rt.alloc_lock();
        let inst = {
            let rt = &self.rt;
            let name = model.name.clone();
            let weight = self.shared.weight;
            let result = Instance::new_placed(self.shared.loaded.clone(), program, &mut |r, size| {
                let got = match r.kind() {
                    RegionKind::Weight => weight.ok_or(ApiError::BadAddress { paddr: 0, len: size }),
                    RegionKind::Shared if legacy => rt.runtime_alloc(size, AllocKind::Program, name.clone()),
                    RegionKind::Shared => rt.acquire_shared(plan.shared_gmem.max(size)),
                    RegionKind::Private => rt.runtime_alloc(size, AllocKind::Program, name.clone()),
                    RegionKind::Io => {
                        let t = plan.io.iter().find(|m| m.region == r).map(|m| m.tensor.as_str()).unwrap_or("");
                        let p = rt.runtime_alloc(size, AllocKind::Neuron, format!("{name}:{t}"));
                        if let Ok(p) = p {
                            io_alloc[r.index()] = Some(p);
                        }
                        p
                    }
                };
                match got {
                    Ok(p) => {
                        if r != Region::WEIGHT {
                            made.push(p);
                        }
                        Ok(p)
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        failure = Some(e);
                        Err(RuntimeError::Device(msg))
                    }
                }
            });
            match result {
                Ok(i) => i,
                Err(e) => {
                    for p in made {
                        rt.runtime_release(p);
                    }
                    return Err(failure.unwrap_or(ApiError::from(e)));
                }
            }
        };
        let prog = &model.programs[program];
        let info = |name: &String| TensorInfo::of(&inst, prog, name);
        let inputs = prog.input_tensors.iter().map(info).collect::<Result<Vec<_>, _>>();
        let outputs = if output_all {
            prog.tensor_map.iter().filter(|t| !t.overwrote).map(|t| info(&t.name)).collect::<Result<Vec<_>, _>>()
        } else {
            prog.output_tensors.iter().map(info).collect::<Result<Vec<_>, _>>()
        };
        let (inputs, outputs) = match (inputs, outputs) {
            (Ok(i), Ok(o)) => (i, o),
            (Err(e), _) | (_, Err(e)) => {
                for p in made {
                    self.rt.runtime_release(p);
                }
                return Err(e);
            }
        };
        Ok(ProgramState { inst, allocs: made, io_alloc, bound: [None; Region::COUNT], inputs, outputs, staged: Vec::new() })
    }

    fn loaded<R>(&self, f: impl FnOnce(&mut ProgramState) -> Result<R, ApiError>) -> Result<R, ApiError> {
        let mut st = self.state();
        f(st.prog.as_mut().ok_or(ApiError::NotLoaded)?)
    }

    /// `CVI_NN_SetTensorPtr` with the bytes: copied into the input at each forward.
    pub fn set_input(&self, name: &str, data: &[u8]) -> Result<(), ApiError> {
        self.loaded(|p| {
            let t = find(&p.inputs, name, "inputs")?;
            if data.len() as u64 != t.mem_size {
                return Err(ApiError::Size { name: name.into(), got: data.len(), want: t.mem_size });
            }
            p.staged.retain(|(n, _)| n != name);
            p.staged.push((name.to_string(), data.to_vec()));
            Ok(())
        })
    }

    /// `CVI_NN_SetTensorPhysicalAddr`: the tensor's IO region now lives at `paddr` (a buffer from
    /// [`Runtime::alloc`] holding the region); the runtime's own buffer is freed. Nothing is
    /// copied at forward: the TPU reads (and writes) the bound buffer.
    pub fn bind(&self, name: &str, paddr: u64) -> Result<(), ApiError> {
        self.loaded(|p| {
            let t = find(&p.inputs, name, "inputs").or_else(|_| find(&p.outputs, name, "inputs or outputs"))?.clone();
            let region = match t.region {
                Some(r) if r.is_io() && t.region_offset == 0 => r,
                Some(r) if r.is_io() => {
                    return Err(ApiError::NotIo { name: name.into(), region: format!("{r} at offset {}", t.region_offset) })
                }
                r => return Err(ApiError::NotIo { name: name.into(), region: r.map_or("none".into(), |r| r.to_string()) }),
            };
            let len = p.inst.region_data_mut(region).map_or(0, |d| d.len() as u64);
            let _allocating = self.rt.alloc_lock();
            let span = self.rt.device().user_span(paddr, len.max(t.mem_size));
            span.ok_or(ApiError::BadAddress { paddr, len: len.max(t.mem_size) })?;
            p.inst.rebind_region(region, paddr)?;
            if let Some(own) = p.io_alloc[region.index()].take() {
                self.rt.runtime_release(own);
                p.allocs.retain(|&a| a != own);
            }
            p.bound[region.index()] = Some(paddr);
            for list in [&mut p.inputs, &mut p.outputs] {
                for t in list.iter_mut().filter(|t| t.region == Some(region)) {
                    t.paddr = Some(paddr + t.region_offset);
                    t.mem_type = MemType::Device;
                }
            }
            Ok(())
        })
    }

    /// A tensor's bytes now (an output after forward).
    pub fn tensor_bytes(&self, name: &str) -> Result<Vec<u8>, ApiError> {
        self.loaded(|p| {
            let known = p.inputs.iter().chain(&p.outputs).any(|t| t.name == name);
            if !known {
                return Err(no_tensor(name, "inputs or outputs", p.inputs.iter().chain(&p.outputs)));
            }
            Ok(p.inst.tensor_bytes(name)?)
        })
    }

    /// `CVI_NN_CleanupModel` (the same as dropping the handle).
    pub fn cleanup(self) {
        drop(self)
    }

    /// `CVI_NN_Forward`.
    pub fn forward(&self) -> Result<ForwardStats, ApiError> {
        let mut st = self.state();
        let p = st.prog.as_mut().ok_or(ApiError::NotLoaded)?;
        self.rt.forward(p, &self.shared)
    }

    /// `CVI_NN_ForwardAsync`: the pass runs on its own thread; [`ForwardTask::wait`] is
    /// `CVI_NN_ForwardWait`. Other calls on this handle wait for it.
    pub fn forward_async(&self) -> ForwardTask {
        let (rt, state, shared) = (self.rt.clone(), self.state.clone(), self.shared.clone());
        let handle = std::thread::spawn(move || {
            let mut st = lock(&state);
            let p = st.prog.as_mut().ok_or(ApiError::NotLoaded)?;
            rt.forward(p, &shared)
        });
        ForwardTask { handle }
    }
}

/// A forward pass started by [`ModelHandle::forward_async`].
pub struct ForwardTask {
    handle: std::thread::JoinHandle<Result<ForwardStats, ApiError>>,
}

impl ForwardTask {
    pub fn wait(self) -> Result<ForwardStats, ApiError> {
        self.handle.join().unwrap_or_else(|e| Err(ApiError::Panicked(panic_text(&e))))
    }
}

pub(crate) fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| e.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

fn no_tensor<'a>(name: &str, which: &'static str, list: impl Iterator<Item = &'a TensorInfo>) -> ApiError {
    ApiError::NoTensor { name: name.into(), which, known: list.map(|t| t.name.as_str()).collect::<Vec<_>>().join(", ") }
}

fn find<'a>(list: &'a [TensorInfo], name: &str, which: &'static str) -> Result<&'a TensorInfo, ApiError> {
    list.iter().find(|t| t.name == name).ok_or_else(|| no_tensor(name, which, list.iter()))
}

impl Runtime {
    fn forward(&self, p: &mut ProgramState, shared: &Registered) -> Result<ForwardStats, ApiError> {
        // Bound regions: the TPU works on the user's buffer. The emulated TPU has its own memory
        // image per instance, so the buffer's bytes are brought in and written back around the
        // pass, all under the device lock's view of that buffer.
        for r in Region::ALL.into_iter().filter(|r| r.is_io()) {
            if let Some(pa) = p.bound[r.index()] {
                let dev = self.device();
                let data = p.inst.region_data_mut(r).expect("bound regions exist");
                let (start, off) =
                    dev.user_span(pa, data.len() as u64).ok_or(ApiError::BadAddress { paddr: pa, len: data.len() as u64 })?;
                data.copy_from_slice(&dev.user_bytes(start).expect("span found")[off..off + data.len()]);
            }
        }
        for (name, data) in &p.staged {
            p.inst.set_input(name, data)?;
        }
        let mut stats = ForwardStats::default();
        for i in 0..p.inst.routine_count() {
            if p.inst.routine_is_tpu(i) {
                let asked = Instant::now();
                let _tpu = self.tpu();
                let start = Instant::now();
                stats.tpu_wait += start - asked;
                p.inst.run_routine(i)?;
                let took = start.elapsed();
                stats.tpu_run += took;
                stats.tpu_routines += 1;
                stats.routine_times.push(took);
                if self.inner.pmu.load(std::sync::atomic::Ordering::Relaxed) {
                    // Printed as the routine ends, as the vendor runtime does; under the TPU token,
                    // so summaries of concurrent forwards do not interleave.
                    let section = p.inst.program().routines[i].tpu_section().unwrap_or_default().to_string();
                    print!("{}", shared.pmu_summary(&section));
                }
            } else {
                let start = Instant::now();
                p.inst.run_routine(i)?;
                let took = start.elapsed();
                stats.cpu += took;
                stats.cpu_routines += 1;
                stats.routine_times.push(took);
            }
        }
        for r in Region::ALL.into_iter().filter(|r| r.is_io()) {
            if let Some(pa) = p.bound[r.index()] {
                let mut dev = self.device();
                let data = p.inst.region_data_mut(r).expect("bound regions exist");
                let (start, off) =
                    dev.user_span(pa, data.len() as u64).ok_or(ApiError::BadAddress { paddr: pa, len: data.len() as u64 })?;
                dev.user_bytes_mut(start).expect("span found")[off..off + data.len()].copy_from_slice(data);
            }
        }
        Ok(stats)
    }
}

impl Drop for ModelHandle {
    /// `CVI_NN_CleanupModel`: the program's memory goes; weights and cmdbufs go with the last
    /// clone.
    fn drop(&mut self) {
        let prog = lock(&self.state).prog.take();
        let _allocating = self.rt.alloc_lock();
        if let Some(p) = prog {
            for a in p.allocs {
                self.rt.runtime_release(a);
            }
        }
        for &p in self.shared.weight.iter().chain(&self.shared.cmdbufs) {
            self.rt.runtime_release(p);
        }
    }
}
