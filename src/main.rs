use clap::Parser;
use std::process::ExitCode;

/// The only C math functions the binary calls (`log10` in `compare`, `pow` in indicatif's rate
/// estimate, `log2` in num-bigint's parser; `exp`, `tanh` and their f32 forms, `powf` and `sinf`
/// in the compiler's fp32 reference, tables and example inputs), defined here from the `libm` crate so that the linker
/// (`--as-needed`) leaves out the C math library: loading it resolves all of its CPU-dispatched
/// entry points and keeps about 0.5 MB of it resident in every `cvsim` process, a tenth of what
/// `cvsim run` may use on a small model.
#[cfg(all(unix, not(test)))]
mod math {
    #[no_mangle]
    extern "C" fn log10(x: f64) -> f64 {
        libm::log10(x)
    }
    #[no_mangle]
    extern "C" fn log2(x: f64) -> f64 {
        libm::log2(x)
    }
    #[no_mangle]
    extern "C" fn pow(x: f64, y: f64) -> f64 {
        libm::pow(x, y)
    }
    #[no_mangle]
    extern "C" fn exp(x: f64) -> f64 {
        libm::exp(x)
    }
    #[no_mangle]
    extern "C" fn expf(x: f32) -> f32 {
        libm::expf(x)
    }
    #[no_mangle]
    extern "C" fn powf(x: f32, y: f32) -> f32 {
        libm::powf(x, y)
    }
    #[no_mangle]
    extern "C" fn sinf(x: f32) -> f32 {
        libm::sinf(x)
    }
    #[no_mangle]
    extern "C" fn tanh(x: f64) -> f64 {
        libm::tanh(x)
    }
    #[no_mangle]
    extern "C" fn tanhf(x: f32) -> f32 {
        libm::tanhf(x)
    }
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns `cvsim disasm MODEL | head` into a panic inside `print!`
    // once the reader goes away; restore the default so the process ends quietly like other tools.
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Threads that split a descriptor allocate little and briefly; glibc would give each its own
    // arena, whose pages stay resident and add to the peak memory. One arena for all.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called once at start-up, before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let cli = cvsim::cli::Cli::parse();
    match cvsim::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cvsim: {e}");
            ExitCode::from(1)
        }
    }
}
