//! The `cvsim` command line: subcommands over the isa, sim and runtime crates. Each subcommand's
//! work lives in `commands::*` as functions that return their output, so tests can call them.

pub mod cli;
pub mod commands;
pub mod debugger;
pub mod npz;
pub mod similarity;
