//! The config file (`cibil-bulk.toml`): its schema, where it is found, and its errors told without
//! quoting a secret. Unknown keys are refused, so a typo is an error instead of a setting silently
//! ignored. `samples/cibil-bulk.example.toml` documents every key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::SettingsError;
use crate::validate::DateOrder;

/// The config file read when `--config` is not given and it exists in the working directory.
pub const DEFAULT_CONFIG: &str = "cibil-bulk.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct ConfigFile {
    pub input: InputConfig,
    pub aopay: AopayConfig,
    pub run: RunConfig,
    pub serve: ServeConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct ServeConfig {
    /// How long the server keeps customers' personal data after a job (or a check) ended.
    pub keep_personal_data: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct AopayConfig {
    pub endpoint: Option<String>,
    pub method: Option<String>,
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
    pub registration_id: Option<String>,
    pub company_code: Option<String>,
    pub omit_empty_middle_name: Option<bool>,
    pub allow_insecure_http: Option<bool>,
    /// Extra request headers, e.g. an API gateway's key.
    pub headers: BTreeMap<String, String>,
}

/// The keys of `[aopay]` that never hold a secret: the only ones a parse error may quote.
const PLAIN_AOPAY_KEYS: [&str; 6] =
    ["endpoint", "method", "timeout", "connect_timeout", "omit_empty_middle_name", "allow_insecure_http"];

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RunConfig {
    pub state: Option<PathBuf>,
    pub rate: Option<String>,
    pub rate_mode: Option<String>,
    pub burst: Option<u32>,
    pub concurrency: Option<u32>,
    pub max_attempts: Option<u32>,
    pub max_consecutive_failures: Option<u32>,
    pub max_retry_after: Option<String>,
    pub lock_wait: Option<String>,
    /// `--metrics-file`, for `run` and `serve`.
    pub metrics_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct InputConfig {
    pub date_order: Option<DateOrder>,
    pub min_age: Option<u32>,
    pub excel_dates: Option<bool>,
    pub email_required: Option<bool>,
    pub encoding: Option<String>,
    pub delimiter: Option<String>,
    /// For workbooks: a sheet's name, or its position as a number.
    pub sheet: Option<SheetConfig>,
    pub header_row: Option<u32>,
    pub max_workbook_rows: Option<u64>,
    pub max_workbook_size: Option<String>,
    /// field = "Header"
    pub map: BTreeMap<String, String>,
}

/// `sheet = "Customers"` or `sheet = 2`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum SheetConfig {
    Name(String),
    Position(usize),
}

impl ConfigFile {
    /// Whether the file holds a secret: the merchant's credentials, or an extra header (a
    /// gateway's key is a credential too).
    pub fn holds_secrets(&self) -> bool {
        self.aopay.registration_id.is_some()
            || self.aopay.company_code.is_some()
            || !self.aopay.headers.is_empty()
    }
}

/// The config file named by `--config` (which must exist), else `cibil-bulk.toml` in `dir` when
/// there is one, else an empty one; with the path it has or would have.
pub(super) fn load(explicit: Option<&Path>, dir: &Path) -> Result<(ConfigFile, PathBuf), SettingsError> {
    let path = match explicit {
        Some(path) => path.to_owned(),
        None => {
            let default = dir.join(DEFAULT_CONFIG);
            if !default.is_file() {
                return Ok((ConfigFile::default(), default));
            }
            default
        }
    };
    // A config file others can write could send the credentials and every customer elsewhere.
    crate::private_file::refuse_untrusted("the config file", &path)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|source| SettingsError::ConfigRead { path: path.clone(), source })?;
    let config = toml::from_str(&text)
        .map_err(|e| SettingsError::ConfigParse { path: path.clone(), message: redacted_error(&text, &e) })?;
    Ok((config, path))
}

/// Where and what is wrong in a config file, without the excerpt of it that the TOML error's own
/// text shows: the file holds the credentials, and the line at fault may be theirs. On a line of
/// `[aopay]` that may hold a secret (the credentials, an extra header's value) even the parser's
/// message is left out, as it can quote the value (``invalid type: integer `1045` ``).
fn redacted_error(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        return error.message().to_owned();
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let section = before
        .lines()
        .filter_map(|l| l.trim().strip_prefix('[')?.split(']').next())
        .next_back()
        .unwrap_or_default()
        .trim();
    let line_text = text.lines().nth(line - 1).unwrap_or_default();
    let key = line_text.split('=').next().unwrap_or_default().trim().trim_matches('"');
    let secret = (section.starts_with("aopay") && !PLAIN_AOPAY_KEYS.contains(&key))
        || ["registration_id", "company_code"].contains(&key);
    if secret {
        let section = if section.starts_with("aopay") { section } else { "aopay" };
        format!(
            "line {line}: {key} cannot be read (the details are not shown, as they could quote a \
             secret): it must be a quoted string under [{section}], like {key} = \"...\""
        )
    } else {
        format!("line {line}, column {column}: {}", error.message())
    }
}

/// Credentials in a file others can read are credentials others have.
pub(super) fn warn_if_readable_by_others(path: &Path, warnings: &mut Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        warnings.push(format!(
            "{} holds credentials (AOPay's, or a header's) and other users can read it: chmod 600 {}",
            path.display(),
            path.display()
        ));
    }
}
