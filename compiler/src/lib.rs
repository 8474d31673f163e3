//! ONNX to .cvimodel compiler. Empty until its milestone: nothing here is faked.
