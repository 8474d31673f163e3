//! ONNX to .cvimodel compiler. Stages, each a module: `ir` (the graph every stage reads and
//! rewrites) and [`example`], the bundled example network whose descriptors, weight layout and
//! model file the code generator emits itself.

pub mod bf16;
pub mod calibration;
pub mod codegen;
pub mod driver;
pub mod example;
pub mod int8;
pub mod ir;
pub mod lower;
pub mod onnx;
pub mod package;
pub mod passes;
pub mod quantize;
pub mod reference;
