//! The settings as the user gives them: each layer, each origin in errors, each default.

use std::time::Duration;

use super::config::ConfigFile;
use super::parse::{bounded_duration, parse_endpoint, parse_rate};
use super::*;
use crate::api::{Method, PRODUCTION_ENDPOINT};
use crate::input::{ProbeOptions, TextEncoding};
use crate::sandbox::SandboxConfig;
use crate::validate::DateOrder;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

fn resolve(args: &[&str], config: Option<&str>) -> Result<InputSettings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    if let Some(text) = config {
        std::fs::write(dir.path().join(DEFAULT_CONFIG), text).unwrap();
    }
    let cli = Cli::try_parse_args_from([&["cibil-bulk", "validate", "f.csv"], args].concat()).unwrap();
    let CommandSettings::Validate(v) = Settings::resolve_in(&cli, dir.path(), today(), &|_| None)?.command
    else {
        panic!("not validate")
    };
    Ok(v.input)
}

#[test]
fn defaults() {
    let s = resolve(&[], None).unwrap();
    assert_eq!(
        (s.date_order, s.date_order_explicit, s.min_age, s.email_required),
        (DateOrder::Dmy, false, 18, true)
    );
    assert_eq!(s.probe, ProbeOptions::default());
    assert_eq!(s.today, today());
}

#[test]
fn flags_override_the_config_file() {
    let config = "[input]\nmin_age = 21\ndate_order = \"mdy\"\ndelimiter = \";\"\n[input.map]\npancard = \"PAN Number\"\nmobile = \"Phone 1\"\n";
    let s = resolve(&[], Some(config)).unwrap();
    assert_eq!((s.min_age, s.date_order, s.date_order_explicit), (21, DateOrder::Mdy, true));
    assert_eq!(s.probe.delimiter, Some(b';'));
    assert_eq!(s.map, vec![(Field::Mobile, "Phone 1".into()), (Field::Pan, "PAN Number".into())]);

    let s = resolve(
        &["--min-age", "25", "--date-order", "dmy", "--map", "pan=Tax Id", "--delimiter", "tab"],
        Some(config),
    )
    .unwrap();
    assert_eq!((s.min_age, s.date_order), (25, DateOrder::Dmy));
    assert_eq!(s.probe.delimiter, Some(b'\t'));
    assert_eq!(s.map, vec![(Field::Mobile, "Phone 1".into()), (Field::Pan, "Tax Id".into())]);
}

#[test]
fn booleans_and_encodings() {
    let s = resolve(&["--email-optional", "--excel-dates", "--encoding", "cp1252"], None).unwrap();
    assert!(!s.email_required && s.excel_dates);
    assert_eq!(s.probe.encoding, Some(TextEncoding::Windows1252));
    let s = resolve(&["--email-optional=false"], Some("[input]\nemail_required = false\n")).unwrap();
    assert!(s.email_required);
}

#[test]
fn bad_values_name_their_origin() {
    let err = resolve(&["--map", "colour=Red"], None).unwrap_err().to_string();
    assert!(err.starts_with("--map: \"colour=Red\""), "{err}");
    let err = resolve(&["--map", "pancard"], None).unwrap_err().to_string();
    assert!(err.contains("FIELD=HEADER"), "{err}");
    let err = resolve(&["--delimiter", "ab"], None).unwrap_err().to_string();
    assert!(err.starts_with("--delimiter: \"ab\""), "{err}");
    let err = resolve(&[], Some("[input]\nmin_agee = 3\n")).unwrap_err().to_string();
    assert!(err.contains("cibil-bulk.toml") && err.contains("min_agee"), "{err}");
    let err = resolve(&[], Some("[input]\nencoding = \"ebcdic\"\n")).unwrap_err().to_string();
    assert!(err.contains("[input] encoding: \"ebcdic\""), "{err}");
    assert!(resolve(&["--min-age", "200"], None).is_err());
}

