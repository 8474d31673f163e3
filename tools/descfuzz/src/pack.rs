//! Many cases in one `.cvimodel`: each case's global memory becomes a block of one int8 input
//! tensor (region 3); the program first copies the whole input to the output tensor (region 4),
//! then runs every case with its global addresses moved into its block of region 4, so the output
//! tensor is the whole global memory every case left behind. Sync ids are renumbered so that each
//! case starts after everything before it on both engines.

use crate::mutate::Case;
use crate::templates::Template;
use cvsim_isa::cmdbuf::encode_descs;
use cvsim_isa::{Chip, Desc, Direction, Region, TdmaDesc, TdmaKind};
use cvsim_runtime::writer::{ModelSpec, ProgramSpec, RoutineSpec, SectionSpec, TaggedAddr, TensorSpec};
use cvsim_runtime::{DType, SectionType};

pub const INPUT: &str = "gmem_in";
pub const OUTPUT: &str = "gmem_out";
const REGION_IN: Region = Region::IO_FIRST;
const REGION_OUT: Region = Region::io(1).expect("there are five IO regions");
/// Blocks keep their template's address modulo this, so alignment-sensitive transfers see the
/// same alignment.
pub const BLOCK_ALIGN: u64 = 4096;

/// Where each case's block lies in the image, and the image's size.
pub struct Packed {
    pub model: Vec<u8>,
    pub image: Vec<u8>,
    /// Per case: byte range of its block in the image.
    pub blocks: Vec<std::ops::Range<usize>>,
}

/// The global-memory base the chip's emitter adds (cv183x descriptors carry DDR + 4 GiB).
fn global_base(chip: Chip) -> u64 {
    chip.params().gmem_start
}

fn set_src(d: &mut TdmaDesc, reg: Region, addr: u64) {
    d.src_base_reg_sel = reg.number() as u32;
    d.src_base_addr_low = addr as u32;
    d.src_base_addr_high = (addr >> 32) as u32;
}

fn set_dst(d: &mut TdmaDesc, reg: Region, addr: u64) {
    d.dst_base_reg_sel = reg.number() as u32;
    d.dst_base_addr_low = addr as u32;
    d.dst_base_addr_high = (addr >> 32) as u32;
}

/// A general copy of `len` bytes from the input image to the output image, built from the
/// chip's own g2g general-copy template.
fn image_copy(chip: Chip, copy: &TdmaDesc, len: u64) -> TdmaDesc {
    let mut d = copy.clone();
    set_src(&mut d, REGION_IN, global_base(chip));
    set_dst(&mut d, REGION_OUT, global_base(chip));
    d.src_n_stride = len as u32;
    d.cmd_id = 1;
    d.wait_id_tpu = 0;
    d
}

/// The chip's g2g general-copy descriptor, from its templates.
pub fn copy_template(templates: &[Template]) -> Option<TdmaDesc> {
    templates.iter().filter(|t| t.sub == "g2g_general_copy").find_map(|t| {
        t.descs.iter().find_map(|d| match d {
            Desc::Tdma(d) if d.trans_fmt == 1 && Direction::from_bits(d.trans_dir) == Direction::G2G => Some((**d).clone()),
            _ => None,
        })
    })
}

