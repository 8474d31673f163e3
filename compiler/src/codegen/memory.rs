//! Device memory for every tensor: network inputs and outputs in their own IO regions (3, 4, …,
//! one per tensor, as tpu-mlir lays them out), CPU-quantised inputs in private memory (region 2),
//! activations in shared memory (region 0) placed by lifetime so that dead tensors' bytes are
//! reused, reshapes and channel slices as aliases of what they read, concat inputs stored in
//! place in the concat's output.

use crate::lower::{Layer, Network, TensorRef};
use cvsim_isa::Region;

/// Alignment of every placed tensor (a DRAM burst start; also what tpu-mlir uses).
const ALIGN: u64 = 16;

/// Where one tensor lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub region: Region,
    pub offset: u64,
    /// A later tensor reuses these bytes (written into the tensor map, so the runtime does not
    /// offer the tensor's final value).
    pub overwrote: bool,
}

/// Every tensor's placement (None: never stored, e.g. a tensor no layer reads or writes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    pub places: Vec<Option<Placement>>,
    /// Each tensor's channel stride in units of its dense channel size: 1, or the groups of the
    /// channel shuffle whose output a concat input is stored into (every `groups`-th channel).
    pub channel_steps: Vec<u32>,
    pub shared_bytes: u64,
    pub private_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MemoryError {
    #[error("the network has {0} inputs and outputs; IO regions {first}..={last} hold at most {count}", first = Region::IO_FIRST, last = Region::IO_LAST, count = Region::IO_COUNT)]
    TooManyIo(usize),
    #[error("network output `{0}` is produced by a Reshape; reshape it after the output instead")]
    ReshapedOutput(String),
}

/// Channel slices read in place: the layer index of each `Slice` whose output is simply its
/// channel range of the input (batch 1, so the range is contiguous), not a network input or output.
pub fn slice_views(net: &Network) -> Vec<usize> {
    let io = |t: TensorRef| net.inputs.contains(&t) || net.outputs.contains(&t);
    let mut v = Vec::new();
    for (li, l) in net.layers.iter().enumerate() {
        let Layer::Slice { input, output, .. } = l else { continue };
        let writers = net.layers.iter().filter(|l| l.output() == *output).count();
        if net.tensors[*input].shape[0] == 1 && !io(*output) && writers == 1 {
            v.push(li);
        }
    }
    v
}

/// A concat whose output only the channel shuffle right after it reads, each input within one
/// shuffle group: the inputs go straight to their channels of the shuffle's output, so neither
/// the concat's output nor a shuffle pass exists. The shuffle's layer index, output and groups.
pub fn shuffled_concat(net: &Network, li: usize) -> Option<(usize, TensorRef, u32)> {
    let io = |t: TensorRef| net.inputs.contains(&t) || net.outputs.contains(&t);
    let Layer::Concat { inputs, output, .. } = net.layers.get(li)? else { return None };
    let Layer::ChannelShuffle { input, output: s, groups } = net.layers.get(li + 1)? else { return None };
    let readers = |t: TensorRef| net.layers.iter().filter(|l| l.inputs().contains(&t)).collect::<Vec<_>>();
    let c = net.tensors[*output].shape[1];
    if input != output || readers(*output).len() != 1 || io(*output) || io(*s) || net.tensors[*output].shape[0] != 1 {
        return None;
    }
    // The shuffle's output keeps its own bytes (it is not stored into another concat).
    if readers(*s).iter().any(|l| matches!(l, Layer::Concat { .. })) || *groups == 0 || c % groups != 0 {
        return None;
    }
    let per = c / groups;
    let mut b = 0;
    for &t in inputs {
        let ck = net.tensors[t].shape[1];
        if ck == 0 || b / per != (b + ck - 1) / per {
            return None;
        }
        b += ck;
    }
    Some((li + 1, *s, *groups as u32))
}

