//! An `order_id` given in the file (ARCHITECTURE.md, "The vendor"): checked here, and used for
//! the row. Without one, the state gives the customer an id of its own (`store::ledger`), never
//! one derived from the file's bytes, so an edited file cannot mint a second id for a customer.

use super::Finding;

/// The longest order id; the state's own are shorter.
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
}
