//! Text the vendor sends, made fit to keep and show. An answer is bytes from outside: its message
//! can carry an escape sequence that rewrites the clerk's terminal (ESC), rings it (BEL), hides a
//! line behind another (CR), or reorders what is read (bidirectional overrides), and it can be as
//! long as the answer. Every string taken from an answer passes [`clean`] before it is stored or
//! shown; the `cibil_id` is checked against the shape the vendor documents ([`is_cibil_id`]).

/// The most of a vendor's message kept: a reason for a refusal is a sentence.
pub const MESSAGE_LIMIT: usize = 500;
/// The most of an error code, a status or a transaction id kept.
pub const FIELD_LIMIT: usize = 128;
/// The most of an access token kept; a longer one is not kept at all (see `classify`).
pub const TOKEN_LIMIT: usize = 4096;
/// The most digits a `cibil_id` has: the vendor's example has 7, the sandbox gives 13; 20 is
/// every 64-bit number.
pub const CIBIL_ID_MAX_DIGITS: usize = 20;

/// `raw` without control characters (line breaks and tabs become spaces, runs of spaces one
/// space, the rest are dropped, as are the invisible characters that reorder text), trimmed, and
/// cut to at most `limit` bytes with `…` where it was cut.
pub fn clean(raw: &str, limit: usize) -> String {
    let mut out = String::with_capacity(raw.len().min(limit));
    let mut space = false;
    for c in raw.chars() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() || crate::mask::is_invisible(c) {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        if out.len() > limit {
            break;
        }
    }
    if out.len() > limit {
        const MARK: &str = "…";
        let mut end = limit.saturating_sub(MARK.len());
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str(MARK);
    }
    out
}

/// A `cibil_id` as the vendor documents it (api/AOPAY.md): digits only, a string (`"9362678"`)
/// or a number (`9362678`) in the JSON, at most [`CIBIL_ID_MAX_DIGITS`] of them.
pub fn is_cibil_id(id: &str) -> bool {
    (1..=CIBIL_ID_MAX_DIGITS).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// An access token worth keeping: visible ASCII (tokens are hex, base64 or a JWT), not too long.
pub fn is_token(token: &str) -> bool {
    (1..=TOKEN_LIMIT).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_never_pass() {
        let hostile = "Invalid\u{1b}[2J\u{1b}]0;owned\u{7}\r\nPAN\u{0}\u{9b}31m \u{202E}gnp.exe\u{2066}";
        let cleaned = clean(hostile, MESSAGE_LIMIT);
        assert_eq!(cleaned, "Invalid[2J]0;owned PAN31m gnp.exe");
        assert!(!cleaned.chars().any(|c| c.is_control()), "{cleaned:?}");
        assert_eq!(clean("  Mobile\talready   used \n", 100), "Mobile already used");
        assert_eq!(clean("\u{7}\u{7}", 100), "");
    }

    #[test]
    fn long_text_is_cut_at_a_character() {
        let long = "é".repeat(400);
        let cut = clean(&long, MESSAGE_LIMIT);
        assert!(cut.len() <= MESSAGE_LIMIT && cut.ends_with('…'), "{}", cut.len());
        assert_eq!(clean("short", 5), "short");
        assert_eq!(clean("shorter", 5), "sh…");
    }

    #[test]
    fn a_cibil_id_is_digits() {
        for good in ["9362678", "1234567890123", "0"] {
            assert!(is_cibil_id(good), "{good}");
        }
        for bad in
            ["", "=HYPERLINK(\"http://x\")", "93626 78", "9362678.0", "-1", "１２３", "123456789012345678901"]
        {
            assert!(!is_cibil_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_token_is_visible_ascii() {
        assert!(is_token("331ce37aa7c8898678fadd25928d14af52ea9fb4"));
        assert!(is_token("eyJhbGciOi.eyJzdWIi.SflKxw-_+/="));
        assert!(!is_token("abc\u{1b}def") && !is_token("a b") && !is_token(&"a".repeat(TOKEN_LIMIT + 1)));
    }
}
