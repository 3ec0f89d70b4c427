//! Row and file rules together, on rows as a reader hands them out.

use std::collections::HashMap;

use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;
use crate::input::StringRecord;

const HEADERS: [&str; 8] =
    ["First Name", "Middle Name", "Surname", "PAN No", "DOB", "Email", "Mobile No", "Branch"];

fn columns() -> Columns {
    let headers = HEADERS.iter().map(|h| h.to_string()).collect();
    Columns::resolve(headers, &[], &Rules::new(today()).required_fields()).unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

fn rules() -> Rules {
    Rules::new(today())
}

fn row(line: u64, cells: &[&str]) -> RawRow {
    RawRow { line, cells: StringRecord::from(cells.to_vec()), ..RawRow::default() }
}

const GOOD: [&str; 8] =
    ["Ravi", "", "Kumar", "ABCPK1234F", "31/01/1985", "ravi@example.com", "9876543210", "Pune"];

fn with(changes: &[(usize, &'static str)]) -> Vec<&'static str> {
    let mut cells = GOOD.to_vec();
    for (i, v) in changes {
        cells[*i] = v;
    }
    cells
}

fn codes(checked: &CheckedRow) -> Vec<&'static str> {
    checked.violations.iter().map(|v| v.code).collect()
}

#[test]
fn a_good_row_becomes_a_customer() {
    let checked = check_row(&row(2, &GOOD), &columns(), &rules());
    let c = checked.customer.expect("valid");
    assert_eq!(c.pan.as_str(), "ABCPK1234F");
    assert_eq!(format_date(c.date_of_birth), "31/01/1985");
    assert_eq!(c.mobile.as_str(), "9876543210");
    assert_eq!(c.middle_name, "");
    // No order id in the file: the state makes the customer's, never the rules.
    assert_eq!((c.order_id, checked.order_id), (None, None));
}

#[test]
fn every_violation_of_a_row_is_reported() {
    let cells = with(&[(0, "Ravi2"), (3, "FRS23456"), (4, "13/13/2000"), (5, "nope"), (6, "9.87654E+09")]);
    let checked = check_row(&row(3, &cells), &columns(), &rules());
    assert!(checked.customer.is_none());
    assert_eq!(
        codes(&checked),
        vec!["name.characters", "pan.format", "dob.invalid", "email.format", "mobile.scientific"]
    );
    let mobile = &checked.violations[4];
    assert_eq!(mobile.column, "Mobile No");
    assert_eq!(mobile.value, "9.87654E+09");
    assert!(mobile.message().starts_with("Mobile No \"9.87654E+09\" is in scientific notation"));
    assert!(mobile.masked_message().starts_with("Mobile No \"9.*******09\""), "{}", mobile.masked_message());
}

#[test]
fn messages_name_the_column_and_say_what_is_valid() {
    let checked = check_row(&row(3, &with(&[(3, "AAACR1234F")])), &columns(), &rules());
    let m = checked.violations[0].message();
    assert!(m.starts_with("PAN No \"AAACR1234F\" is the PAN of a company"), "{m}");
    assert!(m.contains("P as its 4th character"), "{m}");
    let checked = check_row(&row(3, &with(&[(6, "")])), &columns(), &rules());
    assert_eq!(
        checked.violations[0].message(),
        "Mobile No is empty: an Indian mobile number has 10 digits and starts with 6, 7, 8 or 9, like 9876543210"
    );
}

#[test]
fn warnings_do_not_block_a_row() {
    let checked = check_row(&row(4, &with(&[(2, "Sharma"), (6, "9999999999")])), &columns(), &rules());
    assert!(checked.is_valid());
    assert_eq!(codes(&checked), vec!["pan.surname", "mobile.repeated"]);
}

#[test]
fn ragged_rows_are_row_errors() {
    let short = check_row(&row(5, &GOOD[..6]), &columns(), &rules());
    assert_eq!(codes(&short), vec!["row.columns"]);
    assert!(short.violations[0].message().contains("has 6 cells but the header has 8 columns"));
    let mut long = GOOD.to_vec();
    long.push("extra");
    assert_eq!(codes(&check_row(&row(5, &long), &columns(), &rules())), vec!["row.columns"]);
    // A trailing delimiter (an empty extra cell) is harmless.
    let mut trailing = GOOD.to_vec();
    trailing.push(" ");
    assert!(check_row(&row(5, &trailing), &columns(), &rules()).is_valid());
}

#[test]
fn order_ids_from_the_file() {
    let headers: Vec<String> = ["first_name", "last_name", "pancard", "dob", "mobile", "email", "ref id"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    let cols = Columns::resolve(headers, &[], &rules().required_fields()).unwrap();
    let base = ["Ravi", "Kumar", "ABCPK1234F", "31/01/1985", "9876543210", "r@x.in"];
    let given = [&base[..], &["ORD-1"]].concat();
    let checked = check_row(&row(2, &given), &cols, &rules());
    assert_eq!(checked.customer.unwrap().order_id.as_deref(), Some("ORD-1"));
    assert_eq!(checked.order_id.as_deref(), Some("ORD-1"));
    let empty = [&base[..], &[""]].concat();
    assert_eq!(check_row(&row(2, &empty), &cols, &rules()).customer.unwrap().order_id, None);
    let bad = [&base[..], &["ORD 1"]].concat();
    assert_eq!(codes(&check_row(&row(2, &bad), &cols, &rules())), vec!["order_id.format"]);
}

/// Both passes over `rows`, as the intake runs them.
fn admit_all(
    rows: &[(u64, Vec<&str>)],
    rules: &Rules,
    cols: &Columns,
) -> Result<Vec<(Admission, Vec<&'static str>)>, DateOrderError> {
    admit_all_with(Sieve::new(rules, 0), rows, rules, cols)
}

fn admit_all_with(
    mut sieve: Sieve,
    rows: &[(u64, Vec<&str>)],
    rules: &Rules,
    cols: &Columns,
) -> Result<Vec<(Admission, Vec<&'static str>)>, DateOrderError> {
    for (line, cells) in rows {
        sieve.see(*line, &check_row(&row(*line, cells), cols, rules));
    }
    let mut checks = sieve.finish(cols)?;
    Ok(rows
        .iter()
        .map(|(line, cells)| {
            let mut checked = check_row(&row(*line, cells), cols, rules);
            let admission = checks.admit(*line, &mut checked, cols);
            (admission, codes(&checked))
        })
        .collect())
}

/// The file-level rules the simple way, remembering every key: what the two passes must equal.
fn reference(
    rows: &[(u64, Vec<&str>)],
    rules: &Rules,
    cols: &Columns,
) -> Vec<(Admission, Vec<&'static str>)> {
    let mut pans: HashMap<u64, u64> = HashMap::new();
    let mut mobiles: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut orders: HashMap<String, (u64, Option<u64>)> = HashMap::new();
    let mut out = Vec::new();
    for (line, cells) in rows {
        let mut checked = check_row(&row(*line, cells), cols, rules);
        let pan = checked.customer.as_ref().map(|c| c.pan.key());
        let mut codes = codes(&checked);
        if let Some(id) = &checked.order_id {
            // Ids that differ only in case are one id.
            let (first, first_pan) = *orders.entry(id.to_ascii_lowercase()).or_insert((*line, pan));
            if first != *line && !(pan.is_some() && first_pan == pan) {
                checked.customer = None;
                codes.push("order_id.repeat");
            }
        }
        let admission = match &checked.customer {
            None => Admission::Invalid,
            Some(c) => {
                let first = *pans.entry(c.pan.key()).or_insert(*line);
                if first != *line {
                    Admission::Duplicate { of_line: first }
                } else {
                    let (m_line, m_pan) = *mobiles.entry(c.mobile.key()).or_insert((*line, c.pan.key()));
                    if m_line != *line && m_pan != c.pan.key() {
                        codes.push("mobile.shared");
                    }
                    Admission::Valid
                }
            }
        };
        out.push((admission, codes));
    }
    out
}

#[test]
fn later_rows_with_a_seen_pan_are_duplicates_of_the_first_valid_one() {
    let rows = vec![
        (2, with(&[(4, "99/99/1985")])), // invalid: does not claim the PAN
        (3, GOOD.to_vec()),              // first valid
        (4, with(&[(6, "9123456789")])), // same PAN: duplicate
        (5, with(&[(3, "abcpk1234f")])), // same PAN after normalising
        (6, with(&[(3, "ABCPK1234G")])), // another PAN, same mobile: warning
    ];
    let out = admit_all(&rows, &rules(), &columns()).unwrap();
    assert_eq!(out[0].0, Admission::Invalid);
    assert_eq!(out[1].0, Admission::Valid);
    assert_eq!(out[2].0, Admission::Duplicate { of_line: 3 });
    assert_eq!(out[3].0, Admission::Duplicate { of_line: 3 });
    assert_eq!(out[4], (Admission::Valid, vec!["mobile.shared"]));
}

#[test]
fn a_repeated_order_id_is_a_row_error_unless_it_is_the_same_customer_again() {
    let headers: Vec<String> = ["first_name", "last_name", "pancard", "dob", "mobile", "email", "order_id"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    let cols = Columns::resolve(headers, &[], &rules().required_fields()).unwrap();
    let a = vec!["Ravi", "Kumar", "ABCPK1234F", "31/01/1985", "9876543210", "r@x.in", "ORD-1"];
    let b = vec!["Asha", "Kumar", "ABCPK1235F", "31/01/1985", "9876543211", "a@x.in", "ORD-1"];
    let rows = vec![(2, a.clone()), (3, a), (4, b)];
    let out = admit_all(&rows, &rules(), &cols).unwrap();
    assert_eq!(out[1].0, Admission::Duplicate { of_line: 2 });
    assert_eq!(out[2], (Admission::Invalid, vec!["order_id.repeat"]));

    // Written in another case, it is the same id (AOPay may not tell them apart), and the
    // message says how line 2 wrote it.
    let c = vec!["Sita", "Rao", "ABCPK1236F", "31/01/1985", "9876543212", "s@x.in", "ord-1"];
    let violation = repeat_of_the_first(&[rows[0].1.clone(), c], &cols);
    assert_eq!(violation.value, "ord-1");
    assert!(
        violation.detail.contains("line 2 (written ORD-1 there: ids that differ only in case are one id)"),
        "{}",
        violation.detail
    );

    // An id that is a PAN is masked where the message tells how the other line wrote it.
    let pan_as_id = |pan: &'static str, id: &'static str| {
        vec!["Ravi", "Kumar", pan, "31/01/1985", "9876543210", "r@x.in", id]
    };
    let violation = repeat_of_the_first(
        &[pan_as_id("ABCPK1234F", "ABCPK1234F"), pan_as_id("ABCPK1235F", "abcpk1234f")],
        &cols,
    );
    assert!(!violation.detail.to_uppercase().contains("ABCPK1234F"), "{}", violation.detail);
}

/// The `order_id.repeat` of the second of two rows (lines 2 and 3), through both passes.
fn repeat_of_the_first(rows: &[Vec<&str>; 2], cols: &Columns) -> Violation {
    let mut sieve = Sieve::new(&rules(), 0);
    for (line, cells) in (2..).zip(rows) {
        sieve.see(line, &check_row(&row(line, cells), cols, &rules()));
    }
    let mut checks = sieve.finish(cols).unwrap();
    checks.admit(2, &mut check_row(&row(2, &rows[0]), cols, &rules()), cols);
    let mut second = check_row(&row(3, &rows[1]), cols, &rules());
    assert_eq!(checks.admit(3, &mut second, cols), Admission::Invalid);
    second.violations.into_iter().find(|v| v.code == "order_id.repeat").expect("a repeat")
}

#[test]
fn a_month_first_column_stops_the_file_unless_the_order_was_chosen() {
    let rows = vec![
        (2, with(&[(4, "05/06/1990")])),
        (3, with(&[(3, "ABCPK1235F"), (4, "12/25/1990")])),
        (4, with(&[(3, "ABCPK1236F"), (4, "01/31/1985")])),
    ];
    let err = admit_all(&rows, &rules(), &columns()).unwrap_err();
    assert_eq!(err.month_first.rows, 2);
    assert_eq!(err.month_first.lines, vec![3, 4]);
    let text = err.to_string();
    assert!(text.contains("2 rows of DOB have a second part above 12 (lines 3, 4)"), "{text}");
    assert!(text.contains("--date-order mdy"), "{text}");

    let chosen = Rules { date_order_explicit: true, ..rules() };
    let out = admit_all(&rows, &chosen, &columns()).unwrap();
    assert_eq!(out[1], (Admission::Invalid, vec!["dob.order"]));

    let mdy = Rules { date_order: DateOrder::Mdy, date_order_explicit: true, ..rules() };
    let out = admit_all(&rows, &mdy, &columns()).unwrap();
    assert!(out.iter().all(|(a, _)| *a == Admission::Valid), "{out:?}");
}

#[test]
fn a_column_mixing_both_orders_says_so() {
    let rows = vec![(2, with(&[(4, "25/12/1990")])), (3, with(&[(3, "ABCPK1235F"), (4, "12/25/1990")]))];
    let text = admit_all(&rows, &rules(), &columns()).unwrap_err().to_string();
    assert!(text.contains("mixes both orders"), "{text}");
    assert!(text.contains("1 row of DOB has a second part above 12 (line 3), so it is MM/DD/YYYY"), "{text}");
    assert!(text.contains("while 1 row has a first part above 12 (line 2)"), "{text}");
    // The way out when the clerk knows the order: the misfits become rows to fix.
    assert!(text.contains("--date-order dmy or --date-order mdy"), "{text}");
}

/// Files of rows drawn from a few PANs, mobiles and order ids, so that repeats are common.
fn repetitive_rows() -> impl Strategy<Value = Vec<(u64, Vec<&'static str>)>> {
    const PANS: [&str; 4] = ["ABCPK1234F", "ABCPK1235F", "ABCPK1236F", "FRS23456"];
    const MOBILES: [&str; 3] = ["9876543210", "9876543211", "123"];
    const ORDERS: [&str; 5] = ["ORD-1", "ORD-2", "ORD-3", "ord-2", ""];
    proptest::collection::vec((0..PANS.len(), 0..MOBILES.len(), 0..ORDERS.len()), 0..40).prop_map(|picks| {
        picks
            .into_iter()
            .enumerate()
            .map(|(i, (p, m, o))| {
                let line = i as u64 + 2;
                (line, vec!["Ravi", "Kumar", PANS[p], "31/01/1985", MOBILES[m], "r@x.in", ORDERS[o]])
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// The two passes decide exactly what remembering every key decides.
    #[test]
    fn two_passes_equal_remembering_everything(rows in repetitive_rows()) {
        let headers: Vec<String> =
            ["first_name", "last_name", "pancard", "dob", "mobile", "email", "order_id"].iter().map(|h| h.to_string()).collect();
        let cols = Columns::resolve(headers, &[], &rules().required_fields()).unwrap();
        let expected = reference(&rows, &rules(), &cols);
        prop_assert_eq!(&admit_all(&rows, &rules(), &cols).unwrap(), &expected);
        // With filters of 64 bits nearly every key is mistaken for a repeat: still exact.
        let tiny = Sieve::with_filter_bits(&rules(), 64);
        prop_assert_eq!(&admit_all_with(tiny, &rows, &rules(), &cols).unwrap(), &expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn no_cell_content_makes_the_rules_panic(cells in proptest::collection::vec(any::<String>(), 0..10)) {
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let checked = check_row(&row(2, &refs), &columns(), &rules());
        prop_assert_eq!(checked.is_valid(), checked.errors().next().is_none() && checked.customer.is_some());
        for v in &checked.violations {
            let _ = (v.message(), v.masked_message());
        }
    }

    #[test]
    fn field_shaped_noise_never_panics(
        pan in "[A-Za-z0-9 -]{0,14}",
        dob in "[0-9]{0,5}[-/. ]?[0-9A-Za-z]{0,9}[-/. ]?[0-9]{0,5}",
        mobile in "[+0-9 .eE()-]{0,18}",
    ) {
        let cells = with(&[]);
        let mut cells: Vec<String> = cells.iter().map(|s| s.to_string()).collect();
        cells[3] = pan;
        cells[4] = dob;
        cells[6] = mobile;
        let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
        let _ = check_row(&row(2, &refs), &columns(), &Rules { excel_dates: true, ..rules() });
    }

    /// A valid row's normalised values are valid again and normalise to themselves.
    #[test]
    fn normalising_is_idempotent(
        first in "[A-Za-z][A-Za-z .'-]{0,20}",
        pan_tail in "[A-Z][0-9]{3}[1-9][A-Z]",
        mobile in "[6-9][0-9]{9}",
        days in 0u64..20_000,
    ) {
        let dob = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Days::new(days);
        let pan = format!("ABCP{pan_tail}");
        let dob_text = format_date(dob);
        let cells = vec![first.as_str(), "", "Kumar", pan.as_str(), dob_text.as_str(), "a@b.in", mobile.as_str(), ""];
        let checked = check_row(&row(2, &cells), &columns(), &rules());
        if let Some(c) = checked.customer {
            let dob_again = format_date(c.date_of_birth);
            let again = vec![c.first_name.as_str(), "", c.last_name.as_str(), c.pan.as_str(), dob_again.as_str(), c.email.as_str(), c.mobile.as_str(), ""];
            let c2 = check_row(&row(2, &again), &columns(), &rules()).customer.expect("still valid");
            prop_assert_eq!(c, c2);
        }
    }
}

/// Field by field: normalising twice is normalising once, and a value a rule accepts is accepted
/// again, unchanged and without errors, in its normalised form (the form that is sent and
/// stored, and that an errors file or a results file may bring back as input).
mod normalisation {
    use super::*;

    fn errors(findings: &[Finding]) -> Vec<&'static str> {
        findings.iter().filter(|f| f.severity == Severity::Error).map(|f| f.code).collect()
    }

    fn pan_like() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ a-zA-Z0-9-]{0,14}",
            "[ ]?[a-zA-Z]{3}[pPcC][a-zA-Z][ -]?[0-9]{4}[ -]?[a-zA-Z][ ]?",
        ]
    }

    fn mobile_like() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[+0-9 .eE()-]{0,18}",
            "(\\+91|0091|91|0|\\+91 )?[ (]?[5-9][0-9]{2}[ ).-]?[0-9]{3}[ -]?[0-9]{4}(\\.0+)?",
        ]
    }

    fn name_like() -> impl Strategy<Value = String> {
        prop_oneof![any::<String>(), "[ \t\u{a0}a-zA-Z.'`\u{2018}\u{2019}\u{b4}é-]{0,30}"]
    }

    fn email_like() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[ ]?[a-zA-Z0-9._%+'-]{1,20}@[a-zA-Z0-9-]{1,10}(\\.[A-Za-z]{2,4}){0,2}[ ]?",
        ]
    }

    fn date_like() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[0-3]?[0-9][-/. ][0-1]?[0-9][-/. ](19|20)?[0-9]{2}",
            "(19|20)[0-9]{2}-[01][0-9]-[0-3][0-9]( 00:00:00)?",
            "[0-3]?[0-9][- ](Jan|feb|MAR|Sept|dec|June)[- ](19|20)[0-9]{2}",
            "[0-9]{4,5}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn pans(raw in pan_like()) {
            let once = pan::normalise(&raw);
            prop_assert_eq!(pan::normalise(&once), once);
            let mut findings = Vec::new();
            if let Some(p) = pan::check(&raw, &mut findings) {
                let mut again = Vec::new();
                prop_assert_eq!(pan::check(p.as_str(), &mut again), Some(p));
                prop_assert!(again.is_empty(), "{:?}", again);
            }
        }

        #[test]
        fn mobiles(raw in mobile_like()) {
            let mut findings = Vec::new();
            if let Some(m) = mobile::check(&raw, &mut findings) {
                let mut again = Vec::new();
                prop_assert_eq!(mobile::check(m.as_str(), &mut again), Some(m));
                prop_assert!(errors(&again).is_empty(), "{:?}", again);
            }
        }

        #[test]
        fn names(raw in name_like(), required in any::<bool>()) {
            let once = name::normalise(&raw);
            prop_assert_eq!(name::normalise(&once), once);
            let mut findings = Vec::new();
            if let Some(n) = name::check(&raw, required, &mut findings) {
                let mut again = Vec::new();
                prop_assert_eq!(name::check(&n, required, &mut again), Some(n));
                prop_assert!(errors(&again).is_empty(), "{:?}", again);
            }
        }

        #[test]
        fn emails(raw in email_like(), required in any::<bool>()) {
            let mut findings = Vec::new();
            if let Some(e) = email::check(&raw, required, &mut findings) {
                let mut again = Vec::new();
                prop_assert_eq!(email::check(&e, required, &mut again), Some(e));
                prop_assert!(again.is_empty(), "{:?}", again);
            }
        }

        #[test]
        fn dates(raw in date_like(), mdy in any::<bool>(), excel_dates in any::<bool>()) {
            let order = if mdy { DateOrder::Mdy } else { DateOrder::Dmy };
            let file_rules = Rules { date_order: order, date_order_explicit: mdy, excel_dates, ..rules() };
            let mut findings = Vec::new();
            if let Some(date) = dob::check(&raw, &file_rules, &mut findings).date {
                // Sent as DD/MM/YYYY, so read back day first whatever the file's order was.
                let sent = format_date(date);
                let mut again = Vec::new();
                prop_assert_eq!(dob::check(&sent, &rules(), &mut again).date, Some(date), "{}", sent);
                prop_assert!(errors(&again).is_empty(), "{:?}", again);
            }
        }
    }
}
