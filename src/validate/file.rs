//! Rules that need the whole file: a PAN seen earlier makes a later valid row a `duplicate`, an
//! order id may not repeat, a mobile shared by different PANs earns a warning, and a date column
//! whose day/month order is not the one assumed stops the file before anything is sent.
//!
//! They take two passes, so that a file of a million rows is checked as fast as it is read and in
//! the same memory as a file of fifty. The first pass, [`Sieve`], runs every row through Bloom
//! filters of a fixed size: a key the filter has not seen is certainly new; a key it may have seen
//! is noted as a *candidate*. The date column's order is settled there too, before anything is
//! written. The second pass, [`FileChecks`], applies the rules exactly, in file order, remembering
//! only the candidates: those that repeat, and the few the filter mistook for repeats.

// foldhash: the sets and maps of keys are consulted for every row of both passes.
use foldhash::{HashMap, HashSet};
use std::fmt;
use std::hash::{Hash, Hasher};

use fastbloom::BloomFilter;

use crate::input::{Columns, Field, Locator};

use super::{CheckedRow, DateOrder, Rules, Severity, Violation, order_id};

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

    /// `line 7`, `lines 2, 3, 5, 8, 13, ...`, or a sheet's rows.
    fn lines_text(&self, locator: &Locator) -> String {
        locator.rows(&self.lines, self.rows > self.lines.len() as u64)
    }
}

/// The date column's day/month order is not the one assumed: nothing may be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DateOrderError {
    pub column: String,
    /// How to name the rows.
    pub locator: Locator,
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
            mdy.lines_text(&self.locator)
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
                dmy.lines_text(&self.locator)
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
            ". Nothing is sent until this is settled: in dates like 05/06/1990 day and month \
             cannot be told apart, and guessing row by row would register wrong birthdays."
        )
    }
}

/// Bits per filter for files up to about a million rows: 2 MiB, which keeps the share of keys
/// wrongly taken for repeats near 0.1 % at a million rows. Larger files get proportionally more.
const MIN_FILTER_BITS: usize = 16 * 1024 * 1024;
/// A conservative guess at the bytes of one row, to size the filters from the file's size.
const BYTES_PER_ROW_GUESS: u64 = 64;
const BITS_PER_ROW: u64 = 12;
/// Four probes per key: at 16 bits per key about 0.25 % of new keys look like repeats, and each
/// probe is a cache miss, so more would cost more than the candidates they spare.
const HASHES: u32 = 4;

/// A filter of keys seen, hashed with foldhash (a few nanoseconds for a `u64`, where the default
/// SipHash costs several times that on every row), seeded at random for each file so that no file
/// can be made to look like one full of repeats.
type Filter = BloomFilter<foldhash::fast::RandomState>;

fn filter(bits: usize) -> Filter {
    BloomFilter::with_num_bits(bits).hasher(foldhash::fast::RandomState::default()).hashes(HASHES)
}

fn filter_bits(expected_rows: u64) -> usize {
    usize::try_from(expected_rows.saturating_mul(BITS_PER_ROW)).unwrap_or(usize::MAX).max(MIN_FILTER_BITS)
}

