//! Name rules (CIBIL TUEF PN segment):
//! plain Latin letters, space, `.`, `'` and `-`, at most 26 characters, because the bureau's name
//! fields are 26 bytes and a truncated name matches nobody.

use super::Finding;

/// CIBIL's name field width.
pub const MAX_LEN: usize = 26;

fn allowed(c: char) -> bool {
    c.is_ascii_alphabetic() || matches!(c, ' ' | '.' | '\'' | '-')
}

/// Trimmed, inner whitespace collapsed, curly apostrophes made straight.
pub fn normalise(raw: &str) -> String {
    let trimmed = raw.trim();
    let tidy = trimmed.is_ascii() && !trimmed.contains(['`', '\t', '\n', '\r']) && !trimmed.contains("  ");
    if tidy {
        return trimmed.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    for word in raw.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' | '`' | '\u{00B4}' => '\'',
            other => other,
        }));
    }
    out
}

/// Checks one name field; `required` for first and last name. Returns the normalised name
/// (empty for an absent optional one).
pub fn check(raw: &str, required: bool, findings: &mut Vec<Finding>) -> Option<String> {
    let name = normalise(raw);
    if name.is_empty() {
        if required {
            findings.push(Finding::error("name.missing", "is empty: this name is required".into()));
            return None;
        }
        return Some(name);
    }
    let mut bad: Vec<char> = Vec::new();
    for c in name.chars().filter(|c| !allowed(*c)) {
        if !bad.contains(&c) && bad.len() < 3 {
            bad.push(c);
        }
    }
    let mut ok = true;
    if !bad.is_empty() {
        let listed = bad.iter().map(|c| describe(*c)).collect::<Vec<_>>().join(", ");
        let plain = deunicode::deunicode(&name);
        let suggestion =
            (plain != name && plain.chars().all(allowed) && plain.chars().any(|c| c.is_ascii_alphabetic()))
                .then_some(plain);
        findings.push(
            Finding::error(
                "name.characters",
                format!(
                    "contains {listed}, which CIBIL does not accept in names: use the letters A-Z, \
                     spaces, and . ' -"
                ),
            )
            .suggest(suggestion),
        );
        ok = false;
    } else if !name.chars().any(|c| c.is_ascii_alphabetic()) {
        findings.push(Finding::error("name.letters", "has no letters: write the name as on the PAN".into()));
        ok = false;
    }
    let len = name.chars().count();
    if len > MAX_LEN {
        findings.push(Finding::error(
            "name.length",
            format!(
                "has {len} characters; CIBIL keeps at most {MAX_LEN} and a shortened name may not \
                 match the bureau's record: abbreviate (e.g. initials for middle names)"
            ),
        ));
        ok = false;
    }
    ok.then_some(name)
}

fn describe(c: char) -> String {
    if c.is_ascii_digit() {
        format!("the digit '{c}'")
    } else if c.is_control() {
        format!("an invisible control character (U+{:04X})", u32::from(c))
    } else if c.is_ascii() {
        format!("'{c}'")
    } else {
        format!("'{c}' (U+{:04X})", u32::from(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str, required: bool) -> (Option<String>, Vec<&'static str>) {
        let mut f = Vec::new();
        let n = check(raw, required, &mut f);
        (n, f.iter().map(|f| f.code).collect())
    }

    #[test]
    fn normalises_spacing_and_apostrophes() {
        assert_eq!(run("  Ravi   Kumar ", true).0.as_deref(), Some("Ravi Kumar"));
        assert_eq!(run("D\u{2019}Souza", true).0.as_deref(), Some("D'Souza"));
        assert_eq!(run("A. P. J.", true).0.as_deref(), Some("A. P. J."));
        assert_eq!(run("Sen-Gupta", true).0.as_deref(), Some("Sen-Gupta"));
    }

    #[test]
    fn optional_middle_name_may_be_empty() {
        assert_eq!(run("", false), (Some(String::new()), vec![]));
        assert_eq!(run("", true), (None, vec!["name.missing"]));
    }

    #[test]
    fn rejects_characters_naming_them_and_suggests_plain_letters() {
        let mut f = Vec::new();
        assert_eq!(check("René", true, &mut f), None);
        assert_eq!(f[0].code, "name.characters");
        assert!(f[0].detail.contains("'é' (U+00E9)"), "{}", f[0].detail);
        assert_eq!(f[0].suggestion.as_deref(), Some("Rene"));
        assert_eq!(run("Ravi2", true).1, vec!["name.characters"]);
        assert_eq!(run("रवि", true).1, vec!["name.characters"]);
        assert_eq!(run("Ravi@Kumar", true).1, vec!["name.characters"]);
    }

    #[test]
    fn punctuation_alone_is_not_a_name() {
        assert_eq!(run(".", true).1, vec!["name.letters"]);
        assert_eq!(run("-", false).1, vec!["name.letters"]);
    }

    #[test]
    fn twenty_six_characters_at_most() {
        assert!(run(&"A".repeat(26), true).0.is_some());
        assert_eq!(run(&"A".repeat(27), true).1, vec!["name.length"]);
    }
}