/// Where input `k` of the shuffled concat at layer `li` lands in the shuffle's output: its first
/// channel there and the channel step (the groups).
pub fn shuffled_place(net: &Network, li: usize, k: usize, groups: u32) -> (u32, u32) {
    let Layer::Concat { inputs, output, .. } = &net.layers[li] else { unreachable!("a concat layer") };
    let per = net.tensors[*output].shape[1] as u32 / groups;
    let b: u32 = inputs[..k].iter().map(|&x| net.tensors[x].shape[1] as u32).sum();
    // Concat channel i·per + j is shuffle channel j·groups + i.
    ((b % per) * groups + b / per, groups)
}

/// Concat inputs stored straight into their channel range of the concat's output (or, for a
/// shuffled concat, their channels of the shuffle's output), so the concat moves nothing for
/// them: (input, concat layer) for each input with no rescale, batch 1, written by a TPU layer
/// that computes it (not a slice read in place; a convolution when the channels are strided)
/// and read by nothing else.
pub fn concat_aliases(net: &Network) -> Vec<(TensorRef, usize)> {
    let io = |t: TensorRef| net.inputs.contains(&t) || net.outputs.contains(&t);
    let views = slice_views(net);
    let mut v = Vec::new();
    for (li, l) in net.layers.iter().enumerate() {
        let Layer::Concat { inputs, rescale, .. } = l else { continue };
        let shuffled = shuffled_concat(net, li).is_some();
        for (&t, r) in inputs.iter().zip(rescale) {
            let readers = net.layers.iter().filter(|l| l.inputs().contains(&t)).count();
            let producer = net.layers.iter().position(|l| l.output() == t);
            let tpu = matches!(producer, Some(p) if !views.contains(&p)
                && !matches!(net.layers[p], Layer::Quantize { .. } | Layer::Dequantize { .. } | Layer::Reshape { .. })
                && (!shuffled || matches!(net.layers[p], Layer::Conv(_) | Layer::ConvBf16(_))));
            let repeated = inputs.iter().filter(|&&x| x == t).count() > 1;
            if r.is_none() && net.tensors[t].shape[0] == 1 && tpu && readers == 1 && !io(t) && !repeated {
                v.push((t, li));
            }
        }
    }
    v
}

/// The tensor that owns each tensor's bytes, the byte offset into it and the channel step:
/// reshapes alias what they reshape, slices read in place their channel range of the input,
/// aliased concat inputs their channel range of the output (or their strided channels of a
/// shuffled concat's shuffle output; such an input is read by the concat alone, so it never
/// heads a chain).
fn roots(net: &Network) -> (Vec<TensorRef>, Vec<u64>, Vec<u32>) {
    let n = net.tensors.len();
    let mut parent: Vec<Option<(TensorRef, u64, u32)>> = vec![None; n];
    for l in &net.layers {
        if let Layer::Reshape { input, output } = l {
            parent[*output] = Some((*input, 0, 1));
        }
    }
    for li in slice_views(net) {
        let Layer::Slice { input, output, c0 } = &net.layers[li] else { continue };
        let [_, _, h, w] = net.tensors[*input].shape;
        parent[*output] = Some((*input, (c0 * h * w * net.tensors[*input].dtype.size()) as u64, 1));
    }
    for (t, li) in concat_aliases(net) {
        let Layer::Concat { inputs, output, .. } = &net.layers[li] else { continue };
        let [_, _, h, w] = net.tensors[*output].shape;
        let plane = (h * w * net.tensors[t].dtype.size()) as u64;
        let k = inputs.iter().position(|&x| x == t).expect("an input of its concat");
        parent[t] = Some(match shuffled_concat(net, li) {
            Some((_, s, groups)) => {
                let (first, step) = shuffled_place(net, li, k, groups);
                (s, first as u64 * plane, step)
            }
            None => {
                let before: usize = inputs[..k].iter().map(|&x| net.tensors[x].shape[1]).sum();
                (*output, before as u64 * plane, 1)
            }
        });
    }
    let mut root: Vec<TensorRef> = (0..n).collect();
    let mut off = vec![0u64; n];
    let mut step = vec![1u32; n];
    for t in 0..n {
        let (mut r, mut o, mut st) = (t, 0u64, 1u32);
        // Chains are short and acyclic: every parent is written after its child is read.
        let mut steps = 0;
        while let Some((p, po, ps)) = parent[r] {
            r = p;
            o += po;
            st *= ps;
            steps += 1;
            if steps > n {
                break;
            }
        }
        root[t] = r;
        off[t] = o;
        step[t] = st;
    }
    (root, off, step)
}

