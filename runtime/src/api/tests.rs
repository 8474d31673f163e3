//! The vendor behaviours of the API, on the bundled example model and synthetic models.

use super::*;
use crate::cvimodel::testutil::{simple, Spec};
use crate::cvimodel::DType;
use crate::memory::combine;
use cvsim_compiler::example;

fn as_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&b| b as u8).collect()
}

fn example_input(ex: &example::Example, k: u64) -> Vec<i8> {
    let mut rng = example::SplitMix64::new(1000 + k);
    rng.i8s(ex.input.len(), i8::MIN, i8::MAX)
}

fn allocs(rt: &Runtime, kind: AllocKind) -> Vec<Allocation> {
    rt.allocations().into_iter().filter(|a| a.kind == kind).collect()
}

#[test]
fn clones_share_one_weight_allocation() {
    let rt = Runtime::new();
    let ex = example::build(3);
    let a = rt.register_bytes(&ex.model_bytes).unwrap();
    let b = a.clone_model();
    a.tensors().unwrap();
    b.tensors().unwrap();
    let w = allocs(&rt, AllocKind::Weight);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!((w[0].refs, w[0].name.as_str()), (2, "cvsim_example"));
    assert_eq!(a.weight_paddr(), Some(w[0].paddr));
    assert_eq!(b.weight_paddr(), a.weight_paddr());
    assert_eq!(allocs(&rt, AllocKind::Cmdbuf).len(), 1);
    // Each clone has its own IO buffers, named <model>:<tensor>.
    let io = allocs(&rt, AllocKind::Neuron);
    assert_eq!(io.len(), 4);
    assert_eq!(io.iter().filter(|m| m.name == format!("cvsim_example:{}", ex.input_name)).count(), 2);
    let (ia, _) = a.tensors().unwrap();
    let (ib, _) = b.tensors().unwrap();
    assert_ne!(ia[0].paddr, ib[0].paddr);
    // The ledger agrees with the plan of the accounting module.
    let plan = MemoryPlan::new(a.model(), MemoryOptions::default()).unwrap();
    assert_eq!(rt.device_bytes(), combine(&[(&plan, 2)]).total);
    // Weights go with the last clone.
    a.cleanup();
    assert_eq!(allocs(&rt, AllocKind::Weight)[0].refs, 1);
    drop(b);
    assert!(rt.allocations().is_empty(), "{:?}", rt.allocations());
}

fn spec_with_shared(shared: u32) -> Vec<u8> {
    Spec { shared_gmem: shared, ..simple() }.build()
}

#[test]
fn second_model_reuses_the_shared_pool() {
    let rt = Runtime::new();
    let big = rt.register_bytes(&spec_with_shared(5000)).unwrap();
    let small = rt.register_bytes(&spec_with_shared(100)).unwrap();
    big.tensors().unwrap();
    small.tensors().unwrap();
    let s = allocs(&rt, AllocKind::Shared);
    assert_eq!(s.len(), 1, "{s:?}");
    assert_eq!((s[0].size, s[0].refs, s[0].name.as_str()), (8192, 2, "SharedMemory"));
    let plans: Vec<MemoryPlan> =
        [&big, &small].iter().map(|h| MemoryPlan::new(h.model(), MemoryOptions::default()).unwrap()).collect();
    assert_eq!(rt.device_bytes(), combine(&[(&plans[0], 1), (&plans[1], 1)]).total);

    // The other order: the small buffer cannot serve the large request, so both stay.
    let rt = Runtime::new();
    let small = rt.register_bytes(&spec_with_shared(100)).unwrap();
    small.tensors().unwrap();
    let big = rt.register_bytes(&spec_with_shared(5000)).unwrap();
    big.tensors().unwrap();
    let mut sizes: Vec<u64> = allocs(&rt, AllocKind::Shared).iter().map(|a| a.size).collect();
    sizes.sort();
    assert_eq!(sizes, vec![4096, 8192]);
    assert_eq!(rt.device_bytes(), combine(&[(&plans[1], 1), (&plans[0], 1)]).total);
    // A preset raises later requests.
    let rt = Runtime::new();
    rt.set_shared_memory_size(10_000);
    let h = rt.register_bytes(&spec_with_shared(100)).unwrap();
    h.tensors().unwrap();
    assert_eq!(allocs(&rt, AllocKind::Shared)[0].size, 12288);
}