#[test]
fn credentials_on_the_command_line_are_refused_without_being_echoed() {
    for args in [
        &["--registration-id", "AOP-554"][..],
        &["--registration-id=AOP-554"],
        &["--RegistrationID", "AOP-554"],
        &["--company-code", "AOP-554"],
        &["--company_code=AOP-554"],
    ] {
        let err = resolve_run(args, None, &CREDS).unwrap_err();
        assert!(matches!(err, SettingsError::CredentialsOnCommandLine { .. }), "{args:?}: {err}");
        let text = err.to_string();
        assert!(!text.contains("AOP-554") && text.contains(ENV_REGISTRATION_ID), "{text}");
    }
    // On any command, not only `run`.
    let cli =
        Cli::try_parse_args_from(["cibil-bulk", "validate", "x.csv", "--company-code", "CMP1045"]).unwrap();
    let err = Settings::resolve_in(&cli, Path::new("."), today(), &|_| None).unwrap_err();
    assert!(!err.to_string().contains("CMP1045"), "{err}");
}

#[test]
fn config_errors_never_quote_a_secret() {
    for (text, secret) in [
        ("[aopay]\nregistration_id = AOP-554\n", "AOP-554"),
        ("[aopay]\ncompany_code = 1045\n", "1045"),
        ("[aopay]\nregistration_id = \"AOP-554\"\ncompany_code = \"CMP1045\n", "CMP1045"),
        ("[aopay.headers]\nX-Api-Key = 918273\n", "918273"),
        ("[run]\nregistration_id = \"AOP-554\"\n", "AOP-554"),
    ] {
        let err = resolve(&[], Some(text)).unwrap_err().to_string();
        let line = text.lines().position(|l| l.contains(secret)).unwrap_or_default() + 1;
        assert!(err.contains(&format!("line {line}:")) && !err.contains(secret), "{text:?}: {err}");
    }
    // Elsewhere the parser's message is kept, with where it is.
    let err = resolve(&[], Some("[run]\nrate = 5s\n")).unwrap_err().to_string();
    assert!(err.contains("line 2, column 8: string values must be quoted"), "{err}");
}

#[test]
fn the_example_config_file_is_valid() {
    let text = include_str!("../../samples/cibil-bulk.example.toml");
    let config: ConfigFile = toml::from_str(text).expect("the example parses");
    assert_eq!(config.run.rate.as_deref(), Some("10/s"));
    let uncommented: String = text
        .lines()
        .map(|l| l.strip_prefix("# ").filter(|l| l.contains(" = ")).unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    toml::from_str::<ConfigFile>(&uncommented).expect("the commented-out keys are valid too");
}

#[test]
fn rates_durations_and_endpoints() {
    let rate = parse_rate("600/m").unwrap();
    assert_eq!((rate.requests.get(), rate.per), (600, Duration::from_secs(60)));
    assert_eq!(parse_rate("25").unwrap().per_second(), 25.0);
    for bad in ["0/s", "-1/s", "ten/s", "5/fortnight", "2.5/s", ""] {
        assert!(parse_rate(bad).is_none(), "{bad}");
    }
    assert_eq!(bounded_duration("30s").unwrap(), Duration::from_secs(30));
    assert_eq!(bounded_duration("500ms").unwrap(), Duration::from_millis(500));
    assert_eq!(bounded_duration("1.5s").unwrap(), Duration::from_millis(1500));
    assert_eq!(bounded_duration("2m").unwrap(), Duration::from_secs(120));
    for bad in ["0s", "0", "forever", "-3s", "3 days", "NaNs", "2d"] {
        assert!(bounded_duration(bad).is_none(), "{bad}");
    }
    assert!(parse_endpoint("https://api.aopay.co.in/x", Origin::Default, false).is_ok());
    assert!(parse_endpoint("http://127.0.0.1:8080/x", Origin::Default, false).is_ok());
    assert!(parse_endpoint("http://localhost:8080/x", Origin::Default, false).is_ok());
    assert!(matches!(
        parse_endpoint("http://api.aopay.co.in/x", Origin::Default, false),
        Err(SettingsError::InsecureEndpoint { .. })
    ));
    assert!(parse_endpoint("http://api.aopay.co.in/x", Origin::Default, true).is_ok());
    assert!(parse_endpoint("ftp://x/y", Origin::Default, true).is_err());
    assert!(parse_endpoint("not a url", Origin::Default, true).is_err());
}

fn resolve_run(
    args: &[&str],
    config: Option<&str>,
    env: &[(&str, &str)],
) -> Result<(RunSettings, Vec<String>), SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    if let Some(text) = config {
        std::fs::write(dir.path().join(DEFAULT_CONFIG), text).unwrap();
    }
    let cli = Cli::try_parse_args_from([&["cibil-bulk", "run", "in/customers.csv"], args].concat()).unwrap();
    let env = |name: &str| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
    let settings = Settings::resolve_in(&cli, dir.path(), today(), &env)?;
    let CommandSettings::Run(run) = settings.command else { panic!("not run") };
    Ok((*run, settings.warnings))
}

