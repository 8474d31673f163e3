use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns `cvsim disasm MODEL | head` into a panic inside `print!`
    // once the reader goes away; restore the default so the process ends quietly like other tools.
    #[cfg(unix)]
    // SAFETY: called once at start-up, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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
