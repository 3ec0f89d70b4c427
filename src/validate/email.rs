//! E-mail rule: the WHATWG HTML "valid e-mail address", with a dot
//! in the domain, a local part of at most 64 characters and 254 in all; the domain lower-cased.

use std::sync::LazyLock;

use regex::Regex;

use super::{Finding, Remedy};

static WHATWG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$",
    )
    .expect("valid regex")
});

const SHAPE: &str = "write one address, like name@example.com";

/// Returns the normalised address; `Some("")` when the cell is empty and e-mail is optional.
pub fn check(raw: &str, required: bool, findings: &mut Vec<Finding>) -> Option<String> {
    let value = raw.trim();
    if value.is_empty() {
        if required {
            findings.push(
                Finding::error("email.missing", format!("is empty: {SHAPE}")).remedy(Remedy::EmailOptional),
            );
            return None;
        }
        return Some(String::new());
    }
    if value.contains(|c: char| c.is_whitespace() || matches!(c, ',' | ';')) && value.matches('@').count() > 1
    {
        findings.push(Finding::error("email.format", format!("holds more than one address: {SHAPE}")));
        return None;
    }
    let Some((local, domain)) = value.rsplit_once('@') else {
        findings.push(Finding::error("email.format", format!("has no @: {SHAPE}")));
        return None;
    };
    let address = if domain.bytes().any(|b| b.is_ascii_uppercase()) {
        format!("{local}@{}", domain.to_ascii_lowercase())
    } else {
        value.to_owned()
    };
    if !WHATWG.is_match(&address) || !domain.contains('.') {
        findings.push(Finding::error("email.format", format!("is not a valid e-mail address: {SHAPE}")));
        return None;
    }
    if local.len() > 64 || address.len() > 254 {
        findings.push(Finding::error(
            "email.length",
            "is too long: the part before @ may have 64 characters and the whole address 254".into(),
        ));
        return None;
    }
    Some(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str) -> (Option<String>, Vec<&'static str>) {
        let mut f = Vec::new();
        let e = check(raw, true, &mut f);
        (e, f.iter().map(|f| f.code).collect())
    }

    #[test]
    fn accepts_and_lowercases_the_domain() {
        assert_eq!(run(" Ravi.Kumar@Example.CO.IN ").0.as_deref(), Some("Ravi.Kumar@example.co.in"));
        assert_eq!(run("a+b@x.in").0.as_deref(), Some("a+b@x.in"));
    }

    #[test]
    fn rejects_what_is_not_one_address() {
        assert_eq!(run("").1, vec!["email.missing"]);
        assert_eq!(run("ravi").1, vec!["email.format"]);
        assert_eq!(run("ravi@localhost").1, vec!["email.format"]);
        assert_eq!(run("ravi kumar@x.com").1, vec!["email.format"]);
        assert_eq!(run("a@x.com; b@y.com").1, vec!["email.format"]);
        assert_eq!(run("ravi@-x.com").1, vec!["email.format"]);
        assert_eq!(run("ravi@x..com").1, vec!["email.format"]);
        assert_eq!(run(&format!("{}@x.com", "a".repeat(65))).1, vec!["email.length"]);
        assert_eq!(run(&format!("a@{}com", "b.".repeat(130))).1, vec!["email.length"]);
    }

    #[test]
    fn optional_email_may_be_empty() {
        let mut f = Vec::new();
        assert_eq!(check("", false, &mut f).as_deref(), Some(""));
        assert!(f.is_empty());
    }
}
