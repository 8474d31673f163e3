//! The info report of a small corpus model, as a reviewed snapshot.

mod common;

use cvsim_runtime::info::{info_json, render_info};
use cvsim_runtime::Model;

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn info_report_of_small_model() {
    // A CPU `quant` routine followed by a TPU routine, fp32 in and out.
    let path = common::corpus_case("ops/cv181x_int8/TorchHardSwish_0");
    let m = Model::from_file(path).unwrap();
    insta::assert_snapshot!(render_info(&m));
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn info_report_of_aligned_nv12_input() {
    let path = common::corpus_case("features/pp_yuv_nv12_cv183x");
    let m = Model::from_file(path).unwrap();
    insta::assert_snapshot!(render_info(&m));
    let j = info_json(&m);
    let input = &j["programs"][0]["inputs"][0];
    assert_eq!(input["pixel_format"], "YUV_NV12");
    assert_eq!(input["cvi_pixel_format"], 11);
    assert_eq!(input["mem_size"], 8192);
    assert_eq!(j["programs"][0]["memory"]["io"][0]["rule"], "model_size");
}
