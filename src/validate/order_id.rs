//! The row's `order_id` (ARCHITECTURE.md, "The vendor"): taken from the
//! file when it has one, otherwise derived from the file's hash and the row's line, so the same
//! row of the same file always carries the same id — across retries, crashes and resumed runs.

use super::Finding;

pub const MAX_LEN: usize = 40;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

/// Checks an id given in the file (non-empty).
pub fn check(raw: &str, findings: &mut Vec<Finding>) -> Option<String> {
    let value = raw.trim();
    let len = value.chars().count();
    if len > MAX_LEN || !value.chars().all(allowed) {
        findings.push(Finding::error(
            "order_id.format",
            format!(
                "is not a usable order id: up to {MAX_LEN} letters, digits, '_' and '-', like \
                 ORD-2024-0001 (or leave the cell empty to have one made)"
            ),
        ));
        return None;
    }
    Some(value.to_owned())
}

/// The id of a row whose file gives none: `CB` + 16 hex digits of the file's SHA-256 + the line.
/// Unique across files (the hash) and within one (the line); at most 2 + 16 + 1 + 20 = 39 chars.
pub fn generate(file_prefix: &str, line: u64) -> String {
    format!("CB{file_prefix}-{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_ids() {
        let mut f = Vec::new();
        assert_eq!(check("ORD-2024_0001", &mut f).as_deref(), Some("ORD-2024_0001"));
        assert!(check("ORD 1", &mut f).is_none());
        assert!(check(&"A".repeat(41), &mut f).is_none());
        assert!(check(&"A".repeat(40), &mut f).is_some());
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn generated_ids_fit_the_rule() {
        let id = generate("0123456789abcdef", u64::MAX);
        assert!(id.len() <= MAX_LEN && id.chars().all(allowed), "{id}");
        assert_eq!(generate("0123456789abcdef", 7), "CB0123456789abcdef-7");
    }
}