/// A stable 64-bit digest of an order id, for the filter and the candidate set (a collision only
/// makes one more candidate, which the second pass compares in full).
fn digest(text: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The first pass: which keys may repeat, and what the date column proves.
#[derive(Debug)]
pub struct Sieve {
    pans: Filter,
    mobiles: Filter,
    orders: Option<Filter>,
    bits: usize,
    candidates: Candidates,
    date_order: DateOrder,
    date_order_explicit: bool,
    month_first: Tally,
    day_first: Tally,
    locator: Locator,
}

/// Keys that may occur more than once in the file.
#[derive(Debug, Default)]
struct Candidates {
    pans: HashSet<u64>,
    mobiles: HashSet<u64>,
    orders: HashSet<u64>,
}

impl Sieve {
    /// A sieve for a file of `file_size` bytes.
    pub fn new(rules: &Rules, file_size: u64) -> Sieve {
        Sieve::with_filter_bits(rules, filter_bits(file_size / BYTES_PER_ROW_GUESS))
    }

    /// A sieve whose filters have `bits` bits (tests use tiny ones, to make mistaken repeats
    /// common).
    pub(crate) fn with_filter_bits(rules: &Rules, bits: usize) -> Sieve {
        Sieve {
            pans: filter(bits),
            mobiles: filter(bits),
            orders: None,
            bits,
            candidates: Candidates::default(),
            date_order: rules.date_order,
            date_order_explicit: rules.date_order_explicit,
            month_first: Tally::default(),
            day_first: Tally::default(),
            locator: rules.locator.clone(),
        }
    }

    /// Looks at one row's verdict.
    pub fn see(&mut self, line: u64, checked: &CheckedRow) {
        match checked.date_evidence {
            Some(DateOrder::Mdy) => self.month_first.add(line),
            Some(DateOrder::Dmy) => self.day_first.add(line),
            None => {}
        }
        // Only rows valid by themselves can be duplicates or share a mobile; the second pass
        // narrows that further (a repeated order id makes a row invalid).
        if let Some(customer) = &checked.customer {
            let pan = customer.pan.key();
            if self.pans.insert(&pan) {
                self.candidates.pans.insert(pan);
            }
            let mobile = customer.mobile.key();
            if self.mobiles.insert(&mobile) {
                self.candidates.mobiles.insert(mobile);
            }
        }
        if let Some(order_id) = &checked.order_id {
            let digest = digest(&order_id::key(order_id));
            let bits = self.bits;
            // Most files have no order id column: this filter is made when first needed.
            if self.orders.get_or_insert_with(|| filter(bits)).insert(&digest) {
                self.candidates.orders.insert(digest);
            }
        }
    }

    /// After the last row: the second pass, unless the date column's order is not the one
    /// assumed. Under an order the user chose, contradicting rows are row errors already and the
    /// file goes on.
    pub fn finish(self, columns: &Columns) -> Result<FileChecks, DateOrderError> {
        let against = match self.date_order {
            DateOrder::Dmy => &self.month_first,
            DateOrder::Mdy => &self.day_first,
        };
        if !self.date_order_explicit && against.rows > 0 {
            return Err(DateOrderError {
                column: columns.header(Field::DateOfBirth).to_owned(),
                locator: self.locator,
                month_first: self.month_first,
                day_first: self.day_first,
            });
        }
        Ok(FileChecks { candidates: self.candidates, locator: self.locator, ..FileChecks::default() })
    }
}

/// The second pass: the file-level rules applied exactly, row by row in file order.
#[derive(Debug, Default)]
pub struct FileChecks {
    candidates: Candidates,
    /// First line of each candidate PAN seen on a valid row.
    pans: HashMap<u64, u64>,
    /// First line and PAN of each candidate mobile seen on a valid row.
    mobiles: HashMap<u64, (u64, u64)>,
    /// First line, spelling and PAN (if the row was valid) of each candidate order id, by its
    /// [`order_id::key`].
    orders: HashMap<String, (u64, String, Option<u64>)>,
    locator: Locator,
}

impl FileChecks {
    /// Applies the file-level rules to the row on `line`, adding to its violations. Rows must
    /// come in the order the first pass saw them.
    pub fn admit(&mut self, line: u64, checked: &mut CheckedRow, columns: &Columns) -> Admission {
        let pan = checked.customer.as_ref().map(|c| c.pan.key());

        let key = checked.order_id.as_deref().map(order_id::key);
        if let (Some(order_id), Some(key)) = (&checked.order_id, key)
            && self.candidates.orders.contains(&digest(&key))
        {
            let (first_line, first_spelling, first_pan) =
                &*self.orders.entry(key).or_insert_with(|| (line, order_id.clone(), pan));
            // The same customer pasted twice is a duplicate, not a clash of order ids.
            let same_customer = pan.is_some() && *first_pan == pan;
            if *first_line != line && !same_customer {
                let value = order_id.clone();
                // Spelt otherwise there: one id all the same (see `order_id::key`).
                let spelt = if first_spelling == order_id {
                    String::new()
                } else {
                    format!(
                        " (written {} there: ids that differ only in case are one id)",
                        crate::mask::mask_identifiers_in(first_spelling)
                    )
                };
                checked.reject(Violation {
                    code: "order_id.repeat",
                    severity: Severity::Error,
                    column: columns.header(Field::OrderId).to_owned(),
                    value,
                    detail: format!(
                        "is also the order id of {}{spelt}: every row needs its own (or leave the \
                         cell empty to have one made)",
                        self.locator.row(*first_line)
                    ),
                    suggestion: None,
                    remedy: None,
                    position: columns.get(Field::OrderId),
                });
            }
        }

        let Some(customer) = &checked.customer else {
            return Admission::Invalid;
        };
        let pan = customer.pan.key();
        if self.candidates.pans.contains(&pan) {
            let first = *self.pans.entry(pan).or_insert(line);
            if first != line {
                return Admission::Duplicate { of_line: first };
            }
        }
        let mobile = customer.mobile.key();
        if self.candidates.mobiles.contains(&mobile) {
            let (mobile_line, mobile_pan) = *self.mobiles.entry(mobile).or_insert((line, pan));
            if mobile_line != line && mobile_pan != pan {
                let value = customer.mobile.to_string();
                checked.violations.push(Violation {
                    code: "mobile.shared",
                    severity: Severity::Warning,
                    column: columns.header(Field::Mobile).to_owned(),
                    value,
                    detail: format!(
                        "is also the mobile number of {}, which has a different PAN: check that it \
                         is this customer's own",
                        self.locator.row(mobile_line)
                    ),
                    suggestion: None,
                    remedy: None,
                    position: columns.get(Field::Mobile),
                });
            }
        }
        Admission::Valid
    }
}