/// `fused`: (first, later) layer pairs lowered as one at the first layer, whose intermediate
/// tensors are not stored; a first layer's first pair names the layer whose output it stores.
pub fn plan(net: &Network, fused: &[(usize, usize)]) -> Result<MemoryPlan, MemoryError> {
    let n = net.tensors.len();
    let (root, alias_off, channel_steps) = roots(net);
    let views = slice_views(net);
    let mut places: Vec<Option<Placement>> = vec![None; n];
    let io: Vec<TensorRef> = net.inputs.iter().chain(&net.outputs).copied().collect();
    if io.len() > Region::IO_COUNT {
        return Err(MemoryError::TooManyIo(io.len()));
    }
    for (i, &t) in io.iter().enumerate() {
        if root[t] != t {
            return Err(MemoryError::ReshapedOutput(net.tensors[t].name.clone()));
        }
        places[t] = Some(Placement { region: Region::io(i).expect("counted above"), offset: 0, overwrote: false });
    }

    // Lifetimes of the byte owners, in layer indices (inclusive).
    let mut def = vec![usize::MAX; n];
    let mut last = vec![0usize; n];
    let mut private = vec![false; n];
    for (i, l) in net.layers.iter().enumerate() {
        if matches!(l, Layer::Reshape { .. }) || fused.iter().any(|f| f.1 == i) || views.contains(&i) {
            continue;
        }
        let o = match fused.iter().find(|f| f.0 == i) {
            Some(f) => root[net.layers[f.1].output()],
            None => root[l.output()],
        };
        def[o] = def[o].min(i);
        last[o] = last[o].max(i);
        if matches!(l, Layer::Quantize { .. }) {
            private[o] = true;
        }
        for t in l.inputs() {
            last[root[t]] = last[root[t]].max(i);
        }
    }

    let mut private_bytes = 0u64;
    // (offset, end, def, last, tensor) of shared allocations.
    let mut shared: Vec<(u64, u64, usize, usize, TensorRef)> = Vec::new();
    let mut owners: Vec<TensorRef> =
        (0..n).filter(|&t| root[t] == t && places[t].is_none() && def[t] != usize::MAX).collect();
    owners.sort_by_key(|&t| (def[t], t));
    for t in owners {
        let bytes = net.tensors[t].bytes() as u64;
        if private[t] {
            places[t] = Some(Placement { region: Region::PRIVATE, offset: private_bytes, overwrote: false });
            private_bytes += bytes.div_ceil(ALIGN) * ALIGN;
            continue;
        }
        // First fit among the allocations whose lifetimes overlap this one.
        let mut live: Vec<(u64, u64)> =
            shared.iter().filter(|a| a.2 <= last[t] && def[t] <= a.3).map(|a| (a.0, a.1)).collect();
        live.sort();
        let mut at = 0u64;
        for (s, e) in live {
            if at + bytes <= s {
                break;
            }
            at = at.max(e.div_ceil(ALIGN) * ALIGN);
        }
        shared.push((at, at + bytes, def[t], last[t], t));
        places[t] = Some(Placement { region: Region::SHARED, offset: at, overwrote: false });
    }
    // A tensor is overwritten when a later-defined allocation overlaps its bytes.
    for a in &shared {
        let reused = shared.iter().any(|b| b.2 > a.3 && b.0 < a.1 && a.0 < b.1);
        if reused {
            if let Some(p) = places[a.4].as_mut() {
                p.overwrote = true;
            }
        }
    }
    let shared_bytes = shared.iter().map(|a| a.1).max().unwrap_or(0).div_ceil(ALIGN) * ALIGN;
    for t in 0..n {
        if root[t] != t {
            // A strided tensor's bytes are not where a dense reader of the tensor map would look.
            let strided = channel_steps[t] != 1;
            places[t] = places[root[t]].map(|p| Placement {
                offset: p.offset + alias_off[t],
                overwrote: p.overwrote || strided,
                ..p
            });
        }
    }
    Ok(MemoryPlan { places, channel_steps, shared_bytes, private_bytes })
}
