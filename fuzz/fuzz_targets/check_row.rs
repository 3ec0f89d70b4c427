//! Arbitrary cells under arbitrary rules through `check_row`. Nothing may panic; a valid row's
//! normalised values are valid again and normalise to themselves; messages render, and no
//! message detail repeats the value it is about (the value is shown beside it, masked on
//! terminals).
#![no_main]

use arbitrary::Arbitrary;
use cibil_bulk::input::{Columns, RawRow, StringRecord};
use cibil_bulk::validate::{DateOrder, Rules, check_row, format_date};
use libfuzzer_sys::fuzz_target;

const HEADERS: [&str; 9] =
    ["First Name", "Middle Name", "Surname", "PAN No", "DOB", "Email", "Mobile No", "order id", "Branch"];

#[derive(Debug, Arbitrary)]
struct Input {
    cells: Vec<String>,
    mdy: bool,
    explicit_order: bool,
    excel_dates: bool,
    email_optional: bool,
    min_age: u8,
    line: u32,
}

fuzz_target!(|input: Input| {
    let rules = Rules {
        date_order: if input.mdy { DateOrder::Mdy } else { DateOrder::Dmy },
        date_order_explicit: input.explicit_order,
        excel_dates: input.excel_dates,
        min_age: u32::from(input.min_age),
        email_required: !input.email_optional,
        ..Rules::new(chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("a date"))
    };
    let headers = HEADERS.iter().map(|h| h.to_string()).collect();
    let columns = Columns::resolve(headers, &[], &rules.required_fields()).expect("the headers resolve");
    let line = u64::from(input.line) + 2;
    let row = RawRow { line, cells: StringRecord::from(input.cells.clone()), oversized: None };
    let checked = check_row(&row, &columns, &rules);
    assert_eq!(checked.is_valid(), checked.errors().next().is_none() && checked.customer.is_some());
    for v in &checked.violations {
        let _ = (v.message(), v.masked_message());
        // Long enough, and with a digit, that no wording or example of a message equals it.
        if v.value.len() >= 12 && v.value.chars().any(|c| c.is_ascii_digit()) {
            assert!(!v.detail.contains(v.value.as_str()), "{:?} repeats {:?}", v.detail, v.value);
        }
    }
    if let Some(c) = checked.customer {
        let dob = format_date(c.date_of_birth);
        let again = [
            c.first_name.as_str(),
            c.middle_name.as_str(),
            c.last_name.as_str(),
            c.pan.as_str(),
            dob.as_str(),
            c.email.as_str(),
            c.mobile.as_str(),
            c.order_id.as_deref().unwrap_or(""),
            "",
        ];
        let row = RawRow { line, cells: StringRecord::from(again.to_vec()), oversized: None };
        // The date is written back as DD/MM/YYYY: read it so, whatever the file's order was.
        let dmy = Rules { date_order: DateOrder::Dmy, date_order_explicit: true, ..rules };
        let rechecked = check_row(&row, &columns, &dmy);
        let c2 = rechecked
            .customer
            .unwrap_or_else(|| panic!("{c:?} is no longer valid: {:?}", rechecked.violations));
        assert_eq!(c, c2);
    }
});
