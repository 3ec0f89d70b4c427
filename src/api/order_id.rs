//! The order ids this tool makes for customers whose file gives none: the merchant's, not any
//! state's. An order id is `CB` and 16 hex digits of a keyed hash (HMAC-SHA256) of the customer's
//! normalised PAN, under a key derived (HKDF-SHA256, RFC 5869) from the merchant's identity — the
//! `RegistrationID` and `CompanyCode` in use — with a fixed, versioned context. So every state, on
//! any machine, fresh, copied or restored, sends a customer's first request under the same order
//! id: where the vendor de-duplicates on `order_id`, a second state's request is a replay and
//! registers no one twice; where it does not, a repeat is one order id the vendor can trace.
//! Without the credentials the id says nothing of the PAN. After the vendor refuses a customer
//! `N` times, `-N` follows, so that a corrected row is not taken for a replay of the refused one.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::Credentials;

/// The scheme's name, as the state records it and `status` shows it. A new scheme gets a new
/// name and a new context: ids once sent are never made differently under the old name.
pub const ORDER_ID_SCHEME: &str = "merchant-v1";
const CONTEXT: &[u8] = b"cibil-bulk order ids: merchant-v1";

/// The key one merchant's order ids are made with.
#[derive(Clone)]
pub struct OrderIds {
    key: [u8; 32],
}

impl std::fmt::Debug for OrderIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderIds").finish_non_exhaustive()
    }
}

impl OrderIds {
    /// The order ids of the merchant `credentials` identify. Each credential is length-prefixed,
    /// so that no two pairs give the same key material.
    pub fn of(credentials: &Credentials) -> OrderIds {
        let mut material = Vec::new();
        for part in [&credentials.registration_id, &credentials.company_code] {
            material.extend_from_slice(&(part.len() as u64).to_be_bytes());
            material.extend_from_slice(part.as_bytes());
        }
        let mut key = [0u8; 32];
        Hkdf::<Sha256>::new(None, &material)
            .expand(CONTEXT, &mut key)
            .unwrap_or_else(|_| unreachable!("32 bytes is a length HKDF-SHA256 gives"));
        OrderIds { key }
    }

    /// The order id a customer with this normalised PAN is first sent under.
    pub fn first(&self, pan: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(pan.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex_id(&digest[..8])
    }
}

/// `CB` and the bytes in hex: 18 characters.
pub fn hex_id(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut id = String::with_capacity(29);
    id.push_str("CB");
    for byte in bytes {
        let _ = write!(id, "{byte:02x}");
    }
    id
}

/// The order id after `refusals` refusals of the customer: `first`, then `first-N`. At most 29
/// characters.
pub fn after_refusals(first: &str, refusals: u32) -> String {
    if refusals == 0 { first.to_owned() } else { format!("{first}-{refusals}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merchant(id: &str, code: &str) -> OrderIds {
        OrderIds::of(&Credentials { registration_id: id.into(), company_code: code.into() })
    }

    #[test]
    fn a_customer_has_one_order_id_per_merchant_wherever_it_is_made() {
        let (a, again) = (merchant("AOP-554", "CMP1045"), merchant("AOP-554", "CMP1045"));
        let id = a.first("ABCPK1234F");
        assert_eq!(id, again.first("ABCPK1234F"), "the same credentials, the same id, on any state");
        assert!(id.starts_with("CB") && id.len() == 18, "{id}");
        assert!(!id.contains("1234"), "nothing of the PAN shows");
        assert_ne!(id, a.first("ABCPK1235F"), "another customer, another id");
        // Another merchant, other ids; and credentials that only split differently are another.
        assert_ne!(id, merchant("AOP-555", "CMP1045").first("ABCPK1234F"));
        assert_ne!(merchant("AB", "C").first("ABCPK1234F"), merchant("A", "BC").first("ABCPK1234F"));
        // Pinned (computed apart, with Python's hmac and hashlib, as RFC 5869 says): a change to
        // the scheme would send every waiting customer under a new id.
        assert_eq!(merchant("AOP-SANDBOX", "CMP-SANDBOX").first("ABCPK1234F"), "CB0dd8c5bf596a5676");
        assert_eq!(after_refusals(&id, 0), id);
        assert_eq!(after_refusals(&id, 2), format!("{id}-2"));
    }
}
