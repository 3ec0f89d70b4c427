//! The lost-state guard's evidence: what a results file already there records as registered (or
//! known), read back as the values the tool wrote — by order id, and by the PANs in those rows
//! (a made order id depends on the state's own secret, so a lost state is recognised by the PAN).
//! Read through `input`'s reader, with a workbook's bounds guard, and PANs judged by `validate`'s
//! own rule: the guard sees a results file exactly as a run would read a customer file.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::input::{self, ProbeOptions, RawRow, RowReader, SheetOptions, header_key};

/// What an existing results file records as registered. Empty when the file is absent or is not
/// a results file.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    pub order_ids: HashSet<String>,
    /// Every cell of a registered row that is a PAN, normalised as validation normalises one.
    pub pans: HashSet<String>,
}

impl Recorded {
    /// Whether the file records the customer with this PAN (normalised), or this order id.
    pub fn contains(&self, pan: &str, order_id: Option<&str>) -> bool {
        self.pans.contains(pan) || order_id.is_some_and(|id| self.order_ids.contains(id))
    }
}

/// What the results file at `path` records as registered: nothing when there is none, or it is
/// not a results file.
pub fn recorded_registrations(path: &Path) -> Recorded {
    read(path).unwrap_or_default()
}

/// Results files looked at beside an empty state, at most.
const MOST_RESULTS_FILES: usize = 32;

/// The lost-state guard's evidence for a run whose results go to `results`: what that file
/// records; and, when the state has recorded nothing at all (`state_is_empty`: a new file, or a
/// copy taken without its log), what every results file beside the state or the customer file
/// records — a state lost and started afresh is found by the results its runs left behind.
pub fn evidence(
    results: &Path,
    state: &Path,
    input: &Path,
    state_is_empty: bool,
) -> Vec<(Recorded, PathBuf)> {
    let mut found = vec![(recorded_registrations(results), results.to_owned())];
    if !state_is_empty {
        return found;
    }
    let mut dirs: Vec<PathBuf> = [state, input]
        .iter()
        .map(|p| p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_owned())
        .collect();
    dirs.dedup();
    let mut candidates: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| is_results_file(p) && p != results)
        .collect();
    candidates.sort();
    for path in candidates.into_iter().take(MOST_RESULTS_FILES) {
        let recorded = recorded_registrations(&path);
        if !recorded.pans.is_empty() || !recorded.order_ids.is_empty() {
            found.push((recorded, path));
        }
    }
    found
}

/// A results file by its name: `customers.results.csv`, `x.sandbox-results.xlsx`.
fn is_results_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    ["results.csv", "results.xlsx"]
        .iter()
        .any(|end| name.ends_with(&format!(".{end}")) || name.ends_with(&format!("-{end}")))
}

fn read(path: &Path) -> Option<Recorded> {
    // Only a file: a pipe or terminal named as the output (`--output /dev/stdout`) would be read
    // from, and wait for ever.
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let probe = input::probe(path, ProbeOptions::default()).ok()?;
    let options = SheetOptions { header_row: Some(1), ..SheetOptions::default() };
    let mut reader = RowReader::open(path, &probe, &[], &[], &options).ok()?;
    let headers = reader.columns().headers();
    let column = |name: &str| headers.iter().position(|h| header_key(h) == header_key(name));
    let (order_id, status) = (column("order_id")?, column("status")?);
    let mut recorded = Recorded::default();
    let mut row = RawRow::default();
    while reader.read_row(&mut row).ok()? {
        if !matches!(row.value(status).as_ref(), "registered" | "known") {
            continue;
        }
        let id = row.value(order_id);
        if !id.is_empty() {
            recorded.order_ids.insert(id.into_owned());
        }
        for i in 0..row.cells.len() {
            if let Some(pan) = crate::validate::valid_pan(&row.value(i)) {
                recorded.pans.insert(pan);
            }
        }
    }
    Some(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_are_read_back_as_the_values_the_tool_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.results.csv");
        // As written: a BOM, and order ids that start like a formula marked as text.
        let text =
            "\u{feff}line,order_id,status\n2,'-12,registered\n3,ORD-3,known\n4,'+4,failed\n5,,registered\n";
        std::fs::write(&path, text).unwrap();
        let found = recorded_registrations(&path);
        assert_eq!(found.order_ids, HashSet::from(["-12".to_owned(), "ORD-3".to_owned()]));

        std::fs::write(&path, "line,something,else\n2,a,b\n").unwrap();
        assert_eq!(recorded_registrations(&path), Recorded::default(), "not a results file");
        assert_eq!(recorded_registrations(&dir.path().join("absent.csv")), Recorded::default());
        // The PANs of registered rows, whatever column holds them and however they are written.
        std::fs::write(
            &path,
            "line,order_id,status,PAN No\n2,CB1,registered,abcpk 1234f\n3,CB2,failed,ABCPK1235F\n\
             4,CB4,known,ABCPK\u{a0}1236F\n",
        )
        .unwrap();
        let found = recorded_registrations(&path);
        // Read as validation reads a PAN: a spreadsheet's no-break space is no part of it.
        assert_eq!(found.pans, HashSet::from(["ABCPK1234F".to_owned(), "ABCPK1236F".to_owned()]));
        assert!(found.contains("ABCPK1234F", None) && !found.contains("ABCPK1235F", Some("CB9")));
    }
}
