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
use crate::store::{PeopleChange, Store};

pub fn users(settings: &UsersSettings, printer: &Printer) -> anyhow::Result<Exit> {
    Gate::new().keep_config(Some(&settings.config)).keep_state(&settings.state).check()?;
    match &settings.action {
        UserAction::Add { name, password_stdin, role } => {
            let password =
                if *password_stdin { password_from_stdin()? } else { password_from_terminal(name)? };
            let hash = auth::hash_password(&password)?;
            let store = Store::open(&settings.state)?;
            if !store.add_user(name, &hash, *role)? {
                bail!(
                    "{name} can already log in (state {}). To give them a new password, \
                     `cibil-bulk users remove {name}` and add them again",
                    settings.state.display()
                );
            }
            store.audit(COMMAND_LINE, "user-added", None, &format!("{name} ({})", role.as_str()))?;
            printer.note(access::user_added(name, *role, &settings.state));
        }
        UserAction::Role { name, role } => {
            let store = super::existing(&settings.state)?
                .with_context(|| access::no_such_user(name, &settings.state))?;
            match store.set_role(name, *role)? {
                PeopleChange::Done => {}
                PeopleChange::NoSuchPerson => bail!(access::no_such_user(name, &settings.state)),
                PeopleChange::LastAdmin => bail!(access::last_admin(name)),
            }
            store.audit(COMMAND_LINE, "role-changed", None, &format!("{name} ({})", role.as_str()))?;
            printer.note(access::role_set(name, *role));
        }
        UserAction::List => {
            let Some(store) = super::existing_to_read(&settings.state, printer)? else {
                printer.report(&users_text(&[]));
                return Ok(Exit::Success);
            };
            printer.report(&users_text(&store.users()?));
        }
        UserAction::Remove { name } => {
            let store = super::existing(&settings.state)?
                .with_context(|| access::no_such_user(name, &settings.state))?;
            match store.remove_user(name)? {
                PeopleChange::Done => {}
                PeopleChange::NoSuchPerson => bail!(access::no_such_user(name, &settings.state)),
                PeopleChange::LastAdmin => bail!(access::last_admin(name)),
            }
            store.audit(COMMAND_LINE, "user-removed", None, name)?;
            printer.note(access::user_removed(name));
        }
    }
    Ok(Exit::Success)
}

pub fn tokens(settings: &TokensSettings, printer: &Printer) -> anyhow::Result<Exit> {
    Gate::new().keep_config(Some(&settings.config)).keep_state(&settings.state).check()?;
    match &settings.action {
        TokenAction::Add { name, scopes } => {
            let token = auth::new_token();
            let store = Store::open(&settings.state)?;
            if !store.add_token(name, &auth::secret_hash(&token), scopes)? {
                bail!(
                    "a live token is already called {name}: revoke it first (`cibil-bulk tokens revoke {name}`), \
                     or choose another name"
                );
            }
            let scopes_said = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
            store.audit(COMMAND_LINE, "token-added", None, &format!("{name} ({scopes_said})"))?;
            printer.note(access::token_added(name, scopes, &settings.state));
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
            let store = super::existing(&settings.state)?;
            let revoked = store.as_ref().map(|s| s.revoke_token(name)).transpose()?.unwrap_or(false);
            if let (true, Some(store)) = (revoked, &store) {
                store.audit(COMMAND_LINE, "token-revoked", None, name)?;
            }
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

/// Who the audit log says acted, for a change made on the command line.
const COMMAND_LINE: &str = "the command line";

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