const CREDS: [(&str, &str); 2] = [(ENV_REGISTRATION_ID, "AOP-554"), (ENV_COMPANY_CODE, "CMP1045")];

#[test]
fn run_defaults_and_credentials_from_the_environment() {
    let (run, _) = resolve_run(&[], None, &CREDS).unwrap();
    assert_eq!(run.api.credentials.registration_id, "AOP-554");
    assert_eq!(run.api.endpoint.as_str(), PRODUCTION_ENDPOINT);
    assert_eq!((run.api.method, run.api.timeout), (Method::Get, Duration::from_secs(30)));
    assert_eq!((run.engine.concurrency.get(), run.engine.rate.to_string()), (8, "10/s".to_owned()));
    assert_eq!(run.state, PathBuf::from(DEFAULT_STATE));
    assert_eq!(
        run.outputs(false),
        (PathBuf::from("in/customers.results.csv"), PathBuf::from("in/customers.errors.csv"))
    );
    assert_eq!(
        run.outputs(true),
        (PathBuf::from("in/customers.results.xlsx"), PathBuf::from("in/customers.errors.xlsx"))
    );
}

#[test]
fn no_credentials_is_an_error_unless_nothing_real_is_sent() {
    let err = resolve_run(&[], None, &[]).unwrap_err();
    assert!(matches!(err, SettingsError::NoCredentials { .. }));
    assert!(err.to_string().contains(ENV_REGISTRATION_ID));
    let (run, _) = resolve_run(&["--sandbox"], None, &[]).unwrap();
    assert_eq!(run.state, PathBuf::from(DEFAULT_SANDBOX_STATE));
    assert_eq!(
        run.outputs(false),
        (PathBuf::from("in/customers.sandbox-results.csv"), PathBuf::from("in/customers.sandbox-errors.csv"))
    );
    assert!(resolve_run(&["--dry-run"], None, &[]).is_ok());
}

#[test]
fn run_settings_from_the_config_file_and_flags() {
    let config = "[aopay]\nregistration_id = \"AOP-9\"\ncompany_code = \"CMP9\"\nmethod = \"post\"\ntimeout = \"45s\"\n\
                  [aopay.headers]\nX-Api-Key = \"k\"\n[run]\nrate = \"120/m\"\nconcurrency = 4\nstate = \"branch.db\"\n";
    let (run, warnings) = resolve_run(&["--concurrency", "16"], Some(config), &[]).unwrap();
    assert_eq!(run.api.credentials.company_code, "CMP9");
    assert_eq!((run.api.method, run.api.timeout), (Method::Post, Duration::from_secs(45)));
    assert_eq!(run.api.headers, vec![("X-Api-Key".to_owned(), "k".to_owned())]);
    assert_eq!((run.engine.rate.to_string(), run.engine.concurrency.get()), ("120/m".to_owned(), 16));
    assert_eq!(run.state, PathBuf::from("branch.db"));
    // The environment wins over the file.
    let (run, _) = resolve_run(&[], Some(config), &CREDS).unwrap();
    assert_eq!(run.api.credentials.registration_id, "AOP-554");
    // A config file with credentials that others can read is worth a warning.
    assert!(warnings.iter().any(|w| w.contains("chmod 600")), "{warnings:?}");
}

