//! Masking of personal data for everything shown on a terminal or written to a log: PANs, mobile
//! numbers, e-mail addresses, names and dates of birth never appear there in full. Files the user
//! asked for (results, errors) carry the real values: the clerk needs them to fix a row.

use std::borrow::Cow;

/// Keeps the first two and last two characters of values long enough to stay unguessable, and
/// stars the rest (`ABCPK1234F` → `AB******4F`, `9876543210` → `98******10`). Short values keep
/// only their first character.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let (head, tail) = match n {
        0 => return String::new(),
        1..=3 => (0, 0),
        4..=7 => (1, 0),
        _ => (2, 2),
    };
    let mut out = String::with_capacity(n + 2);
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', n.min(32) - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

/// What looks like a customer's identifier wherever it is written — a PAN (in any case, spaced or
/// dashed), six digits or more (a mobile number, a date of birth), spaced, dashed, dotted or
/// slashed, or an e-mail address. The one definition: [`mask_if_identifier`] and
/// [`mask_identifiers_in`] both ask it, so a form one of them masks the other masks too.
static IDENTIFIERS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?x)
          [^\s/\\,;()\[\]]*@[^\s/\\,;()\[\]]*     # an e-mail address (or what is left of one)
        | (?i:[a-z]{5}[\s._-]?[0-9]{4}[\s._-]?[a-z])   # a PAN, whatever is written against it
        | [0-9](?:[\s./+-]?[0-9]){5,}                  # six digits or more
        ",
    )
    .expect("the identifiers' pattern")
});

/// Whether `value` holds anything that looks like a customer's identifier (see [`IDENTIFIERS`]).
pub fn contains_identifier(value: &str) -> bool {
    IDENTIFIERS.is_match(value)
}

/// Masks `value` whole when it holds anything that looks like a customer's identifier, and leaves
/// other text as it is. For cells shown because they should be column headers: when a file was
/// exported without its header line, its "headers" are the first customer's details.
pub fn mask_if_identifier(value: &str) -> Cow<'_, str> {
    if contains_identifier(value) { Cow::Owned(mask(value)) } else { Cow::Borrowed(value) }
}

/// `text` (a file's name, a path) with everything in it that looks like a customer's identifier
/// masked, the rest as it was.
pub fn mask_identifiers_in(text: &str) -> String {
    IDENTIFIERS.replace_all(text, |found: &regex::Captures<'_>| mask(&found[0])).into_owned()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{contains_identifier, mask, mask_identifiers_in, mask_if_identifier};

    #[test]
    fn masks_the_middle_of_identifiers() {
        assert_eq!(mask("ABCPK1234F"), "AB******4F");
        assert_eq!(mask("9876543210"), "98******10");
        assert_eq!(mask("Ravi"), "R***");
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask(""), "");
        assert_eq!(mask("ravi.kumar@example.com").len(), 22);
        assert!(!mask("ravi.kumar@example.com").contains("kumar"));
    }

    #[test]
    fn only_identifiers_are_masked_among_headers() {
        for header in ["PAN No", "Mobile 1", "E-mail ID", "Sr No", "Address Line 2", "DOB"] {
            assert_eq!(mask_if_identifier(header), header);
        }
        for data in ["abcpk1234f", "ABCPK 1234 F", "ravi@example.com", "+91 98220 12345", "31/01/1985"] {
            assert_eq!(mask_if_identifier(data), mask(data), "{data}");
        }
    }

    /// Every way a clerk's spreadsheet or a file's name writes a customer's identifier, generated:
    /// PANs in three cases with four separators, mobile numbers in three groupings with four
    /// separators and four prefixes, dates of birth in seven layouts, and e-mail addresses, each
    /// alone, in a file's name and in a path.
    fn identifiers_as_written() -> Vec<String> {
        let mut written = Vec::new();
        for pan in ["ABCPK1234F", "abcpk1234f", "AbcPk1234F"] {
            for sep in ["", " ", "-", "_"] {
                written.push(format!("{}{sep}{}{sep}{}", &pan[..5], &pan[5..9], &pan[9..]));
            }
        }
        for groups in [[5, 5, 0], [3, 3, 4], [4, 3, 3]] {
            for sep in ["", " ", "-", "."] {
                for prefix in ["", "+91 ", "+91-", "0"] {
                    let digits = "9876543210";
                    let (a, b) = (groups[0], groups[0] + groups[1]);
                    let parts: Vec<&str> = [&digits[..a], &digits[a..b], &digits[b..]]
                        .into_iter()
                        .filter(|p| !p.is_empty())
                        .collect();
                    written.push(format!("{prefix}{}", parts.join(sep)));
                }
            }
        }
        for date in
            ["31/01/1985", "31-01-1985", "31.01.1985", "1985-01-31", "1985/01/31", "31011985", "31/01/85"]
        {
            written.push(date.to_owned());
        }
        for email in ["ravi@example.com", "ravi.kumar+cibil@example.co.in", "R_Kumar@Example.IN"] {
            written.push(email.to_owned());
        }
        written
    }

    #[test]
    fn every_written_identifier_is_masked_by_both_alone_in_a_name_and_in_a_path() {
        for identifier in identifiers_as_written() {
            assert_ne!(mask_if_identifier(&identifier), identifier.as_str(), "a header cell: {identifier}");
            for text in [
                identifier.clone(),
                format!("Neha {identifier}.csv"),
                format!("{identifier}_batch.xlsx"),
                format!("/home/clerk/in ({identifier})/customers.csv"),
            ] {
                assert!(contains_identifier(&text), "{text}");
                assert!(matches!(mask_if_identifier(&text), Cow::Owned(_)), "{text}");
                let masked = mask_identifiers_in(&text);
                assert!(!masked.contains(&identifier), "{text} → {masked}");
            }
        }
    }

    #[test]
    fn long_values_do_not_flood_a_log_line() {
        assert_eq!(mask(&"x".repeat(10_000)).len(), 32);
    }

    #[test]
    fn identifiers_in_a_files_name_are_masked_however_they_are_written() {
        for (name, identifier) in [
            ("NehaQWERT1242Z.csv", "QWERT1242Z"),
            ("9QWERT1243Z.csv", "QWERT1243Z"),
            ("qwert1244zb.csv", "qwert1244z"),
            ("a%2FQWERT1240Z.csv", "QWERT1240Z"),
            ("Neha 91234 56787.csv", "91234 56787"),
            ("Neha +91 91234 56790.csv", "91234 56790"),
            ("Neha 9123-456-788.csv", "9123-456-788"),
            ("PAN9123456783x3@ex.com.csv", "9123456783"),
            ("neha.kapoor@example.in.csv", "kapoor@example"),
            ("born 1985-01-31.csv", "1985-01-31"),
        ] {
            let masked = mask_identifiers_in(name);
            assert!(!masked.contains(identifier), "{name} → {masked}");
        }
        for plain in ["/srv/in/customers.csv", "customers_2026_12.xlsx", "upload 12 (batch 3).csv"] {
            assert_eq!(mask_identifiers_in(plain), plain);
        }
    }
}
