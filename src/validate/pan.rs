//! PAN rules (python-stdnum `stdnum/in_/pan.py`): ten characters —
//! five letters, four digits, a letter — where the fourth letter is the holder type and CIBIL
//! consumer registration needs an individual (`P`).

use std::fmt;

use super::Finding;

/// A well-formed individual's PAN, upper-case ASCII.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pan([u8; 10]);

impl Pan {
    pub fn as_str(&self) -> &str {
        // Only ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// A compact exact key (fits in 43 bits), for finding the same PAN again within a file.
    pub fn key(&self) -> u64 {
        let letters = |bytes: &[u8]| bytes.iter().fold(0u64, |k, b| k * 26 + u64::from(b - b'A'));
        let digits = self.0[5..9].iter().fold(0u64, |k, b| k * 10 + u64::from(b - b'0'));
        ((letters(&self.0[..5]) * 10_000 + digits) * 26) + letters(&self.0[9..])
    }

    /// The fifth character: the first letter of the holder's surname as the PAN was issued.
    pub fn surname_initial(&self) -> char {
        char::from(self.0[4])
    }
}

impl fmt::Debug for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pan({})", crate::mask::mask(self.as_str()))
    }
}

impl fmt::Display for Pan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The holder type a PAN's fourth character stands for (Income Tax Department's PAN tutorial).
fn holder_type(c: u8) -> Option<&'static str> {
    Some(match c {
        b'P' => "an individual",
        b'C' => "a company",
        b'H' => "a Hindu Undivided Family (HUF)",
        b'F' => "a firm or LLP",
        b'A' => "an association of persons (AOP)",
        b'T' => "a trust",
        b'B' => "a body of individuals (BOI)",
        b'L' => "a local authority",
        b'J' => "an artificial juridical person",
        b'G' => "a government agency",
        b'K' => "a krish (trust krish)",
        _ => return None,
    })
}

const SHAPE: &str = "a PAN is 10 characters: 5 letters, 4 digits and a letter, like ABCPK1234F";

/// What is sent: spaces and hyphens dropped, upper-cased.
pub fn normalise(raw: &str) -> String {
    raw.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_uppercase).collect()
}

/// The PAN `raw` holds, normalised, if it is one the rules accept (warnings aside).
pub fn valid(raw: &str) -> Option<String> {
    check(raw, &mut Vec::new()).map(|pan| pan.as_str().to_owned())
}

pub fn check(raw: &str, findings: &mut Vec<Finding>) -> Option<Pan> {
    // Most PANs arrive as they should be: ten upper-case letters and digits, nothing to remove.
    let bytes = raw.as_bytes();
    let value = if bytes.len() == 10 && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        raw.to_owned()
    } else {
        normalise(raw)
    };
    if value.is_empty() {
        findings
            .push(Finding::error("pan.missing", format!("is empty: every customer needs a PAN; {SHAPE}")));
        return None;
    }
    let n = value.chars().count();
    if n != 10 {
        findings.push(Finding::error(
            "pan.format",
            format!("is not a valid PAN: it has {n} characters; {SHAPE}"),
        ));
        return None;
    }
    let wrong = value
        .chars()
        .enumerate()
        .find(|(i, c)| if (5..9).contains(i) { !c.is_ascii_digit() } else { !c.is_ascii_uppercase() });
    if let Some((i, c)) = wrong {
        let want = if (5..9).contains(&i) { "a digit" } else { "a letter" };
        findings.push(Finding::error(
            "pan.format",
            format!("is not a valid PAN: character {} ('{c}') should be {want}; {SHAPE}", i + 1),
        ));
        return None;
    }
    let bytes = value.as_bytes();
    let mut ok = true;
    if &bytes[5..9] == b"0000" {
        findings.push(Finding::error(
            "pan.serial",
            "is not a valid PAN: its serial number (characters 6 to 9) is 0000, which is never issued".into(),
        ));
        ok = false;
    }
    match holder_type(bytes[3]) {
        Some(_) if bytes[3] == b'P' => {}
        Some(kind) => {
            findings.push(Finding::error(
                "pan.holder_type",
                format!(
                    "is the PAN of {kind} (4th character '{}'), not of a person: CIBIL consumer \
                     registration is for individuals, whose PAN has P as its 4th character",
                    char::from(bytes[3])
                ),
            ));
            ok = false;
        }
        None => {
            findings.push(Finding::error(
                "pan.holder_type",
                format!(
                    "is not a valid PAN: its 4th character '{}' is not a PAN holder type; an \
                     individual's PAN has P there, like ABCPK1234F",
                    char::from(bytes[3])
                ),
            ));
            ok = false;
        }
    }
    ok.then(|| Pan(bytes.try_into().unwrap_or([b'A'; 10])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(raw: &str) -> (Option<String>, Vec<&'static str>) {
        let mut f = Vec::new();
        let pan = check(raw, &mut f).map(|p| p.to_string());
        (pan, f.iter().map(|f| f.code).collect())
    }

    #[test]
    fn accepts_and_normalises_individual_pans() {
        assert_eq!(codes("ABCPK1234F"), (Some("ABCPK1234F".into()), vec![]));
        assert_eq!(codes(" abcpk 1234-f "), (Some("ABCPK1234F".into()), vec![]));
    }

    #[test]
    fn the_vendors_example_is_rejected() {
        assert_eq!(codes("FRS23456"), (None, vec!["pan.format"]));
    }

    #[test]
    fn company_pan_is_rejected_naming_the_type() {
        let mut f = Vec::new();
        assert!(check("AAACR1234F", &mut f).is_none());
        assert_eq!(f[0].code, "pan.holder_type");
        assert!(f[0].detail.contains("a company"), "{}", f[0].detail);
    }

    #[test]
    fn every_rule_has_its_code() {
        assert_eq!(codes(""), (None, vec!["pan.missing"]));
        assert_eq!(codes("ABCPK12345"), (None, vec!["pan.format"]));
        assert_eq!(codes("ABCPK123F4"), (None, vec!["pan.format"]));
        assert_eq!(codes("ABCPK0000F"), (None, vec!["pan.serial"]));
        assert_eq!(codes("ABCXK1234F"), (None, vec!["pan.holder_type"]));
        assert_eq!(codes("ABCCK0000F"), (None, vec!["pan.serial", "pan.holder_type"]));
        assert_eq!(codes("ABCPK1234FF"), (None, vec!["pan.format"]));
        assert_eq!(codes("ÄBCPK1234F"), (None, vec!["pan.format"]));
    }

    #[test]
    fn keys_are_exact_and_distinct() {
        let mut f = Vec::new();
        let a = check("ABCPK1234F", &mut f).unwrap();
        let b = check("ABCPK1234G", &mut f).unwrap();
        let z = check("ZZZPZ9999Z", &mut f).unwrap();
        assert_ne!(a.key(), b.key());
        assert!(z.key() < 1 << 43);
        assert_eq!(a.surname_initial(), 'K');
    }
}
