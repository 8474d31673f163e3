//! Build small synthetic `.cvimodel` files for unit tests, one knob per thing a test breaks.

use crate::generated::model as fb;
use flatbuffers::FlatBufferBuilder;
use md5::{Digest, Md5};

pub struct SecSpec {
    pub kind: u8,
    pub name: &'static str,
    pub data: Vec<u8>,
    /// Store LZ4-compressed with this declared decompressed size (None = plain).
    pub compress: Option<u32>,
    /// Override (offset, size) as declared, to point outside the file.
    pub place: Option<(u32, u32)>,
}

pub struct TensorSpec {
    pub name: &'static str,
    pub offset: i64,
    pub dtype: u8,
    pub dims: Vec<i64>,
    pub aligned: bool,
    pub pixel_format: Option<&'static str>,
    pub size: u32,
}

pub enum RoutineSpec {
    Tpu { cmdbuf: Option<&'static str>, dmabuf: Option<&'static str>, ins: Vec<&'static str>, outs: Vec<&'static str> },
    Cpu { function: &'static str, args: Vec<u8>, ins: Vec<&'static str>, outs: Vec<&'static str> },
    Raw { kind: u8 },
}

pub struct Spec {
    pub chip: &'static str,
    pub version: (u8, u8, u8),
    pub sections: Vec<SecSpec>,
    pub tensors: Vec<TensorSpec>,
    pub inputs: Vec<&'static str>,
    pub outputs: Vec<&'static str>,
    pub routines: Vec<RoutineSpec>,
    pub shared_gmem: u32,
    pub private_gmem: u32,
    pub extra_programs: usize,
    /// The dims of the one weight-map entry `w0` (int8, at the start of the weight region).
    pub weight_dims: Vec<i64>,
}

pub fn tensor(name: &'static str, region: i64, dtype: u8, dims: &[i64]) -> TensorSpec {
    TensorSpec {
        name,
        offset: if region < 0 { -1 } else { region << 40 },
        dtype,
        dims: dims.to_vec(),
        aligned: false,
        pixel_format: None,
        size: 0,
    }
}

/// A cmdbuf of `tiu` TIU and `tdma` TDMA records with zero bodies (the codec accepts any body).
pub fn cmdbuf(magic: u8, tiu: usize, tdma: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..tiu {
        out.extend_from_slice(&[magic, 112, 0, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&[0u8; 112]);
    }
    for _ in 0..tdma {
        out.extend_from_slice(&[magic, 64, 2, 0, 0, 0, 0, 0]);
        out.extend_from_slice(&[0u8; 64]);
    }
    out
}

/// One input in region 3, one int8 activation in region 0, one output in region 4, a WEIGHT and a
/// CMDBUF section and a TPU routine: the shape of the simplest tpu-mlir model.
pub fn simple() -> Spec {
    Spec {
        chip: "cv181x",
        version: (1, 4, 0),
        sections: vec![
            SecSpec { kind: 0, name: "weight", data: vec![7u8; 100], compress: None, place: None },
            SecSpec { kind: 1, name: "subfunc_0", data: cmdbuf(0xA7, 2, 3), compress: None, place: None },
        ],
        tensors: vec![tensor("in", 3, 0, &[1, 3, 4, 4]), tensor("act", 0, 6, &[1, 3, 4, 4]), tensor("out", 4, 0, &[1, 10, 1, 1])],
        inputs: vec!["in"],
        outputs: vec!["out"],
        routines: vec![RoutineSpec::Tpu { cmdbuf: Some("subfunc_0"), dmabuf: None, ins: vec!["in"], outs: vec!["out"] }],
        shared_gmem: 100,
        private_gmem: 0,
        extra_programs: 0,
        weight_dims: vec![1, 1, 2, 2],
    }
}

fn strs<'a>(
    b: &mut FlatBufferBuilder<'a>,
    v: &[&str],
) -> flatbuffers::WIPOffset<flatbuffers::Vector<'a, flatbuffers::ForwardsUOffset<&'a str>>> {
    let offs: Vec<_> = v.iter().map(|s| b.create_string(s)).collect();
    b.create_vector(&offs)
}

impl Spec {
    pub fn build(&self) -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        // Payload first, so that section offsets are known.
        let mut payload = Vec::new();
        let mut secs = Vec::new();
        for s in &self.sections {
            let stored = if s.compress.is_some() { lz4_flex::block::compress(&s.data) } else { s.data.clone() };
            let (offset, size) = s.place.unwrap_or((payload.len() as u32, stored.len() as u32));
            payload.extend_from_slice(&stored);
            let name = b.create_string(s.name);
            secs.push(fb::Section::create(
                &mut b,
                &fb::SectionArgs {
                    type_: fb::SectionType(s.kind),
                    name: Some(name),
                    size_: size,
                    offset,
                    encrypt: false,
                    compress: s.compress.is_some(),
                    decompressed_size: s.compress.unwrap_or(0),
                },
            ));
        }
        let sections = b.create_vector(&secs);
        let mut programs = Vec::new();
        for _ in 0..=self.extra_programs {
            let mut ts = Vec::new();
            for t in &self.tensors {
                let name = b.create_string(t.name);
                let dim = b.create_vector(&t.dims);
                let shape = fb::Shape::create(&mut b, &fb::ShapeArgs { dim: Some(dim) });
                let quant =
                    fb::QuantInfo::create(&mut b, &fb::QuantInfoArgs { qscale: 0.5, zero_point: 3.0, ..Default::default() });
                let pf = t.pixel_format.map(|p| b.create_string(p));
                ts.push(fb::Tensor::create(
                    &mut b,
                    &fb::TensorArgs {
                        name: Some(name),
                        offset: t.offset,
                        dtype: fb::DType(t.dtype),
                        shape: Some(shape),
                        quant: Some(quant),
                        aligned: t.aligned,
                        pixel_format: pf,
                        size_: t.size,
                        ..Default::default()
                    },
                ));
            }
            let tensor_map = b.create_vector(&ts);
            let mut rs = Vec::new();
            for r in &self.routines {
                let args = match r {
                    RoutineSpec::Tpu { cmdbuf, dmabuf, ins, outs } => {
                        let c = cmdbuf.map(|s| b.create_string(s));
                        let d = dmabuf.map(|s| b.create_string(s));
                        let t = fb::TpuRoutine::create(&mut b, &fb::TpuRoutineArgs { cmdbuf_section: c, dmabuf_section: d });
                        let (i, o) = (strs(&mut b, ins), strs(&mut b, outs));
                        fb::RoutineArgs {
                            type_: fb::RoutineType::TPU,
                            in_tensors: Some(i),
                            out_tensors: Some(o),
                            tpu_routine: Some(t),
                            cpu_routine: None,
                        }
                    }
                    RoutineSpec::Cpu { function, args, ins, outs } => {
                        let f = b.create_string(function);
                        let a = b.create_vector(args);
                        let c = fb::CpuRoutine::create(
                            &mut b,
                            &fb::CpuRoutineArgs { function_section: Some(f), function_args: Some(a) },
                        );
                        let (i, o) = (strs(&mut b, ins), strs(&mut b, outs));
                        fb::RoutineArgs {
                            type_: fb::RoutineType::CPU,
                            in_tensors: Some(i),
                            out_tensors: Some(o),
                            tpu_routine: None,
                            cpu_routine: Some(c),
                        }
                    }
                    RoutineSpec::Raw { kind } => fb::RoutineArgs {
                        type_: fb::RoutineType(*kind),
                        in_tensors: None,
                        out_tensors: None,
                        tpu_routine: None,
                        cpu_routine: None,
                    },
                };
                rs.push(fb::Routine::create(&mut b, &args));
            }
            let routines = b.create_vector(&rs);
            let (i, o) = (strs(&mut b, &self.inputs), strs(&mut b, &self.outputs));
            programs.push(fb::Program::create(
                &mut b,
                &fb::ProgramArgs {
                    batch_num: 1,
                    neuron_size: 0,
                    input_tensors: Some(i),
                    output_tensors: Some(o),
                    tensor_map: Some(tensor_map),
                    routines: Some(routines),
                    shared_gmem: self.shared_gmem,
                    private_gmem: self.private_gmem,
                },
            ));
        }
        let programs = b.create_vector(&programs);
        let wname = b.create_string("w0");
        let wdim = b.create_vector(&self.weight_dims);
        let wshape = fb::Shape::create(&mut b, &fb::ShapeArgs { dim: Some(wdim) });
        let w = fb::Weight::create(
            &mut b,
            &fb::WeightArgs { name: Some(wname), offset: 1 << 40, size_: 4, shape: Some(wshape), type_: fb::DType::INT8 },
        );
        let weight_map = b.create_vector(&[w]);
        let name = b.create_string("synthetic");
        let target = b.create_string(self.chip);
        let version = fb::Version::new(self.version.0, self.version.1, self.version.2);
        let root = fb::Model::create(
            &mut b,
            &fb::ModelArgs {
                version: Some(&version),
                name: Some(name),
                weight_map: Some(weight_map),
                programs: Some(programs),
                sections: Some(sections),
                target: Some(target),
                ..Default::default()
            },
        );
        b.finish(root, None);
        let body = b.finished_data();

        let mut file = Vec::new();
        file.extend_from_slice(b"CviModel");
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&[1, 4]);
        let mut rest = body.to_vec();
        rest.extend_from_slice(&payload);
        file.extend_from_slice(&Md5::digest(&rest));
        let mut chip = [0u8; 16];
        chip[..self.chip.len()].copy_from_slice(self.chip.as_bytes());
        file.extend_from_slice(&chip);
        file.extend_from_slice(b"Cv");
        file.extend_from_slice(&rest);
        file
    }
}
