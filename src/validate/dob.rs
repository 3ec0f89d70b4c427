//! Date of birth rules (CIBIL TUEF PN segment): the formats
//! spreadsheets export, day-first unless told otherwise, and a range that makes sense for an
//! adult. Also reports which day/month order a date *proves* (a part above 12), so that the file
//! as a whole can be stopped when its order is not the one assumed.

use std::sync::LazyLock;

use chrono::{Datelike, Days, NaiveDate};
use regex::Regex;

use super::{Finding, Remedy, Rules};

/// Which part of a numeric date is the day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    /// DD/MM/YYYY, the Indian default.
    #[default]
    Dmy,
    /// MM/DD/YYYY, what a spreadsheet set to a US locale exports.
    Mdy,
}

impl DateOrder {
    pub fn pattern(self) -> &'static str {
        match self {
            DateOrder::Dmy => "DD/MM/YYYY",
            DateOrder::Mdy => "MM/DD/YYYY",
        }
    }

    pub fn flag(self) -> &'static str {
        match self {
            DateOrder::Dmy => "dmy",
            DateOrder::Mdy => "mdy",
        }
    }

    pub fn other(self) -> DateOrder {
        match self {
            DateOrder::Dmy => DateOrder::Mdy,
            DateOrder::Mdy => DateOrder::Dmy,
        }
    }
}

/// The time part a spreadsheet may append to a date it exports (`2000-01-31 00:00:00`,
/// `1/31/2000 0:00`): only midnight, or the value is a timestamp, not a date.
static MIDNIGHT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[ T]+0?0:00(?::00(?:\.0+)?)?(?:\s*[AaPp]\.?[Mm]\.?)?Z?$").expect("valid regex")
});
static DAY_MONTH_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([0-9]{1,2})(?:st|nd|rd|th)?[-\s/.,]+([A-Za-z]{3,9})\.?[-\s/.,]+([0-9]+)$")
        .expect("valid regex")
});
static MONTH_NAME_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^([A-Za-z]{3,9})\.?[-\s/.]+([0-9]{1,2})(?:st|nd|rd|th)?,?[-\s/.]+([0-9]+)$")
        .expect("valid regex")
});
static SERIAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]{4,5})(?:\.0+)?$").expect("valid regex"));

const SHAPE: &str = "write it as DD/MM/YYYY, like 31/01/1985";

fn month_number(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let name = name.to_ascii_lowercase();
    if name == "sept" {
        return Some(9);
    }
    MONTHS
        .iter()
        .position(|m| name.len() >= 3 && m.starts_with(name.as_str()))
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// The first day CIBIL accepts: dates on or before 1900-01-01 are placeholders, not birthdays.
fn floor() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Excel's 1900 date system (ECMA-376): serial 1 is 1900-01-01, and serial 60 is the
/// 29 February 1900 that never existed, so from serial 61 on the base is 1899-12-30.
pub fn from_excel_serial(serial: u32) -> Option<NaiveDate> {
    let base = match serial {
        0 | 60 => return None,
        1..=59 => NaiveDate::from_ymd_opt(1899, 12, 31)?,
        _ => NaiveDate::from_ymd_opt(1899, 12, 30)?,
    };
    base.checked_add_days(Days::new(u64::from(serial)))
}

/// What one cell says: the date if there is one, and the day/month order it proves if it does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DobCheck {
    pub date: Option<NaiveDate>,
    pub evidence: Option<DateOrder>,
}

pub fn check(raw: &str, rules: &Rules, findings: &mut Vec<Finding>) -> DobCheck {
    let raw = raw.trim();
    let mut out = DobCheck::default();
    if raw.is_empty() {
        findings.push(Finding::error("dob.missing", format!("is empty: {SHAPE}")));
        return out;
    }
    let parsed = parse(raw, rules, &mut out.evidence);
    let date = match parsed {
        Ok(date) => date,
        Err(finding) => {
            findings.push(finding);
            return out;
        }
    };
    if date <= floor() {
        findings
            .push(Finding::error("dob.range", format!("is not after 01/01/1900: check the year; {SHAPE}")));
        return out;
    }
    if date > rules.today {
        findings.push(Finding::error("dob.future", "is in the future: check the year".into()));
        return out;
    }
    let age = rules.today.years_since(date).unwrap_or(0);
    if age < rules.min_age {
        findings.push(
            Finding::error(
                "dob.underage",
                format!("makes the customer {age} years old; registration needs at least {}", rules.min_age),
            )
            .remedy(Remedy::MinAge),
        );
        return out;
    }
    if age > 100 {
        findings
            .push(Finding::warning("dob.age", format!("makes the customer {age} years old: check the year")));
    }
    out.date = Some(date);
    out
}

