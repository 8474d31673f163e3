//! ONNX to .cvimodel compiler. So far it holds the start of its code generator: [`example`], a
//! small network whose descriptors, weight layout and model file it emits itself.

pub mod example;
