//! The `cvsim` binary does not load the C math library (src/main.rs defines the three functions
//! its dependencies call): loading it costs every process about 0.5 MB of resident memory.

use std::process::Command;

#[test]
#[cfg_attr(no_readelf, ignore = "needs `readelf`")]
fn the_binary_does_not_need_libm() {
    let exe = env!("CARGO_BIN_EXE_cvsim");
    let out = Command::new("readelf").args(["-d", exe]).output().expect("readelf runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(NEEDED)"), "readelf -d {exe} listed no shared libraries:\n{text}");
    assert!(!text.contains("libm.so"), "cvsim links the C math library again:\n{text}");
}
