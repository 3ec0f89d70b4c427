//! The `cibil-bulk` binary: parse the command line, run, map the outcome to an exit status.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cibil_bulk::parse_command_line();
    match cibil_bulk::run(&cli) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(error) => {
            cibil_bulk::output::print_fatal(&error);
            ExitCode::from(cibil_bulk::exit_code_of(&error).code())
        }
    }
}