pub fn pack(chip: Chip, templates: &[Template], copy: &TdmaDesc, cases: &[Case]) -> Result<Packed, String> {
    let mut blocks = Vec::new();
    let mut image: Vec<u8> = Vec::new();
    let mut descs: Vec<Desc> = Vec::new();
    // Ids so far on each engine; id 1 of TDMA is the image copy.
    let (mut tiu_base, mut tdma_base) = (0u32, 1u32);
    for c in cases {
        let t = &templates[c.template];
        let (lo, hi) = t.span();
        let lo_aligned = lo - lo % BLOCK_ALIGN;
        let start = (image.len() as u64).next_multiple_of(BLOCK_ALIGN);
        let len = hi - lo_aligned;
        image.resize((start + len) as usize, 0);
        for (a, bytes) in &c.init {
            let at = (start + a - lo_aligned) as usize;
            image[at..at + bytes.len()].copy_from_slice(bytes);
        }
        blocks.push(start as usize..(start + len) as usize);
        let moved = |a: u64| -> Result<u64, String> {
            let a = a.wrapping_sub(global_base(chip));
            let lo = lo_aligned.wrapping_sub(global_base(chip));
            if a < lo || a - lo > len {
                return Err(format!("{}: address {a:#x} outside its memory {lo:#x}+{len:#x}", t.id));
            }
            Ok(global_base(chip) + start + (a - lo))
        };
        let (mut max_tiu, mut max_tdma) = (0u32, 0u32);
        for d in &c.descs {
            let mut d = d.clone();
            match &mut d {
                Desc::Tiu(x) => {
                    max_tiu = max_tiu.max(x.cmd_id_tpu);
                    x.cmd_id_tpu += tiu_base;
                    x.cmd_id_gdma += tdma_base;
                }
                Desc::Tdma(x) => {
                    max_tdma = max_tdma.max(x.cmd_id);
                    x.cmd_id += tdma_base;
                    x.wait_id_tpu += tiu_base;
                    // Every transfer waits, so a case never overtakes the one before it.
                    x.bar_en = 1;
                    let dir = Direction::from_bits(x.trans_dir);
                    // A fill reads no memory: its source is the constant.
                    if dir.src_is_global() && x.op().kind != TdmaKind::Fill {
                        let a = moved(x.src_addr())?;
                        set_src(x, REGION_OUT, a);
                    }
                    if dir.dst_is_global() {
                        let a = moved(x.dst_addr())?;
                        set_dst(x, REGION_OUT, a);
                    }
                }
                Desc::Cpu(_) => return Err(format!("{}: a CPU descriptor", t.id)),
            }
            descs.push(d);
        }
        tiu_base += max_tiu;
        tdma_base += max_tdma;
        if tiu_base > 60000 || tdma_base > 60000 {
            return Err("too many descriptors for 16-bit sync ids; pack fewer cases".into());
        }
    }
    let total = image.len() as u64;
    let mut all = vec![Desc::Tdma(Box::new(image_copy(chip, copy, total)))];
    // The first descriptor of each engine after the copy must wait for it: TIU waits on TDMA id 1.
    all.extend(descs);
    for d in all.iter_mut().skip(1) {
        if let Desc::Tiu(x) = d {
            x.cmd_id_gdma = x.cmd_id_gdma.max(1);
        }
    }
    let cmdbuf = encode_descs(chip, &all).map_err(|e| format!("encode: {e}"))?;

    let mut spec = ModelSpec::new(chip, "cvsim_descfuzz");
    spec.build_time = Some("1970-01-01 00:00:00".into());
    spec.sections = vec![SectionSpec::new(SectionType::Cmdbuf, "subfunc_0", cmdbuf)];
    let shape = [1, 1, 1, total as i64];
    let input = TensorSpec::new(INPUT, TaggedAddr::at(REGION_IN, 0), DType::I8, &shape).with_qscale(1.0, 0.0);
    let output = TensorSpec::new(OUTPUT, TaggedAddr::at(REGION_OUT, 0), DType::I8, &shape).with_qscale(1.0, 0.0);
    spec.programs = vec![ProgramSpec {
        batch_num: 1,
        neuron_size: 0,
        input_tensors: vec![INPUT.into()],
        output_tensors: vec![OUTPUT.into()],
        tensor_map: vec![input, output],
        routines: vec![RoutineSpec::tpu_cmdbuf("subfunc_0", &[INPUT], &[OUTPUT])],
        shared_gmem: 0,
        private_gmem: 0,
    }];
    let model = spec.to_bytes().map_err(|e| format!("write: {e}"))?;
    Ok(Packed { model, image, blocks })
}
