//! What installing the tool takes from it: `cibil-bulk completions SHELL` (the shell's completion
//! script) and `cibil-bulk man` (the manual page). Both are generated from the clap definitions
//! in `cli`, the very ones that parse the command line, so they can never drift from the flags.
//! The Debian package's build makes its copies with these same functions
//! (`examples/debian/assets/build.rs`), and `.ci/run` checks that they are what the packaged
//! binary prints.

use anyhow::Context as _;
use clap_complete::Shell;
use clap_mangen::Man;

use super::Exit;
use crate::output::Printer;

/// The program's name, as the shell completes it and the manual is found by.
const NAME: &str = "cibil-bulk";

pub fn completions(shell: Shell, printer: &Printer) -> anyhow::Result<Exit> {
    printer.report(&completion_script(shell)?);
    Ok(Exit::Success)
}

/// The completion script for `shell`, as `cibil-bulk completions SHELL` prints it.
pub fn completion_script(shell: Shell) -> anyhow::Result<String> {
    let mut command = crate::cli::definition();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, NAME, &mut script);
    String::from_utf8(script).context("the completion script is not UTF-8")
}

pub fn man(printer: &Printer) -> anyhow::Result<Exit> {
    printer.report(&man_page().context("cannot render the manual page")?);
    Ok(Exit::Success)
}

/// The manual page, as `cibil-bulk man` prints it.
///
/// One page for the whole tool, as `man cibil-bulk` shows it: the title, synopsis, description,
/// global options and the list of commands, then a section for every command (and each of its
/// own, like `users add`) with its synopsis, description, options and examples. One page rather
/// than a page per command, so that a search (`/--rate`) finds a flag wherever it is.
pub fn man_page() -> std::io::Result<String> {
    let top = crate::cli::definition();
    let man = Man::new(top.clone()).title(NAME.to_uppercase());
    let mut title = Vec::new();
    man.render_title(&mut title)?;
    let mut body = Vec::new();
    man.render_name_section(&mut body)?;
    man.render_synopsis_section(&mut body)?;
    man.render_description_section(&mut body)?;
    man.render_options_section(&mut body)?;
    commands_list(&top, NAME, "SH", &mut body)?;
    man.render_extra_section(&mut body)?;
    for command in top.get_subcommands() {
        command_sections(command, NAME, &mut body)?;
    }
    man.render_version_section(&mut body)?;

    let body = String::from_utf8_lossy(&body).replace("\n.SH EXTRA\n", "\n.SH EXAMPLES\n");
    // Every rendering starts with the lines that define the apostrophe string (`\*(Aq`); the
    // page has them once, after the title: a page starts with `.TH`, which tools check.
    let title = String::from_utf8_lossy(&title);
    let is_preamble = |line: &str| line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq");
    let (preamble, title): (Vec<&str>, Vec<&str>) = title.lines().partition(|l| is_preamble(l));
    let mut page = String::new();
    for line in title.iter().chain(&preamble).copied().chain(body.lines().filter(|l| !is_preamble(l))) {
        // Characters beyond ASCII (the help's dashes) as roff's own escapes, which every man
        // reader understands, whatever encoding it expects its input in.
        for c in line.chars() {
            if c.is_ascii() {
                page.push(c);
            } else {
                page.push_str(&format!("\\[u{:04X}]", u32::from(c)));
            }
        }
        page.push('\n');
    }
    Ok(page)
}

/// A command's part of the page, headed by its full name (`CIBIL-BULK USERS ADD`), with its own
/// sections one level down; then its own commands'. Rendered from the command as defined, before
/// clap spreads the global options into it: those are listed once, at the top.
fn command_sections(command: &clap::Command, parent: &str, page: &mut Vec<u8>) -> std::io::Result<()> {
    if command.is_hide_set() {
        return Ok(());
    }
    let name = format!("{parent} {}", command.get_name());
    let man = Man::new(command.clone().bin_name(&name));
    let mut sections = Vec::new();
    man.render_synopsis_section(&mut sections)?;
    man.render_description_section(&mut sections)?;
    man.render_options_section(&mut sections)?;
    if command.get_subcommands().next().is_some() {
        commands_list(command, &name, "SH", &mut sections)?;
    }
    if command.get_after_help().is_some() || command.get_after_long_help().is_some() {
        man.render_extra_section(&mut sections)?;
    }
    page.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
    for line in String::from_utf8_lossy(&sections).lines() {
        // The command's sections become subsections of its own.
        match line.strip_prefix(".SH ") {
            Some("EXTRA") => page.extend_from_slice(b".SS EXAMPLES\n"),
            Some(heading) => page.extend_from_slice(format!(".SS {heading}\n").as_bytes()),
            None => {
                page.extend_from_slice(line.as_bytes());
                page.push(b'\n');
            }
        }
    }
    for sub in command.get_subcommands() {
        command_sections(sub, &name, page)?;
    }
    Ok(())
}

/// The commands of `command` (named `name`), each with what it does, under a heading made with
/// `heading` (`SH`): clap_mangen's own list names a page per command, and this page has them all.
fn commands_list(
    command: &clap::Command,
    name: &str,
    heading: &str,
    out: &mut Vec<u8>,
) -> std::io::Result<()> {
    use clap_mangen::roff::{Roff, bold, roman};
    let mut roff = Roff::new();
    roff.control(heading, ["COMMANDS"]);
    for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
        roff.control("TP", []);
        roff.text([bold(format!("{name} {}", sub.get_name()))]);
        roff.text([roman(sub.get_about().map(ToString::to_string).unwrap_or_default())]);
    }
    roff.to_writer(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_has_every_command_and_flag() {
        let page = man_page().unwrap();
        assert!(page.starts_with(".TH"), "{}", &page[..page.len().min(200)]);
        assert!(page.is_ascii() && page.contains("\\[u2014]"), "dashes are escaped");
        for heading in [".SH \"CIBIL-BULK RUN\"", ".SH \"CIBIL-BULK USERS ADD\"", ".SH \"CIBIL-BULK MAN\""] {
            assert!(page.contains(heading), "{heading}");
        }
        // Flags of a command, with their environment variables; global options once, at the top.
        for flag in ["metrics\\-file", "CIBIL_BULK_METRICS_FILE", "max\\-retry\\-after", "password\\-stdin"] {
            assert!(page.contains(flag), "{flag}");
        }
        assert_eq!(page.matches("CIBIL_BULK_LOG_FORMAT").count(), 1, "global options are listed once");
        // Hidden arguments stay hidden.
        assert!(!page.contains("registration\\-id"));
        assert!(page.contains(crate::cli::VERSION));
    }
}
