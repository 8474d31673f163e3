//! CPU routines run through a session: a model of CPU routines alone, written by the project's
//! writer, gives the bytes the functions' own arithmetic gives; a function the runtime does not
//! implement is a typed error naming the routine and the function.

use cvsim_isa::{Chip, Region};
use cvsim_runtime::cpu::interp::{bilinear, InterpParams};
use cvsim_runtime::session::{Instance, LoadedModel, RuntimeError};
use cvsim_runtime::writer::{ModelSpec, ProgramSpec, RoutineSpec, TaggedAddr, TensorSpec};
use cvsim_runtime::{AttrValue, CpuAttr, DType, Model};

fn attr(key: &str, value: AttrValue) -> CpuAttr {
    CpuAttr { key: key.into(), value }
}

/// One program: fp32 input `in` [1, 2, 2, 3] in region 3, the output `out`, any other tensors,
/// and the given routines.
fn model(out: TensorSpec, others: Vec<TensorSpec>, routines: Vec<RoutineSpec>) -> Model {
    let mut spec = ModelSpec::new(Chip::Cv181x, "cpu_only");
    let input = TensorSpec::new("in", TaggedAddr::at(region(3), 0), DType::F32, &[1, 2, 2, 3]);
    spec.programs = vec![ProgramSpec {
        batch_num: 1,
        neuron_size: 0,
        input_tensors: vec!["in".into()],
        output_tensors: vec![out.name.clone()],
        tensor_map: [vec![input], others, vec![out]].concat(),
        routines,
        shared_gmem: 0,
        private_gmem: 0,
    }];
    let bytes = spec.to_bytes().unwrap_or_else(|e| panic!("write failed: {e}"));
    Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("written model does not load: {e}"))
}

fn input_values() -> Vec<f32> {
    (0..12).map(|i| i as f32 * 0.75 - 3.0).collect()
}

fn run(m: Model) -> Result<Instance, RuntimeError> {
    let mut inst = Instance::new(LoadedModel::new(m)?, 0)?;
    let bytes: Vec<u8> = input_values().iter().flat_map(|v| v.to_le_bytes()).collect();
    inst.set_input("in", &bytes)?;
    inst.forward()?;
    Ok(inst)
}

#[test]
fn interp_bilinear_gives_the_functions_bytes() {
    let args = vec![
        attr("height", AttrValue::Int(4)),
        attr("width", AttrValue::Int(5)),
        attr("coordinate_transformation_mode", AttrValue::Str("half_pixel".into())),
    ];
    let out = TensorSpec::new("out", TaggedAddr::at(region(4), 0), DType::F32, &[1, 2, 4, 5]);
    let inst = run(model(out, vec![], vec![RoutineSpec::cpu("interp", args, &["in"], &["out"])])).expect("runs");

    let p = InterpParams { height: 4, width: 5, mode: "half_pixel".into(), ..Default::default() };
    let mut want = vec![0f32; 2 * 4 * 5];
    bilinear(&p, &input_values(), &mut want, 2, (2, 3), (4, 5));
    let want: Vec<u8> = want.iter().flat_map(|v| v.to_le_bytes()).collect();
    assert_eq!(inst.tensor_bytes("out").unwrap(), want);
}

#[test]
fn quant_to_int8_through_a_host_tensor() {
    let q = TensorSpec::new("q", TaggedAddr::None, DType::I8, &[1, 2, 2, 3]);
    let out = TensorSpec::new("out", TaggedAddr::at(region(4), 0), DType::F32, &[1, 2, 2, 3]);
    let to_i8 = vec![
        attr("from", AttrValue::Str("FP32".into())),
        attr("to", AttrValue::Str("INT8".into())),
        attr("threshold", AttrValue::Float(4.0)),
    ];
    let back = vec![
        attr("from", AttrValue::Str("INT8".into())),
        attr("to", AttrValue::Str("NONE".into())),
        attr("threshold", AttrValue::Float(4.0)),
    ];
    let routines = vec![RoutineSpec::cpu("quant", to_i8, &["in"], &["q"]), RoutineSpec::cpu("quant", back, &["q"], &["out"])];
    let inst = run(model(out, vec![q], routines)).expect("runs");

    // Through int8 at 128/4 per unit and back at 4/128: the input's quarter steps survive.
    let want: Vec<u8> = input_values()
        .iter()
        .map(|&x| ((x * 32.0).round().clamp(-128.0, 127.0) as i8) as f32 / 32.0)
        .flat_map(|v| v.to_le_bytes())
        .collect();
    assert_eq!(inst.tensor_bytes("out").unwrap(), want);
}

#[test]
fn an_unknown_function_names_routine_and_function() {
    let out = TensorSpec::new("out", TaggedAddr::at(region(4), 0), DType::F32, &[1, 2, 2, 3]);
    let m = model(out, vec![], vec![RoutineSpec::cpu("no_such_op", vec![], &["in"], &["out"])]);
    let err = run(m).err().expect("an unknown function fails");
    assert!(matches!(&err, RuntimeError::UnknownCpuFunction { routine: 0, function } if function == "no_such_op"), "{err:?}");
    assert_eq!(err.to_string(), "routine 0 (CPU `no_such_op`): CPU function `no_such_op` is not implemented");
}

fn region(n: u8) -> Region {
    Region::new(n).expect("one of the eight regions")
}
