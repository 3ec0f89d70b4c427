//! Where each value on the command line came from: typed as a flag, or read by clap from its
//! environment variable. A value clap filled in from its default was not given, and must not hide
//! the config file's.

use std::collections::HashMap;

use clap::ArgMatches;
use clap::parser::ValueSource;

/// How a value reached the command line: typed as a flag, or read from its environment variable.
/// A value clap filled in from a default is not given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Given {
    /// The flag as the user types it: `--rate`.
    Flag(String),
    /// The environment variable's name: `CIBIL_BULK_RATE`.
    Env(String),
}

/// The arguments that were given (by their clap id, which is the field's name), and how.
#[derive(Debug, Clone, Default)]
pub struct Sources(HashMap<String, Given>);

impl Sources {
    /// How the argument `id` was given; `None` when it was not (clap may still hold its default).
    pub fn given(&self, id: &str) -> Option<&Given> {
        self.0.get(id)
    }

    /// The sources of every argument of `matches`, the subcommand's included.
    pub(super) fn of(command: &clap::Command, matches: &ArgMatches) -> Sources {
        let mut given = HashMap::new();
        let (mut command, mut matches) = (command, matches);
        loop {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                let how = match matches.value_source(id) {
                    Some(ValueSource::CommandLine) => Given::Flag(match arg.get_long() {
                        Some(long) => format!("--{long}"),
                        None => id.to_uppercase(),
                    }),
                    Some(ValueSource::EnvVariable) => Given::Env(
                        arg.get_env().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default(),
                    ),
                    _ => continue,
                };
                given.insert(id.to_owned(), how);
            }
            let Some((name, sub_matches)) = matches.subcommand() else { break };
            let Some(sub_command) = command.find_subcommand(name) else { break };
            (command, matches) = (sub_command, sub_matches);
        }
        Sources(given)
    }
}
