//! Rules that need the whole file (VALIDATION.md, "Within the file" and "Why the date-order
//! check matters"): a PAN seen earlier makes a later valid row a `duplicate`, an order id may not
//! repeat, a mobile shared by different PANs earns a warning, and a date column whose day/month
//! order is not the one assumed stops the file before anything is sent.
//!
//! What has been seen is kept behind [`SeenIndex`], so a million-row file costs no more memory
//! than a small one: the store provides an index on disk.

use std::fmt;

use crate::input::{Columns, Field};

use super::{Checked, DateOrder, Severity, Violation};

/// Remembers, for each key, the first row that had it.
///
/// Every method records the key for `line` unless it was already recorded, and returns what is
/// recorded — the caller's own line when the key is new.
pub trait SeenIndex {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The first line with this PAN.
    fn first_pan(&mut self, pan: u64, line: u64) -> Result<u64, Self::Error>;

    /// The first line with this mobile number, and that line's PAN.
    fn first_mobile(&mut self, mobile: u64, pan: u64, line: u64) -> Result<(u64, u64), Self::Error>;

    /// The first line with this order id, and that line's PAN when it was valid.
    fn first_order_id(
        &mut self,
        order_id: &str,
        pan: Option<u64>,
        line: u64,
    ) -> Result<(u64, Option<u64>), Self::Error>;
}

/// What becomes of a row once the file-level rules have seen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// To be sent.
    Valid,
    /// Not sendable: see its violations.
    Invalid,
    /// The same PAN as the valid row on `of_line`: not sent, given that row's result.
    Duplicate { of_line: u64 },
}

/// Rows whose date proves one day/month order, with a few of their lines as examples.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub rows: u64,
    pub lines: Vec<u64>,
}

impl Tally {
    const EXAMPLES: usize = 5;

    fn add(&mut self, line: u64) {
        self.rows += 1;
        if self.lines.len() < Self::EXAMPLES {
            self.lines.push(line);
        }
    }

    /// The words that agree with the count: `1 row`, `has`, `it is`; `3 rows`, `have`, `they are`.
    fn words(&self) -> (String, &'static str, &'static str) {
        match self.rows {
            1 => ("1 row".to_owned(), "has", "it is"),
            n => (format!("{n} rows"), "have", "they are"),
        }
    }

    /// `line 7`, `lines 2, 3, 5, 8, 13, ...`.
    fn lines_text(&self) -> String {
        let mut text = self.lines.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        if self.rows > self.lines.len() as u64 {
            text.push_str(", ...");
        }
        let noun = if self.rows == 1 { "line" } else { "lines" };
        format!("{noun} {text}")
    }
}

/// The date column's day/month order is not the one assumed: nothing may be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DateOrderError {
    pub column: String,
    /// Rows that can only be MM/DD/YYYY.
    pub month_first: Tally,
    /// Rows that can only be DD/MM/YYYY.
    pub day_first: Tally,
}

impl fmt::Display for DateOrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mdy, dmy) = (&self.month_first, &self.day_first);
        let (count, has, they) = mdy.words();
        write!(
            f,
            "{count} of {} {has} a second part above 12 ({}), so {they} MM/DD/YYYY, not DD/MM/YYYY",
            self.column,
            mdy.lines_text()
        )?;
        if dmy.rows > 0 {
            let (count, has, they) = dmy.words();
            write!(
                f,
                ", while {count} {has} a first part above 12 ({}), so {they} DD/MM/YYYY. The \
                 column mixes both orders: format it as a date (DD/MM/YYYY) in the spreadsheet, \
                 check the rows whose day is 12 or less, and export again. If you know the order \
                 the column should have, run with --date-order dmy or --date-order mdy to get the \
                 rows that do not fit it as rows to fix",
                dmy.lines_text()
            )?;
        } else {
            write!(
                f,
                ". The column looks like MM/DD/YYYY: if it is, run again with --date-order mdy; \
                 if not, fix those rows"
            )?;
        }
        write!(
            f,
            ". Nothing was sent: in dates like 05/06/1990 day and month cannot be told apart, and \
             guessing row by row would register wrong birthdays."
        )
    }
}

/// The file-level rules, applied row by row in file order.
#[derive(Debug)]
pub struct FileChecks<I> {
    index: I,
    date_order: DateOrder,
    date_order_explicit: bool,
    month_first: Tally,
    day_first: Tally,
}

impl<I: SeenIndex> FileChecks<I> {
    pub fn new(index: I, rules: &super::Rules) -> FileChecks<I> {
        FileChecks {
            index,
            date_order: rules.date_order,
            date_order_explicit: rules.date_order_explicit,
            month_first: Tally::default(),
            day_first: Tally::default(),
        }
    }

    /// Applies the file-level rules to the row on `line`, adding to its violations.
    pub fn admit(
        &mut self,
        line: u64,
        checked: &mut Checked,
        columns: &Columns,
    ) -> Result<Admission, I::Error> {
        match checked.date_evidence {
            Some(DateOrder::Mdy) => self.month_first.add(line),
            Some(DateOrder::Dmy) => self.day_first.add(line),
            None => {}
        }
        let pan = checked.customer.as_ref().map(|c| c.pan.key());

        if let (true, Some(order_id)) = (checked.order_id_from_file, &checked.order_id) {
            let (first_line, first_pan) = self.index.first_order_id(order_id, pan, line)?;
            // The same customer pasted twice is a duplicate, not a clash of order ids.
            let same_customer = pan.is_some() && first_pan == pan;
            if first_line != line && !same_customer {
                let value = order_id.clone();
                checked.reject(Violation {
                    code: "order_id.repeat",
                    severity: Severity::Error,
                    column: columns.header(Field::OrderId).to_owned(),
                    value,
                    detail: format!(
                        "is also the order id of line {first_line}: every row needs its own (or \
                         leave the cell empty to have one made)"
                    ),
                    suggestion: None,
                });
            }
        }

        let Some(customer) = &checked.customer else {
            return Ok(Admission::Invalid);
        };
        let pan = customer.pan.key();
        let first = self.index.first_pan(pan, line)?;
        if first != line {
            return Ok(Admission::Duplicate { of_line: first });
        }
        let mobile = customer.mobile.key();
        let (mobile_line, mobile_pan) = self.index.first_mobile(mobile, pan, line)?;
        if mobile_line != line && mobile_pan != pan {
            let value = customer.mobile.to_string();
            checked.violations.push(Violation {
                code: "mobile.shared",
                severity: Severity::Warning,
                column: columns.header(Field::Mobile).to_owned(),
                value,
                detail: format!(
                    "is also the mobile number of line {mobile_line}, which has a different PAN: \
                     check that it is this customer's own"
                ),
                suggestion: None,
            });
        }
        Ok(Admission::Valid)
    }

    /// After the last row: fails when the date column's order is not the one assumed. Under an
    /// order the user chose, contradicting rows are row errors already and the file goes on.
    pub fn finish(&self, columns: &Columns) -> Result<(), DateOrderError> {
        let against = match self.date_order {
            DateOrder::Dmy => &self.month_first,
            DateOrder::Mdy => &self.day_first,
        };
        if self.date_order_explicit || against.rows == 0 {
            return Ok(());
        }
        Err(DateOrderError {
            column: columns.header(Field::DateOfBirth).to_owned(),
            month_first: self.month_first.clone(),
            day_first: self.day_first.clone(),
        })
    }

    pub fn into_index(self) -> I {
        self.index
    }
}
