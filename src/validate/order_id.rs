//! An `order_id` given in the file (ARCHITECTURE.md, "The vendor"): checked here, and used for
//! the row. Without one, the state gives the customer an id of its own (`store::ledger`), never
//! one derived from the file's bytes, so an edited file cannot mint a second id for a customer.
//! Also what makes two ids one: [`key`], for the file's rule (`order_id.repeat`) and the
//! state's (`order_id.taken`).

use super::Finding;

/// The longest order id; the state's own are shorter.
pub const MAX_LEN: usize = 40;

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

/// What two order ids are compared by: ids that differ only in case are one id. AOPay does not
/// say whether it tells `ord-7` from `ORD-7`, and one that does not would take the second
/// customer's request for a replay of the first's, and answer with the first customer's
/// registration. The state knows the ids it sent by a keyed hash of this
/// (`store::ledger::order_id_key_with`), so its check (`order_id.taken`) compares ids as the
/// file's rule (`order_id.repeat`) does.
pub fn key(order_id: &str) -> String {
    order_id.to_ascii_uppercase()
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