#[test]
fn forwarding_from_eight_threads_matches_serial_runs() {
    let rt = Runtime::new();
    let models: Vec<example::Example> = (0..2).map(example::build).collect();
    let inputs: Vec<Vec<i8>> = (0..16).map(|k| example_input(&models[0], k)).collect();
    // Serial: one handle per model, inputs one after another.
    let mut serial = vec![];
    for ex in &models {
        let h = rt.register_bytes(&ex.model_bytes).unwrap();
        h.tensors().unwrap();
        for inp in &inputs {
            h.set_input(&ex.input_name, &as_bytes(inp)).unwrap();
            h.forward().unwrap();
            serial.push(h.tensor_bytes(&ex.output_name).unwrap());
        }
        assert_eq!(serial.last().unwrap(), &as_bytes(&example::reference(ex, inputs.last().unwrap())));
    }
    // Parallel: 8 threads, each a clone of one of the two models, 4 inputs each.
    let roots: Vec<ModelHandle> = models.iter().map(|ex| rt.register_bytes(&ex.model_bytes).unwrap()).collect();
    let results: Vec<(usize, usize, Vec<u8>, ForwardStats)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (m, h) = (t % 2, roots[t % 2].clone_model());
                let (ex, inputs) = (&models[m], &inputs);
                s.spawn(move || {
                    h.tensors().unwrap();
                    (0..4)
                        .map(|j| {
                            let k = (t / 2) * 4 + j;
                            h.set_input(&ex.input_name, &as_bytes(&inputs[k])).unwrap();
                            let st = h.forward().unwrap();
                            (m, k, h.tensor_bytes(&ex.output_name).unwrap(), st)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(results.len(), 32);
    for (m, k, out, st) in &results {
        assert_eq!(out, &serial[m * 16 + k], "model {m} input {k}");
        assert_eq!((st.tpu_routines, st.cpu_routines), (1, 0));
    }
}

#[test]
fn async_forward_then_wait() {
    let rt = Runtime::new();
    let ex = example::build(5);
    let h = rt.register_bytes(&ex.model_bytes).unwrap();
    h.tensors().unwrap();
    h.set_input(&ex.input_name, &as_bytes(&ex.input)).unwrap();
    let task = h.forward_async();
    let stats = task.wait().unwrap();
    assert_eq!(stats.tpu_routines, 1);
    assert_eq!(h.tensor_bytes(&ex.output_name).unwrap(), as_bytes(&ex.expected));
}

#[test]
fn a_bound_input_is_read_from_the_bound_address() {
    let rt = Runtime::new();
    let ex = example::build(7);
    let h = rt.register_bytes(&ex.model_bytes).unwrap();
    let (ins, outs) = h.tensors().unwrap();
    let own = ins[0].paddr.unwrap();
    let pa = rt.alloc(ins[0].mem_size).unwrap();
    let out_pa = rt.alloc(outs[0].mem_size).unwrap();
    rt.write(pa, &as_bytes(&ex.input)).unwrap();
    h.bind(&ex.input_name, pa).unwrap();
    h.bind(&ex.output_name, out_pa).unwrap();
    // The runtime's own IO buffers are freed.
    assert!(allocs(&rt, AllocKind::Neuron).is_empty(), "{:?}", rt.allocations());
    assert!(rt.allocations().iter().all(|a| a.paddr != own));
    h.forward().unwrap();
    assert_eq!(rt.read(out_pa, outs[0].mem_size as usize).unwrap(), as_bytes(&ex.expected));
    // New bytes at the bound address, no call in between: the next pass reads them.
    let other = example_input(&ex, 1);
    rt.write(pa, &as_bytes(&other)).unwrap();
    h.forward().unwrap();
    assert_eq!(rt.read(out_pa, outs[0].mem_size as usize).unwrap(), as_bytes(&example::reference(&ex, &other)));
    // An address that is not a device buffer, or one too small, is refused.
    assert_eq!(h.bind(&ex.input_name, 0x10).unwrap_err().status(), rc::INVALID_ARG);
    assert_eq!(rt.alloc(u64::MAX).unwrap_err().status(), rc::NOMEM);
    let tiny = rt.alloc(4).unwrap();
    assert_eq!(h.bind(&ex.input_name, tiny).unwrap_err().status(), rc::INVALID_ARG);
}

#[test]
fn register_from_fd_with_offset_and_output_all() {
    let rt = Runtime::new();
    let ex = example::build(1);
    let dir = std::env::temp_dir().join(format!("cvsim-api-fd-{}", std::process::id()));
    let mut bytes = vec![0xEEu8; 37];
    bytes.extend_from_slice(&ex.model_bytes);
    std::fs::write(&dir, &bytes).unwrap();
    let file = std::fs::File::open(&dir).unwrap();
    let h = rt.register_fd(std::os::fd::AsFd::as_fd(&file), 37).unwrap();
    std::fs::remove_file(&dir).unwrap();
    h.set_config(Config::OutputAllTensors(true)).unwrap();
    let (ins, outs) = h.tensors().unwrap();
    // Every tensor not marked overwrote, in tensor-map order: the spill buffer is left out.
    let names: Vec<&str> = outs.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, vec![ex.input_name.as_str(), ex.output_name.as_str()]);
    assert_eq!((ins[0].qscale, ins[0].pixel_format, ins[0].mem_type), (32.0, 100, MemType::System));
    assert_eq!((ins[0].shape, ins[0].count, ins[0].mem_size), ([1, 8, 12, 12], 1152, 1152));
    assert_eq!(h.set_config(Config::ProgramIndex(0)).unwrap_err().status(), rc::UNINIT);
}

#[test]
fn program_choice_and_vendor_status_codes() {
    let rt = Runtime::new();
    assert_eq!(rt.register_bytes(b"not a model").unwrap_err().status(), rc::FAILURE);
    assert_eq!(rt.register_file("/nonexistent/x.cvimodel").unwrap_err().status(), rc::FAILURE);
    let newer = Spec { version: (1, 5, 0), ..simple() }.build();
    assert_eq!(rt.register_bytes(&newer).unwrap_err().status(), rc::INVALID_ARG);
    let two = Spec { extra_programs: 1, ..simple() }.build();
    let h = rt.register_bytes(&two).unwrap();
    assert_eq!(h.forward().unwrap_err().status(), rc::UNINIT);
    assert_eq!(h.set_config(Config::ProgramIndex(2)).unwrap_err().status(), rc::INVALID_ARG);
    h.set_config(Config::ProgramIndex(1)).unwrap();
    let (ins, _) = h.tensors().unwrap();
    assert_eq!(h.set_input("nope", &[0; 4]).unwrap_err().status(), rc::INVALID_ARG);
    assert_eq!(h.set_input(&ins[0].name, &[0; 4]).unwrap_err().status(), rc::INVALID_ARG);
    // The process serves the chip of its first model.
    let other = Spec { chip: "cv183x", ..simple() }.build();
    assert_eq!(rt.register_bytes(&other).unwrap_err().status(), rc::INVALID_ARG);
}

#[test]
fn tpu_routines_wait_for_the_one_tpu() {
    let rt = Runtime::new();
    let ex = example::build(9);
    let h = rt.register_bytes(&ex.model_bytes).unwrap();
    h.tensors().unwrap();
    h.set_input(&ex.input_name, &as_bytes(&ex.input)).unwrap();
    // Another user holds the TPU: the pass cannot run its TPU routine until it is released.
    let held = rt.tpu();
    let task = h.forward_async();
    std::thread::sleep(Duration::from_millis(50));
    assert!(!task.handle.is_finished(), "a TPU routine ran while another held the TPU");
    drop(held);
    let stats = task.wait().unwrap();
    assert!(stats.tpu_wait > Duration::ZERO);
    assert_eq!(h.tensor_bytes(&ex.output_name).unwrap(), as_bytes(&ex.expected));
}

/// A user allocator in the vendor sample's style: runtime buffers are carved out of one big user
/// buffer, 4 KiB aligned, never reused.
struct Pool {
    rt: Runtime,
    base: u64,
    size: u64,
    next: Mutex<u64>,
    log: Mutex<Vec<(AllocKind, String, u64, u64)>>,
    freed: Mutex<Vec<u64>>,
}

impl DeviceAllocator for Pool {
    fn alloc(&self, size: u64, kind: AllocKind, name: &str) -> Option<u64> {
        // Calling back into the runtime from the allocator must not deadlock.
        assert!(self.rt.read(self.base, 1).is_ok());
        let mut next = self.next.lock().unwrap();
        let at = *next;
        if at + size > self.size {
            return None;
        }
        *next = (at + size).div_ceil(4096) * 4096;
        self.log.lock().unwrap().push((kind, name.to_string(), size, self.base + at));
        Some(self.base + at)
    }
    fn free(&self, paddr: u64) {
        self.freed.lock().unwrap().push(paddr);
    }
}

#[test]
fn a_user_allocator_places_the_runtime_buffers() {
    let rt = Runtime::new();
    let ex = example::build(5);
    let base = rt.alloc(1 << 20).unwrap();
    let pool = Arc::new(Pool {
        rt: rt.clone(),
        base,
        size: 1 << 20,
        next: Mutex::new(0),
        log: Mutex::default(),
        freed: Mutex::default(),
    });
    rt.set_allocator(Some(pool.clone()));
    let h = rt.register_bytes(&ex.model_bytes).unwrap();
    let (ins, outs) = h.tensors().unwrap();
    h.set_input(&ex.input_name, &as_bytes(&ex.input)).unwrap();
    h.forward().unwrap();
    assert_eq!(h.tensor_bytes(&ex.output_name).unwrap(), as_bytes(&ex.expected));
    let log = pool.log.lock().unwrap().clone();
    let kinds: Vec<AllocKind> = log.iter().map(|l| l.0).collect();
    // Weight at registration, then the program's private memory and its IO buffers; the dmabuf
    // built from the CMDBUF section is the device layer's own.
    assert_eq!(kinds[0], AllocKind::Weight);
    assert!(kinds.contains(&AllocKind::Neuron), "{log:?}");
    assert!(!kinds.contains(&AllocKind::Cmdbuf), "{log:?}");
    assert_eq!(allocs(&rt, AllocKind::Cmdbuf).len(), 1);
    let io = log.iter().find(|l| l.1 == format!("cvsim_example:{}", ex.input_name)).expect("the input's buffer");
    assert_eq!(ins[0].paddr, Some(io.3), "the tensor lives where the allocator put it");
    assert!(outs[0].paddr.is_some_and(|p| p >= base && p < base + (1 << 20)));
    // The device counts the pool once, not again for what the runtime carved out of it.
    assert_eq!(rt.device_bytes(), (1 << 20) + allocs(&rt, AllocKind::Cmdbuf)[0].size);
    // Cleanup gives every carved buffer back to the allocator.
    h.cleanup();
    let mut freed = pool.freed.lock().unwrap().clone();
    let mut given: Vec<u64> = log.iter().map(|l| l.3).collect();
    freed.sort();
    given.sort();
    assert_eq!(freed, given);
    // An allocator out of memory: registration fails with NOMEM and keeps nothing.
    rt.set_allocator(Some(Arc::new(Pool {
        rt: rt.clone(),
        base,
        size: 16,
        next: Mutex::new(0),
        log: Mutex::default(),
        freed: Mutex::default(),
    })));
    assert_eq!(rt.register_bytes(&ex.model_bytes).unwrap_err().status(), rc::NOMEM);
    rt.set_allocator(None);
    let h = rt.register_bytes(&ex.model_bytes).unwrap();
    h.tensors().unwrap();
    assert!(allocs(&rt, AllocKind::Weight)[0].paddr >= base + (1 << 20), "the device's own allocator again");
}

#[test]
fn matrix_multiply_kernel_gives_exact_int32_products() {
    let rt = Runtime::new();
    let (m, k, n) = (3usize, 300usize, 70usize);
    let mut rng = example::SplitMix64::new(11);
    let l: Vec<u8> = (0..m * k).map(|_| rng.next_u64() as u8).collect();
    let r: Vec<u8> = (0..k * n).map(|_| rng.next_u64() as u8).collect();
    let (pl, pr, py) =
        (rt.alloc((m * k) as u64).unwrap(), rt.alloc((k * n) as u64).unwrap(), rt.alloc((m * n * 4) as u64).unwrap());
    rt.write(pl, &l).unwrap();
    rt.write(pr, &r).unwrap();
    for signed in [true, false] {
        let kf = MatMulKernel::new(if signed { DType::I8 } else { DType::U8 }, m as u32, k as u32, n as u32).unwrap();
        kf.run(&rt, pl, pr, py).unwrap();
        let y = rt.read(py, m * n * 4).unwrap();
        let v = |b: u8| if signed { b as i8 as i32 } else { b as i32 };
        for (i, j) in [(0, 0), (2, 69), (1, 33)] {
            let want: i32 = (0..k).map(|t| v(l[i * k + t]) * v(r[t * n + j])).sum();
            let got = i32::from_le_bytes(y[(i * n + j) * 4..][..4].try_into().unwrap());
            assert_eq!(got, want, "signed {signed} ({i},{j})");
        }
    }
    assert_eq!(MatMulKernel::new(DType::Bf16, 1, 1, 1).unwrap_err().status(), rc::INVALID_ARG);
    assert!(MatMulKernel::new(DType::I8, 0, 1, 1).is_err());
    let kf = MatMulKernel::new(DType::I8, 4, k as u32, n as u32).unwrap();
    assert!(kf.run(&rt, pl, pr, py).unwrap_err().to_string().contains(&format!("{pl:#x}")), "L is only 3 rows");
}
