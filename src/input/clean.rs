//! Cell clean-up shared by every reader: what spreadsheets add around a value that no customer
//! typed — surrounding whitespace, non-breaking and zero-width spaces, Excel's leading `'` text
//! marker, and the `="…"` wrapper some exporters use to stop Excel from reformatting a number.

use std::borrow::Cow;

/// Characters that are invisible in a spreadsheet but break matching: zero-width space, joiners,
/// word joiner and a stray byte-order mark inside a cell.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Whitespace at either end of a cell, including NBSP (U+00A0), which `char::is_whitespace`
/// already covers, and the invisible characters above.
fn is_padding(c: char) -> bool {
    c.is_whitespace() || is_invisible(c)
}

/// Returns the value a person meant to type into `cell`.
///
/// Borrowed whenever nothing needed removing, which is the common case.
pub fn clean(cell: &str) -> Cow<'_, str> {
    // The common case, checked byte-wise: plain ASCII with nothing to strip.
    let bytes = cell.as_bytes();
    let plain = |b: &u8| !b.is_ascii_whitespace() && b.is_ascii();
    if bytes.first().is_none_or(|b| plain(b) && !matches!(b, b'\'' | b'='))
        && bytes.last().is_none_or(plain)
        && cell.is_ascii()
    {
        return Cow::Borrowed(cell);
    }
    let mut value: Cow<'_, str> = Cow::Borrowed(cell.trim_matches(is_padding));
    if value.contains(is_invisible) {
        value = Cow::Owned(value.chars().filter(|c| !is_invisible(*c)).collect());
    }
    // `="0123"`: the exporter's way of forcing text. Inner quotes are doubled, as in CSV.
    if let Some(inner) = value.strip_prefix("=\"").and_then(|v| v.strip_suffix('"')) {
        let inner = inner.replace("\"\"", "\"");
        value = Cow::Owned(inner.trim_matches(is_padding).to_owned());
    }
    // Excel's text marker: a single leading apostrophe that is not part of the value.
    if let Some(rest) = value.strip_prefix('\'') {
        value = Cow::Owned(rest.trim_matches(is_padding).to_owned());
    }
    value
}

/// The comparable form of a header: cleaned, lower-cased, without spaces, `_`, `-` and `.`, so
/// that `PAN No.`, `pan_no` and `Pan-No` all read as `panno`.
pub fn header_key(header: &str) -> String {
    clean(header)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_values_are_borrowed() {
        assert!(matches!(clean("ABCPK1234F"), Cow::Borrowed("ABCPK1234F")));
        assert!(matches!(clean("  Ravi "), Cow::Borrowed("Ravi")));
    }

    #[test]
    fn strips_what_spreadsheets_add() {
        assert_eq!(clean("\u{a0}Ravi\u{a0}"), "Ravi");
        assert_eq!(clean("AB\u{200b}CPK1234F"), "ABCPK1234F");
        assert_eq!(clean("'9876543210"), "9876543210");
        assert_eq!(clean("=\"9876543210\""), "9876543210");
        assert_eq!(clean(" =\" 0123 \" "), "0123");
        assert_eq!(clean("=\"say \"\"hi\"\"\""), "say \"hi\"");
        assert_eq!(clean("\u{feff}pan"), "pan");
        assert_eq!(clean("\t\r\n"), "");
    }

    #[test]
    fn keeps_inner_apostrophes_and_spaces() {
        assert_eq!(clean("D'Souza"), "D'Souza");
        assert_eq!(clean("Ravi  Kumar"), "Ravi  Kumar");
        assert_eq!(clean("="), "=");
    }

    #[test]
    fn header_keys_ignore_spelling_noise() {
        assert_eq!(header_key("PAN No."), "panno");
        assert_eq!(header_key("pan_no"), "panno");
        assert_eq!(header_key("\u{feff}D.O.B"), "dob");
        assert_eq!(header_key(" E-Mail ID "), "emailid");
    }
}
