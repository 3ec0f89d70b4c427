//! The harness integration tests run the real binary through: a temporary directory that holds
//! the input files and receives the outputs, the command line and environment of one run, and
//! `#[track_caller]` assertions on what came out (exit status, terminal text, files written), so a
//! failing check points at the line of the test, not at this file.
//!
//! Every run is reproducible: the run date is pinned (`CIBIL_BULK_TODAY`, so ages never drift),
//! `CIBIL_BULK_*` settings leaking from the outer environment are removed, and the working
//! directory is the temporary one, so messages name files by relative paths (snapshots are the
//! same on every machine) and no `cibil-bulk.toml` of the developer's is read.

pub mod runs;
pub mod serving;

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use assert_cmd::Command;
use tempfile::TempDir;

/// The run date of every test.
pub const TODAY: &str = "2026-11-25";

/// The header line of a file with exactly the required columns, by their API names.
pub const HEADER: &str = "first_name,last_name,pancard,date_of_birth,email_id,mobile_number";

/// A customer row under [`HEADER`] that passes every rule, distinct in PAN, e-mail and mobile
/// for each `i` below 17 million.
pub fn customer(i: u32) -> String {
    format!("Ravi,Kumar,{},31/01/1985,c{i}@example.com,{}", pan(i), mobile(i))
}

/// The `i`th valid individual's PAN whose surname initial is K (matching "Kumar").
pub fn pan(i: u32) -> String {
    let letter = |n: u32| char::from(b'A' + u8::try_from(n % 26).unwrap_or(0));
    let (serial, block) = (i % 9999 + 1, i / 9999);
    format!("{}{}{}PK{serial:04}F", letter(block / 676), letter(block / 26), letter(block))
}

/// The `i`th valid mobile number.
pub fn mobile(i: u32) -> String {
    (9_000_000_000u64 + u64::from(i)).to_string()
}

/// An HTTP client for the tests' own requests, with rustls' cryptography installed first, as
/// `api::Client::new` does for the tool (reqwest is built without a provider of its own).
pub fn http_client() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// `lines` joined by `ending`, with a final line end, as a spreadsheet writes them.
pub fn lines(lines: &[&str], ending: &str) -> String {
    let mut out = lines.join(ending);
    out.push_str(ending);
    out
}

/// One run of `cibil-bulk`, being set up.
#[must_use]
#[derive(Debug)]
pub struct Test {
    dir: TempDir,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
}

impl Default for Test {
    fn default() -> Self {
        Self::new()
    }
}

impl Test {
    pub fn new() -> Test {
        Test { dir: tempfile::tempdir().expect("a temporary directory"), args: Vec::new(), env: Vec::new() }
    }