fn parse(raw: &str, rules: &Rules, evidence: &mut Option<DateOrder>) -> Result<NaiveDate, Finding> {
    let not_a_date = || Finding::error("dob.format", format!("is not a date this tool can read: {SHAPE}"));
    let not_real = || Finding::error("dob.invalid", format!("is not a real calendar date: {SHAPE}"));
    let num = |s: &str| s.parse::<u32>().unwrap_or(u32::MAX);

    if let Some((first, second, third)) = numeric_parts(raw) {
        if first.len() == 4 {
            // ISO: year, month, day.
            if second.len() > 2 || third.len() > 2 {
                return Err(not_a_date());
            }
            return ymd(num(first), num(second), num(third)).ok_or_else(not_real);
        }
        if second.len() > 2 {
            return Err(not_a_date());
        }
        let year = year(third)?;
        let (a, b) = (num(first), num(second));
        *evidence = match (a > 12, b > 12) {
            (true, false) => Some(DateOrder::Dmy),
            (false, true) => Some(DateOrder::Mdy),
            _ => None,
        };
        let (day, month) = match rules.date_order {
            DateOrder::Dmy => (a, b),
            DateOrder::Mdy => (b, a),
        };
        if let Some(date) = ymd(year, month, day) {
            return Ok(date);
        }
        if month > 12 && ymd(year, day, month).is_some() {
            let order = rules.date_order;
            return Err(Finding::error(
                "dob.order",
                format!(
                    "cannot be {}: {} is not a month. It reads as {}",
                    order.pattern(),
                    month,
                    order.other().pattern(),
                ),
            )
            .remedy(Remedy::DateOrder(order.other())));
        }
        return Err(not_real());
    }
    if let Some(c) = DAY_MONTH_NAME.captures(raw) {
        let month = month_number(&c[2]).ok_or_else(not_a_date)?;
        return ymd(year(&c[3])?, month, num(&c[1])).ok_or_else(not_real);
    }
    if let Some(c) = MONTH_NAME_DAY.captures(raw) {
        let month = month_number(&c[1]).ok_or_else(not_a_date)?;
        return ymd(year(&c[3])?, month, num(&c[2])).ok_or_else(not_real);
    }
    if let Some(c) = SERIAL.captures(raw) {
        if !rules.excel_dates {
            return Err(Finding::error(
                "dob.excel_serial",
                "looks like an Excel date number (36526 is 01/01/2000), not a date: format the \
                 column as a date (DD/MM/YYYY) and export again"
                    .into(),
            )
            .remedy(Remedy::ExcelDates));
        }
        return from_excel_serial(num(&c[1])).ok_or_else(not_real);
    }
    Err(not_a_date())
}

/// `31/01/1985`, `1985-01-31`, `31.1.1985 00:00`: three runs of digits split twice by the same
/// separator, perhaps followed by a midnight time. Read by hand, as nearly every row takes this
/// path. `None` for anything else, which the other forms then try.
fn numeric_parts(raw: &str) -> Option<(&str, &str, &str)> {
    let bytes = raw.as_bytes();
    let digits_end = |from: usize| {
        from + bytes.get(from..).map_or(0, |b| b.iter().take_while(|b| b.is_ascii_digit()).count())
    };
    let first = digits_end(0);
    let separator = *bytes.get(first).filter(|b| matches!(b, b'/' | b'-' | b'.'))?;
    let second = digits_end(first + 1);
    if first == 0 || second == first + 1 || bytes.get(second) != Some(&separator) {
        return None;
    }
    let third = digits_end(second + 1);
    if third == second + 1 {
        return None;
    }
    let tail = &raw[third..];
    if !tail.is_empty() && !MIDNIGHT.is_match(tail) {
        return None;
    }
    Some((&raw[..first], &raw[first + 1..second], &raw[second + 1..third]))
}

fn year(text: &str) -> Result<u32, Finding> {
    match text.len() {
        4 => Ok(text.parse().unwrap_or(0)),
        1 | 2 => Err(Finding::error(
            "dob.two_digit_year",
            format!("has a two-digit year, which could be 19xx or 20xx: {SHAPE}"),
        )),
        _ => Err(Finding::error("dob.format", format!("does not have a four-digit year: {SHAPE}"))),
    }
}

