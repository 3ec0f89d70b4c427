//! The merchant's credentials (`RegistrationID`, `CompanyCode`), sent in every request body and
//! never shown: their `Debug` masks them, and [`SecretMask`] is the one way any text from outside
//! or from the operator (a vendor's answer, an uploaded file's name, a value given for another
//! setting, an endpoint's address) is made free of them — and of the other secrets a request
//! carries, a gateway's header values — however they are written in it.

use std::fmt;

/// The merchant's credentials, the same on every request. Never printed: `Debug` masks them.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub registration_id: String,
    pub company_code: String,
}

impl Credentials {
    /// Both credentials.
    pub fn both(&self) -> [&str; 2] {
        [&self.registration_id, &self.company_code]
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("registration_id", &crate::mask::mask(&self.registration_id))
            .field("company_code", &crate::mask::mask(&self.company_code))
            .finish()
    }
}

/// The merchant's secrets — the credentials, and the values of the extra headers a gateway may
/// want (`[aopay.headers]`, a key or a `Bearer` token) — as they are sought in text: as whole
/// words, in any case, each masked where found; and in disguise — split, spaced, its signs
/// changed, its letters escaped (`%41`, `&#65;`) — when the whole text is masked. Its `Debug`
/// shows nothing of them.
#[derive(Clone, Default)]
pub struct SecretMask {
    /// Each secret, in any case, wherever it appears as sent: a vendor may repeat what it was sent
    /// ("Invalid RegistrationID … or CompanyCode …"). A whole word of the text, not a part of one:
    /// a code `1045` is not looked for inside a transaction id `…2310452…`.
    pattern: Option<regex::Regex>,
    /// Each secret as [`crate::mask::spelled`] gives it, sought in what
    /// [`crate::mask::letters_and_digits`] reads of a text, to find one the pattern
    /// missed: those of six letters and digits or more, which a text does not hold by chance once
    /// its spaces and signs are gone.
    disguised: Vec<String>,
}

impl SecretMask {
    /// The mask of `secrets`: each of four characters or more (a shorter one would match inside
    /// ordinary words), and each word of six or more of one written in several (the token of
    /// `Bearer <token>`).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> SecretMask {
        let mut sought: Vec<&str> = Vec::new();
        for secret in secrets {
            let secret = secret.trim();
            if secret.chars().count() >= 4 {
                sought.push(secret);
            }
            let words: Vec<&str> = secret.split_whitespace().collect();
            if words.len() > 1 {
                sought.extend(words.into_iter().filter(|word| word.chars().count() >= 6));
            }
        }
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        let alternatives: Vec<String> = sought
            .iter()
            .map(|secret| {
                let (start, end) = (word(secret.chars().next()), word(secret.chars().last()));
                format!(
                    "{}{}{}",
                    if start { r"\b" } else { "" },
                    regex::escape(secret),
                    if end { r"\b" } else { "" }
                )
            })
            .collect();
        let pattern = (!alternatives.is_empty())
            .then(|| regex::RegexBuilder::new(&alternatives.join("|")).case_insensitive(true).build().ok())
            .flatten();
        let disguised = sought
            .iter()
            .map(|secret| crate::mask::spelled(secret))
            .filter(|secret| secret.chars().count() >= 6)
            .collect();
        SecretMask { pattern, disguised }
    }

    /// `text` with every credential in it masked; the whole of it masked when one is there in
    /// disguise.
    pub fn masked(&self, text: &str) -> String {
        let text = self.masked_as_written(text);
        if self.holds(&text) { crate::mask::mask(&text) } else { text }
    }

    /// `text` with every credential written as it was given masked, and the rest as it was: one
    /// in disguise is still there ([`SecretMask::holds`] finds it).
    pub fn masked_as_written(&self, text: &str) -> String {
        match &self.pattern {
            Some(pattern) => pattern
                .replace_all(text, |found: &regex::Captures<'_>| crate::mask::mask(&found[0]))
                .into_owned(),
            None => text.to_owned(),
        }
    }

    /// Whether `text` holds a credential, plainly or in disguise.
    pub fn holds(&self, text: &str) -> bool {
        self.pattern.as_ref().is_some_and(|pattern| pattern.is_match(text)) || {
            let read = crate::mask::letters_and_digits(text);
            self.disguised.iter().any(|secret| read.contains(secret.as_str()))
        }
    }
}

impl fmt::Debug for SecretMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretMask").field("sought", &self.disguised.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::SecretMask;

    #[test]
    fn a_credential_that_is_also_hexadecimal_is_found_inside_a_longer_word() {
        // `61306161` is hexadecimal for `a0aa`, as the property test below found it.
        let mask = SecretMask::new(["61306161"]);
        assert!(mask.holds("_61306161") && mask.holds("x-61306161-y"));
        assert!(!mask.masked("_61306161").contains("61306161"));
    }

    proptest::proptest! {
        /// A credential is found inside whatever a vendor wraps it in, however it was chosen:
        /// one that is itself hexadecimal for some text (`6162...`) included, which is sought as
        /// written, not as decoded.
        #[test]
        fn a_credential_is_found_inside_a_longer_word(
            text in "[ -~]{4,8}",
            plain in "[A-Za-z0-9]{6,16}",
            before in "[A-Za-z0-9]{0,6}[-_]?",
            after in "[-_]?[A-Za-z0-9]{0,6}",
        ) {
            let hex: String = text.bytes().map(|b| format!("{b:02x}")).collect();
            for secret in [hex.as_str(), plain.as_str()] {
                let mask = SecretMask::new([secret]);
                let said = format!("{before}{secret}{after}");
                proptest::prop_assert!(mask.holds(&said), "{said}");
                proptest::prop_assert!(!mask.masked(&said).contains(secret), "{said}");
            }
        }
    }
}