    /// Writes `bytes` exactly as given (any encoding, BOM, line ends) to `name` in the directory.
    #[track_caller]
    pub fn file(self, name: &str, bytes: impl AsRef<[u8]>) -> Test {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create the file's directory");
        }
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        self
    }

    /// Creates the directory `name`.
    #[track_caller]
    pub fn dir(self, name: &str) -> Test {
        std::fs::create_dir_all(self.dir.path().join(name)).expect("create the directory");
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Test {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the run (after the harness's own, so it can override
    /// `CIBIL_BULK_TODAY`).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Test {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The absolute path of `name` in the test's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the binary in the test's directory and collects what it did.
    #[track_caller]
    pub fn run(self) -> Run {
        let mut command = Command::cargo_bin("cibil-bulk").expect("the cibil-bulk binary");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CIBIL_BULK_") {
                command.env_remove(&key);
            }
        }
        command
            .env("CIBIL_BULK_TODAY", TODAY)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .args(&self.args)
            .current_dir(self.dir.path())
            // A hang fails the test instead of the whole suite.
            .timeout(Duration::from_secs(60));
        let output = command.output().expect("run cibil-bulk");
        Run {
            dir: self.dir,
            args: self.args,
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// What one run did: its exit status, its terminal output and the directory with its files.
/// A run nobody looks at proves nothing.
#[must_use]
#[derive(Debug)]
pub struct Run {
    dir: TempDir,
    args: Vec<OsString>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The run, for failure messages.
    fn describe(&self) -> String {
        let mut out = String::new();
        let args: Vec<_> = self.args.iter().map(|a| a.to_string_lossy()).collect();
        let _ = writeln!(out, "cibil-bulk {}\nexit: {:?}", args.join(" "), self.code);
        let _ = writeln!(out, "--- stdout ---\n{}--- stderr ---\n{}---", self.stdout, self.stderr);
        out
    }

    #[track_caller]
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, Some(expected), "unexpected exit status\n{}", self.describe());
        self
    }

    #[track_caller]
    pub fn stdout_contains(&self, text: &str) -> &Run {
        assert!(self.stdout.contains(text), "stdout lacks {text:?}\n{}", self.describe());
        self
    }

    #[track_caller]
    pub fn stderr_contains(&self, text: &str) -> &Run {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n{}", self.describe());
        self
    }

    /// Neither stdout nor stderr contains `text`.
    #[track_caller]
    pub fn terminal_lacks(&self, text: &str) -> &Run {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "the terminal shows {text:?}\n{}",
            self.describe()
        );
        self
    }

    #[track_caller]
    pub fn stderr_is_empty(&self) -> &Run {
        assert!(self.stderr.is_empty(), "stderr is not empty\n{}", self.describe());
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The names in the test's directory, sorted: to prove nothing else (no stray temporary
    /// file, no output) was left behind.
    pub fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("list the test directory")
            .map(|e| e.expect("a directory entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[track_caller]
    pub fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}\n{}", self.describe()))
    }

    /// The file's permission bits.
    #[track_caller]
    pub fn mode(&self, name: &str) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(self.path(name)).unwrap_or_else(|e| panic!("stat {name}: {e}"));
        meta.permissions().mode() & 0o777
    }

    /// A CSV file written by the run, read back as records.
    #[track_caller]
    pub fn csv(&self, name: &str) -> Csv {
        Csv::parse(&self.bytes(name))
    }

    /// A JSON file written by the run.
    #[track_caller]
    pub fn json(&self, name: &str) -> serde_json::Value {
        serde_json::from_slice(&self.bytes(name)).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
    }
}

/// A CSV file read back: whether it began with a UTF-8 BOM, its header and its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Csv {
    pub bom: bool,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Csv {
    #[track_caller]
    pub fn parse(bytes: &[u8]) -> Csv {
        let bom = bytes.starts_with(b"\xEF\xBB\xBF");
        let text = if bom { &bytes[3..] } else { bytes };
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text);
        let headers = reader.headers().expect("a header record").iter().map(str::to_owned).collect();
        let rows =
            reader.records().map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect()).collect();
        Csv { bom, headers, rows }
    }

    #[track_caller]
    fn index(&self, header: &str) -> usize {
        self.headers
            .iter()
            .position(|h| h == header)
            .unwrap_or_else(|| panic!("no column {header:?} in {:?}", self.headers))
    }

    /// Every cell of the column `header`, top to bottom.
    #[track_caller]
    pub fn column(&self, header: &str) -> Vec<&str> {
        let i = self.index(header);
        self.rows.iter().map(|r| r.get(i).map_or("", String::as_str)).collect()
    }

    /// The cell of `header` in the record whose `line` column (the report's) is `line`.
    #[track_caller]
    pub fn at_line(&self, line: u64, header: &str) -> &str {
        let (l, i) = (self.index("line"), self.index(header));
        let row = self
            .rows
            .iter()
            .find(|r| r[l] == line.to_string())
            .unwrap_or_else(|| panic!("no record for line {line}"));
        &row[i]
    }

    /// The lines the errors file's records are about, from their `error` cells (`line 7: …`).
    #[track_caller]
    pub fn error_lines(&self) -> Vec<u64> {
        self.column("error")
            .iter()
            .map(|cell| {
                let number = cell.strip_prefix("line ").and_then(|rest| rest.split(':').next());
                number.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{cell:?} names no line"))
            })
            .collect()
    }

    /// The `error` cell of the record for `line`.
    #[track_caller]
    pub fn error_of(&self, line: u64) -> &str {
        let prefix = format!("line {line}: ");
        let errors = self.column("error");
        let i = errors
            .iter()
            .position(|cell| cell.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no error for line {line} in {errors:#?}"));
        &self.rows[i][0]
    }

    /// The record whose `error` cell is about `line`, as written.
    #[track_caller]
    pub fn record_of(&self, line: u64) -> &[String] {
        let prefix = format!("line {line}: ");
        self.rows
            .iter()
            .find(|r| r[0].starts_with(&prefix))
            .unwrap_or_else(|| panic!("no record for line {line}"))
    }
}