#[test]
fn bad_run_values_name_their_origin() {
    let err = resolve_run(&["--concurrency", "0"], None, &CREDS).unwrap_err().to_string();
    assert!(err.starts_with("--concurrency: \"0\""), "{err}");
    let err = resolve_run(&["--rate", "fast"], None, &CREDS).unwrap_err().to_string();
    assert!(err.starts_with("--rate: \"fast\""), "{err}");
    let err = resolve_run(&["--endpoint", "http://10.0.0.5/x"], None, &CREDS).unwrap_err();
    assert!(matches!(err, SettingsError::InsecureEndpoint { .. }));
    assert!(resolve_run(&["--endpoint", "http://10.0.0.5/x", "--allow-insecure-http"], None, &CREDS).is_ok());
    let err = resolve_run(&[], Some("[run]\nburst = 0\n"), &CREDS).unwrap_err().to_string();
    assert!(err.contains("[run] burst"), "{err}");
}

#[test]
fn an_explicit_config_file_must_exist() {
    let cli =
        Cli::try_parse_args_from(["cibil-bulk", "validate", "f.csv", "--config", "/nonexistent/c.toml"])
            .unwrap();
    let err = Settings::resolve_in(&cli, Path::new("."), today(), &|_| None).unwrap_err();
    assert!(matches!(err, SettingsError::ConfigRead { .. }));
}

