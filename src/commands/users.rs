//! `cibil-bulk users` and `cibil-bulk tokens`: who may use `cibil-bulk serve`. People log in to
//! the pages with a password (asked without echo on a terminal, or read from standard input for
//! scripts); machines call the API with a token printed once. Both are kept in the state database
//! the server uses, so a running server sees a change at once; neither needs the run lock.

use std::io::{BufRead as _, IsTerminal as _};

use anyhow::{Context as _, bail};

use crate::gate::Gate;
use crate::job::Exit;
use crate::output::{Printer, access, tokens_text, users_text};
use crate::server::auth;
use crate::settings::{TokenAction, TokensSettings, UserAction, UsersSettings};
use crate::store::Store;

pub fn users(settings: &UsersSettings, printer: &Printer) -> anyhow::Result<Exit> {
    Gate::new().keep_config(Some(&settings.config)).keep_state(&settings.state).check()?;
    match &settings.action {
        UserAction::Add { name, password_stdin } => {
            let password =
                if *password_stdin { password_from_stdin()? } else { password_from_terminal(name)? };
            let hash = auth::hash_password(&password)?;
            let store = Store::open(&settings.state)?;
            if !store.add_user(name, &hash)? {
                bail!(
                    "{name} can already log in (state {}). To give them a new password, \
                     `cibil-bulk users remove {name}` and add them again",
                    settings.state.display()
                );
            }
            printer.note(access::user_added(name, &settings.state));
        }
        UserAction::List => {
            let Some(store) = super::existing_to_read(&settings.state, printer)? else {
                printer.report(&users_text(&[]));
                return Ok(Exit::Success);
            };
            printer.report(&users_text(&store.users()?));
        }
        UserAction::Remove { name } => {
            let removed =
                super::existing(&settings.state)?.map(|s| s.remove_user(name)).transpose()?.unwrap_or(false);
            if !removed {
                bail!(
                    "nobody called {name} can log in (state {}): see `cibil-bulk users list`",
                    settings.state.display()
                );
            }
            printer.note(access::user_removed(name));
        }
    }
    Ok(Exit::Success)
}

pub fn tokens(settings: &TokensSettings, printer: &Printer) -> anyhow::Result<Exit> {
    Gate::new().keep_config(Some(&settings.config)).keep_state(&settings.state).check()?;
    match &settings.action {
        TokenAction::Add { name } => {
            let token = auth::new_token();
            let store = Store::open(&settings.state)?;
            if !store.add_token(name, &auth::secret_hash(&token))? {
                bail!(
                    "a live token is already called {name}: revoke it first (`cibil-bulk tokens revoke {name}`), \
                     or choose another name"
                );
            }
            printer.note(access::token_added(name, &settings.state));
            printer.secret(&token);
        }
        TokenAction::List => {
            let Some(store) = super::existing_to_read(&settings.state, printer)? else {
                printer.report(&tokens_text(&[]));
                return Ok(Exit::Success);
            };
            printer.report(&tokens_text(&store.tokens()?));
        }
        TokenAction::Revoke { name } => {
            let revoked =
                super::existing(&settings.state)?.map(|s| s.revoke_token(name)).transpose()?.unwrap_or(false);
            if !revoked {
                bail!(
                    "no live token is called {name} (state {}): see `cibil-bulk tokens list`",
                    settings.state.display()
                );
            }
            printer.note(access::token_revoked(name));
        }
    }
    Ok(Exit::Success)
}

/// The first line of standard input, without its line end.
fn password_from_stdin() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
    let password = line.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        bail!("--password-stdin: standard input held no password (its first line is the password)");
    }
    Ok(password)
}

/// Asks twice, without echo, on the terminal.
fn password_from_terminal(name: &str) -> anyhow::Result<String> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask the password on: pass it on standard input with --password-stdin");
    }
    let password =
        rpassword::prompt_password(format!("Password for {name}: ")).context("cannot read the password")?;
    auth::check_password(&password)?;
    let again =
        rpassword::prompt_password("The same password again: ").context("cannot read the password")?;
    if again != password {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(password)
}