fn ymd(year: u32, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// The form the vendor expects: `DD/MM/YYYY`.
pub fn format(date: NaiveDate) -> String {
    format!("{:02}/{:02}/{:04}", date.day(), date.month(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(order: DateOrder, excel_dates: bool) -> Rules {
        Rules { date_order: order, excel_dates, ..Rules::new(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()) }
    }

    fn dmy(raw: &str) -> (Option<String>, Vec<&'static str>) {
        run(raw, &rules(DateOrder::Dmy, false))
    }

    fn run(raw: &str, rules: &Rules) -> (Option<String>, Vec<&'static str>) {
        let mut f = Vec::new();
        let d = check(raw, rules, &mut f).date.map(format);
        (d, f.iter().map(|f| f.code).collect())
    }

    #[test]
    fn every_accepted_format_reads_the_same_day() {
        for raw in [
            "31/01/2000",
            "31/1/2000",
            "31-01-2000",
            "31.01.2000",
            "2000-01-31",
            "2000-01-31 00:00:00",
            "2000-01-31T00:00:00",
            "2000/01/31",
            "31-Jan-2000",
            "31 Jan 2000",
            "31 January 2000",
            "31-JAN-2000",
            "Jan 31, 2000",
            "31/01/2000 00:00",
        ] {
            assert_eq!(dmy(raw), (Some("31/01/2000".into()), vec![]), "{raw}");
        }
        assert_eq!(dmy("1/2/2000").0.as_deref(), Some("01/02/2000"));
    }

    #[test]
    fn iso_and_day_first_are_equal() {
        let r = rules(DateOrder::Dmy, false);
        let mut f = Vec::new();
        assert_eq!(check("2000-01-31", &r, &mut f).date, check("31/01/2000", &r, &mut f).date);
        assert!(f.is_empty());
    }

    #[test]
    fn month_first_when_told() {
        let r = rules(DateOrder::Mdy, false);
        assert_eq!(run("01/31/2000", &r).0.as_deref(), Some("31/01/2000"));
        assert_eq!(run("31/01/2000", &r).1, vec!["dob.order"]);
        // Unambiguous forms ignore the order.
        assert_eq!(run("2000-01-31", &r).0.as_deref(), Some("31/01/2000"));
    }

    #[test]
    fn a_date_that_only_fits_the_other_order_is_evidence() {
        let r = rules(DateOrder::Dmy, false);
        let mut f = Vec::new();
        let c = check("12/25/1990", &r, &mut f);
        assert_eq!(c, DobCheck { date: None, evidence: Some(DateOrder::Mdy) });
        assert_eq!(f[0].code, "dob.order");
        assert_eq!(f[0].remedy, Some(Remedy::DateOrder(DateOrder::Mdy)), "{}", f[0].detail);
        let c = check("25/12/1990", &r, &mut Vec::new());
        assert_eq!(c.evidence, Some(DateOrder::Dmy));
        assert_eq!(check("05/06/1990", &r, &mut Vec::new()).evidence, None);
    }

    #[test]
    fn rejects_what_is_not_a_birthday() {
        assert_eq!(dmy("13/13/2000").1, vec!["dob.invalid"]);
        assert_eq!(dmy("31/02/2000").1, vec!["dob.invalid"]);
        assert_eq!(dmy("31/01/85").1, vec!["dob.two_digit_year"]);
        assert_eq!(dmy("31/01/19850").1, vec!["dob.format"]);
        assert_eq!(dmy("").1, vec!["dob.missing"]);
        assert_eq!(dmy("yesterday").1, vec!["dob.format"]);
        assert_eq!(dmy("31/01-2000").1, vec!["dob.format"]);
        assert_eq!(dmy("31 Foo 2000").1, vec!["dob.format"]);
        assert_eq!(dmy("2000-01-31 10:30:00").1, vec!["dob.format"]);
        assert_eq!(dmy("01/01/1900").1, vec!["dob.range"]);
        assert_eq!(dmy("01/01/1850").1, vec!["dob.range"]);
        assert_eq!(dmy("01/01/2030").1, vec!["dob.future"]);
    }

    #[test]
    fn age_limits() {
        // 18 on the run date is old enough; a day short is not.
        assert_eq!(dmy("25/11/2008"), (Some("25/11/2008".into()), vec![]));
        assert_eq!(dmy("26/11/2008").1, vec!["dob.underage"]);
        let r = Rules { min_age: 21, ..rules(DateOrder::Dmy, false) };
        assert_eq!(run("25/11/2008", &r).1, vec!["dob.underage"]);
        assert_eq!(dmy("01/01/1920"), (Some("01/01/1920".into()), vec!["dob.age"]));
    }

    #[test]
    fn excel_serials_only_behind_the_flag() {
        assert_eq!(dmy("36526").1, vec!["dob.excel_serial"]);
        let r = rules(DateOrder::Dmy, true);
        assert_eq!(run("36526", &r).0.as_deref(), Some("01/01/2000"));
        assert_eq!(run("36526.0", &r).0.as_deref(), Some("01/01/2000"));
        assert_eq!(from_excel_serial(61), NaiveDate::from_ymd_opt(1900, 3, 1));
        assert_eq!(from_excel_serial(59), NaiveDate::from_ymd_opt(1900, 2, 28));
        assert_eq!(from_excel_serial(60), None);
        assert_eq!(from_excel_serial(1), NaiveDate::from_ymd_opt(1900, 1, 1));
    }
}
