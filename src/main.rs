use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cvsim::cli::Cli::parse();
    match cvsim::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cvsim: {e}");
            ExitCode::from(1)
        }
    }
}