fn sandbox(args: &[&str]) -> Result<SandboxSettings, SettingsError> {
    let cli = Cli::try_parse_args_from([&["cibil-bulk", "sandbox"], args].concat()).unwrap();
    match Settings::resolve_in(&cli, Path::new("/nonexistent"), today(), &|_| None)?.command {
        CommandSettings::Sandbox(s) => Ok(s),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sandbox_defaults_are_loopback_and_fault_free() {
    let s = sandbox(&[]).unwrap();
    assert_eq!(s.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.config, SandboxConfig::default());
}

#[test]
fn sandbox_flags_reach_the_config() {
    let s = sandbox(&[
        "--listen",
        "9000",
        "--latency",
        "1.5s",
        "--jitter",
        "10ms",
        "--error-rate",
        "0.05",
        "--throttle-rate",
        "0.02",
        "--hang-rate",
        "0.01",
        "--reset-rate",
        "0.01",
        "--garbage-rate",
        "0.01",
        "--commit-before-fault",
        "0.5",
        "--rate-limit",
        "20",
        "--seed",
        "7",
        "--numeric-cibil-id",
    ])
    .unwrap();
    assert_eq!(s.listen, "127.0.0.1:9000".parse().unwrap());
    let c = &s.config;
    assert_eq!((c.latency, c.jitter), (Duration::from_millis(1500), Duration::from_millis(10)));
    assert_eq!(
        (c.error_rate, c.throttle_rate, c.hang_rate, c.reset_rate, c.garbage_rate),
        (0.05, 0.02, 0.01, 0.01, 0.01)
    );
    assert_eq!((c.rate_limit, c.seed, c.numeric_cibil_id), (Some(20), Some(7), true));
    assert_eq!(c.commit_before_fault, 0.5);
    assert_eq!(c.registration_id, crate::sandbox::SANDBOX_REGISTRATION_ID);
}

#[test]
fn bad_sandbox_flags_name_the_flag() {
    for (args, start) in [
        (&["--error-rate", "2"][..], "--error-rate: \"2\""),
        (&["--hang-rate=-0.1"][..], "--hang-rate: \"-0.1\""),
        (&["--garbage-rate", "NaN"][..], "--garbage-rate: \"NaN\""),
        (&["--latency", "50"][..], "--latency: \"50\""),
        (&["--jitter", "fast"][..], "--jitter: \"fast\""),
        (&["--listen", "example.com:80"][..], "--listen: \"example.com:80\""),
        (&["--rate-limit", "0"][..], "--rate-limit: \"0\""),
        (&["--commit-before-fault", "1.5"][..], "--commit-before-fault: \"1.5\""),
    ] {
        let err = sandbox(args).unwrap_err().to_string();
        assert!(err.starts_with(start), "{args:?}: {err}");
    }
    let err = sandbox(&["--error-rate", "0.5", "--reset-rate", "0.75"]).unwrap_err().to_string();
    assert!(err.contains("add up to 1.25") && err.contains("(--error-rate + --reset-rate)"), "{err}");
}

#[test]
fn durations_as_people_write_them() {
    let ms = Duration::from_millis;
    for (text, expected) in [
        ("50ms", ms(50)),
        ("2s", ms(2000)),
        ("1.5s", ms(1500)),
        ("0", ms(0)),
        ("0s", ms(0)),
        ("1m30s", ms(90_000)),
        (" 250us ", Duration::from_micros(250)),
        ("1h", Duration::from_secs(3600)),
        ("30d", Duration::from_secs(30 * 86_400)),
    ] {
        assert_eq!(parse_duration(text), Some(expected), "{text}");
    }
    for text in ["", "50", "ms", "5 s", "1.s", ".5s", "-1s", "1w", "1.2.3s", "5sec"] {
        assert_eq!(parse_duration(text), None, "{text}");
    }
}

#[test]
fn listen_addresses() {
    assert_eq!(parse_listen("127.0.0.1:0"), Some("127.0.0.1:0".parse().unwrap()));
    assert_eq!(parse_listen("[::1]:8080"), Some("[::1]:8080".parse().unwrap()));
    assert_eq!(parse_listen("localhost:81"), Some("127.0.0.1:81".parse().unwrap()));
    assert_eq!(parse_listen("0.0.0.0:8080"), Some("0.0.0.0:8080".parse().unwrap()));
    assert_eq!(parse_listen("localhost"), None);
    assert_eq!(parse_listen("65536"), None);
}

#[test]
fn every_error_names_where_the_value_came_from() {
    // A flag.
    let err = resolve(&["--min-age", "200"], None).unwrap_err().to_string();
    assert!(err.starts_with("--min-age: \"200\" is not an age between 0 and 120"), "{err}");
    // A config key: never reported as the flag that was not given.
    for (text, key) in [
        ("[input]\nmin_age = 200\n", "[input] min_age: \"200\""),
        ("[input]\nheader_row = 0\n", "[input] header_row: \"0\""),
        ("[input]\ndelimiter = \"ab\"\n", "[input] delimiter: \"ab\""),
    ] {
        let err = resolve(&[], Some(text)).unwrap_err().to_string();
        assert!(err.contains(&format!("{DEFAULT_CONFIG} {key}")) && !err.contains("--"), "{text:?}: {err}");
    }
    for (text, key) in [
        ("[run]\nmax_attempts = 101\n", "[run] max_attempts: \"101\" is not a whole number from 1 to 100"),
        ("[run]\nconcurrency = 2000\n", "[run] concurrency: \"2000\" is not a whole number from 1 to 1024"),
        ("[aopay]\nconnect_timeout = \"0s\"\n", "[aopay] connect_timeout: \"0s\" is not a duration"),
        (
            "[aopay]\nendpoint = \"http://10.0.0.5/x\"\n",
            "[aopay] endpoint: http://10.0.0.5/x is plain http://",
        ),
        ("[aopay]\nmethod = \"PUT\"\n", "[aopay] method: \"PUT\" is not get or post"),
    ] {
        let err = resolve_run(&[], Some(text), &CREDS).unwrap_err().to_string();
        assert!(err.contains(&format!("{DEFAULT_CONFIG} {key}")), "{text:?}: {err}");
    }
    // Each number names its own range, not one shared by all.
    let err = resolve_run(&["--max-attempts", "500"], None, &CREDS).unwrap_err().to_string();
    assert_eq!(err, "--max-attempts: \"500\" is not a whole number from 1 to 100");
    let err = resolve_run(&["--endpoint", "http://10.0.0.5/x"], None, &CREDS).unwrap_err().to_string();
    assert!(err.starts_with("--endpoint: http://10.0.0.5/x is plain http://"), "{err}");
}

#[test]
fn a_flag_beats_the_config_file_only_when_given() {
    // clap holds every default; only a value the user gave may hide the config file's.
    let (run, _) = resolve_run(&[], Some("[run]\nconcurrency = 3\nrate = \"7/s\"\n"), &CREDS).unwrap();
    assert_eq!((run.engine.concurrency.get(), run.engine.rate.to_string()), (3, "7/s".to_owned()));
    let (run, _) = resolve_run(&["--concurrency", "8"], Some("[run]\nconcurrency = 3\n"), &CREDS).unwrap();
    assert_eq!(run.engine.concurrency.get(), 8, "8 typed is not the default 8");
    let s = resolve(&[], Some("[input]\nmin_age = 21\n")).unwrap();
    assert_eq!(s.min_age, 21);
}

#[test]
fn help_shows_the_defaults_the_program_uses() {
    use clap::CommandFactory;
    let help = |command: &str| {
        let mut cli = crate::cli::Cli::command();
        cli.build();
        cli.find_subcommand_mut(command).expect(command).render_long_help().to_string()
    };
    let run = help("run");
    for (flag, default) in [
        ("--rate", crate::engine::DEFAULT_RATE.to_string()),
        ("--burst", crate::engine::DEFAULT_BURST.to_string()),
        ("--concurrency", crate::engine::DEFAULT_CONCURRENCY.to_string()),
        ("--timeout", show_duration(crate::api::DEFAULT_TIMEOUT)),
        ("--max-attempts", crate::engine::DEFAULT_MAX_ATTEMPTS.to_string()),
        ("--max-consecutive-failures", crate::engine::DEFAULT_MAX_CONSECUTIVE_FAILURES.to_string()),
        ("--max-retry-after", show_duration(crate::engine::DEFAULT_MAX_RETRY_AFTER)),
        ("--method", crate::api::DEFAULT_METHOD.as_str().to_ascii_lowercase()),
        ("--state", DEFAULT_STATE.to_owned()),
        ("--min-age", crate::validate::DEFAULT_MIN_AGE.to_string()),
    ] {
        // The flag's entry: its line, and those below it up to the next flag's.
        let entry: String = run
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(&format!("{flag} <")))
            .enumerate()
            .take_while(|(i, l)| *i == 0 || !l.trim_start().starts_with('-'))
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let shown: Vec<&str> = entry
            .match_indices("[default: ")
            .map(|(i, _)| entry[i + 10..].split(']').next().unwrap())
            .collect();
        assert_eq!(shown, [default.as_str()], "{flag}: {entry}");
    }
    assert!(help("sandbox").contains(&format!("[default: {DEFAULT_SANDBOX_LISTEN}]")));
    // The defaults the settings use when nothing is given are those constants.
    let (run, _) = resolve_run(&[], None, &CREDS).unwrap();
    let e = &run.engine;
    assert_eq!(
        (e.rate, e.burst, e.concurrency, e.max_attempts, e.max_consecutive_failures, e.max_retry_after),
        (
            crate::engine::DEFAULT_RATE,
            crate::engine::DEFAULT_BURST,
            crate::engine::DEFAULT_CONCURRENCY,
            crate::engine::DEFAULT_MAX_ATTEMPTS,
            crate::engine::DEFAULT_MAX_CONSECUTIVE_FAILURES,
            crate::engine::DEFAULT_MAX_RETRY_AFTER
        )
    );
    assert_eq!((run.api.timeout, run.api.method), (crate::api::DEFAULT_TIMEOUT, crate::api::DEFAULT_METHOD));
    assert_eq!(run.input.min_age, crate::validate::DEFAULT_MIN_AGE);
}

#[test]
fn workbook_limits_are_raised_by_rows_and_size() {
    let s = resolve(&[], None).unwrap();
    assert_eq!(s.sheet.limits, crate::input::WorkbookLimits::default());
    let s = resolve(&["--max-workbook-rows", "5000000", "--max-workbook-size", "1GiB"], None).unwrap();
    let l = s.sheet.limits;
    assert_eq!((l.max_sheet_rows, l.max_cells), (5_000_000, 25_000_000));
    assert_eq!((l.max_unpacked_bytes, l.max_text_bytes), (1 << 30, 1 << 30));
    let s = resolve(&[], Some("[input]\nmax_workbook_size = \"512MB\"\n")).unwrap();
    assert_eq!(s.sheet.limits.max_unpacked_bytes, 512_000_000);
    for bad in ["1KB", "lots", "5 parsecs", "2TB"] {
        let err = resolve(&["--max-workbook-size", bad], None).unwrap_err().to_string();
        assert!(err.starts_with(&format!("--max-workbook-size: \"{bad}\"")), "{err}");
    }
    assert_eq!(show_size(crate::input::MAX_UNPACKED_BYTES), "256MiB");
}

#[test]
fn sizes_as_people_write_them() {
    for (text, bytes) in [
        ("50MB", 50_000_000),
        ("50mb", 50_000_000),
        ("500kB", 500_000),
        ("1.5MB", 1_500_000),
        ("2MiB", 2 * 1024 * 1024),
        ("1GiB", 1 << 30),
        ("1048576", 1_048_576),
        (" 20 MB ", 20_000_000),
    ] {
        assert_eq!(parse::parse_size(text), Some(bytes), "{text}");
        assert_eq!(parse::parse_size(&show_size(bytes)), Some(bytes), "{text} shown as {}", show_size(bytes));
    }
    for text in ["", "MB", "-1MB", "5 TB", "1000", "99999999999999999999GB"] {
        assert_eq!(parse::parse_size(text), None, "{text}");
    }
    assert_eq!(show_size(50_000_000), "50MB");
}

#[test]
fn an_endpoint_with_credentials_in_it_is_refused_without_repeating_them() {
    for (args, config) in [
        (&["--endpoint", "https://merchant:s3cr3t@api.example.in/reg"][..], None),
        (&[][..], Some("[aopay]\nendpoint = \"https://merchant:s3cr3t@api.example.in/reg\"\n")),
        (&["--endpoint", "https://s3cr3t@api.example.in/reg"][..], None),
    ] {
        let err = resolve_run(args, config, &CREDS).unwrap_err();
        assert!(matches!(err, SettingsError::EndpointCredentials { .. }), "{err}");
        let text = err.to_string();
        assert!(!text.contains("s3cr3t") && !text.contains("merchant"), "{text}");
        assert!(text.contains("https://api.example.in/reg") && text.contains("[aopay.headers]"), "{text}");
    }
}

#[test]
fn a_readable_config_holding_only_a_gateway_key_is_warned_about() {
    let (_, warnings) = resolve_run(&[], Some("[aopay.headers]\nX-Api-Key = \"k\"\n"), &CREDS).unwrap();
    assert!(warnings.iter().any(|w| w.contains("chmod 600")), "{warnings:?}");
    let (_, warnings) = resolve_run(&[], Some("[run]\nrate = \"5/s\"\n"), &CREDS).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn ages_are_judged_on_indias_date_whatever_the_machines_zone() {
    use chrono::TimeZone as _;
    // 19:00 in London is half past midnight in Mumbai: the customer born on 25 November 2008
    // turns 18 there, on every machine, whatever its zone.
    let evening = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 19, 0, 0).unwrap();
    assert_eq!(day_in_india(evening), NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
    let before = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 18, 29, 59).unwrap();
    assert_eq!(day_in_india(before), NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
}

/// The credentials of the tests below, from the environment.
fn credentials_env(name: &str) -> Option<String> {
    match name {
        ENV_REGISTRATION_ID => Some("Reg-Zq81x77".to_owned()),
        ENV_COMPANY_CODE => Some("CoDe4471k".to_owned()),
        _ => None,
    }
}

/// Every value every subcommand takes, given a credential — as given, in another case, in
/// disguise, inside an address: whatever is said of it, clap's refusal or a setting's error,
/// never repeats it.
#[test]
fn no_error_repeats_a_credential_given_for_another_setting() {
    fn walk(command: &clap::Command, path: &[String], each: &mut dyn FnMut(&[String], &clap::Command)) {
        for sub in command.get_subcommands() {
            let path = [path, &[sub.get_name().to_owned()]].concat();
            if sub.has_subcommands() {
                walk(sub, &path, each);
            } else {
                each(&path, sub);
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut command = crate::cli::definition();
    command.build();
    let (mut said_something, mut tried) = (0, 0);
    walk(&command, &[], &mut |path, sub| {
        let positionals: Vec<String> =
            sub.get_positionals().filter(|a| a.is_required_set()).map(|_| "f.csv".to_owned()).collect();
        let flags =
            sub.get_arguments().filter(|a| a.get_action().takes_values()).filter_map(|a| a.get_long());
        for long in flags {
            for given in
                ["CoDe4471k", "reg-zq81x77", "R e g _ Z q 8 1 x 7 7", "https://h.example/x/CoDe4471k"]
            {
                let argv: Vec<String> = [vec!["cibil-bulk".to_owned()], path.to_vec(), positionals.clone()]
                    .concat()
                    .into_iter()
                    .chain([format!("--{long}"), given.to_owned()])
                    .collect();
                tried += 1;
                let said = match Cli::try_parse_args_from(&argv) {
                    Err(refused) => {
                        usage_error_without_credentials(refused, &credentials_env).render().to_string()
                    }
                    Ok(cli) => match Settings::resolve_in(&cli, dir.path(), today(), &credentials_env) {
                        Err(error) => error.to_string(),
                        Ok(_) => continue,
                    },
                };
                said_something += 1;
                let read = crate::mask::letters_and_digits(&said);
                assert!(!read.contains("code4471k") && !read.contains("regzq81x77"), "{argv:?}: {said}");
            }
        }
    });
    assert!(tried > 200 && said_something > 50, "{tried} tried, {said_something} refused");
}

#[test]
fn an_endpoint_holding_a_credential_is_refused_and_a_port_like_one_is_not() {
    let resolve = |endpoint: &str, code: &str| {
        let cli = Cli::try_parse_args_from(["cibil-bulk", "run", "f.csv", "--endpoint", endpoint]).unwrap();
        let env = |name: &str| match name {
            ENV_COMPANY_CODE => Some(code.to_owned()),
            _ => credentials_env(name),
        };
        let dir = tempfile::tempdir().unwrap();
        Settings::resolve_in(&cli, dir.path(), today(), &env).map(|_| ())
    };
    for endpoint in [
        "https://h.example/api/CoDe4471k/registeration",
        "https://h.example/api/registeration?code=code4471k",
        "https://h.example/api/Reg-Zq81x77",
        "https://h.example/api/reg%2Dzq81x77",
        "https://h.example/api/registeration#CoDe4471k",
        "https://code4471k.h.example/api/registeration",
        "https://h.example/api/registeration?k=Q29EZTQ0NzFr",
    ] {
        let refused = resolve(endpoint, "CoDe4471k").unwrap_err();
        assert!(matches!(refused, SettingsError::CredentialInEndpoint { .. }), "{endpoint}: {refused}");
    }
    // A short code the address's port happens to be, or its host holds inside a word, is not a
    // credential in it.
    resolve("http://127.0.0.1:4471/api/AOP/CibilScore/registeration", "4471").unwrap();
    resolve("https://api4471.h.example/api/AOP/CibilScore/registeration", "4471").unwrap();
}
