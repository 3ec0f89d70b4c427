//! The integration tests: the real binary, the sandbox and the server, each started by the test on
//! 127.0.0.1 (port 0), checked from both sides. One test binary, so the shared harness (`common`)
//! and the crate are linked once, not once per file.

mod common;

mod audit;
mod chaos;
mod exactly_once;
mod exit_files;
mod gate;
mod hostile_input;
mod hostile_network;
mod install;
mod lock;
mod quota;
mod run;
mod sandbox;
mod serve;
mod serve_browser;
mod serve_clerk;
mod serve_process;
mod serve_security;
mod state_faults;
mod tidy;
mod validate;
mod workbook;
mod workbook_bombs;
