//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver, started
//! here on a free port; the `fantoccini` crate speaks WebDriver), against `cibil-bulk serve
//! --sandbox` on 127.0.0.1 port 0. A clerk signs in, uploads samples/customers.xlsx, sees the six
//! rows to fix with their cells highlighted, downloads the errors workbook, registers after the
//! confirmation, watches the progress (the page's script follows the server's events) reach the
//! end, and downloads the results: 43 cibil_ids. Every page is saved as a screenshot under
//! target/screenshots/, to be looked at.
//!
//! Without Debian's `chromium` and `chromium-driver` the test says it skipped, on stderr and in
//! its name; `.ci/run` installs them and sets CIBIL_BULK_REQUIRE_BROWSER, which turns a missing
//! browser into a failure.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::serving::{PASSWORD, Served, USER};
use calamine::Reader as _;
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port of this machine, stopped when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver { child, url }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A headless Chromium with a fresh profile, downloading into `downloads`. The flags keep it off
/// the network: this machine refuses every connection it would make on its own.
async fn browser(driver: &Driver, profile: &Path, downloads: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
            },
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a WebDriver session")
}

/// Where the screenshots go.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Saves what the browser shows, the whole page tall (the window grows to fit it first).
async fn screenshot(client: &Client, name: &str) {
    let height = client
        .execute("return Math.ceil(document.documentElement.scrollHeight);", vec![])
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(900)
        .clamp(600, 4000);
    let _ = client.set_window_size(1280, u32::try_from(height).unwrap_or(900) + 90).await;
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(name), png).unwrap();
    let _ = client.set_window_size(1280, 900).await;
}

/// Saves what a laptop's window shows with the element `id` at its top (the page's top without
/// one): the README's size.
async fn view(client: &Client, id: Option<&str>, name: &str) {
    let _ = client.set_window_size(1280, 800).await;
    let scroll = match id {
        Some(id) => format!("document.getElementById('{id}').scrollIntoView();"),
        None => "window.scrollTo(0, 0);".to_owned(),
    };
    let _ = client.execute(&scroll, vec![]).await;
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(name), png).unwrap();
    let _ = client.execute("window.scrollTo(0, 0);", vec![]).await;
    let _ = client.set_window_size(1280, 900).await;
}

/// Waits for a file called `name` to be whole in `dir`, as Chromium finishes a download.
async fn downloaded(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let partial = std::fs::read_dir(dir)
            .unwrap()
            .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".crdownload"));
        if path.exists() && !partial && std::fs::metadata(&path).unwrap().len() > 0 {
            return path;
        }
        assert!(Instant::now() < deadline, "{name} was not downloaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The first sheet of a workbook, as text.
fn sheet(path: &Path) -> Vec<Vec<String>> {
    let mut book = calamine::open_workbook_auto(path).expect("a workbook");
    let range = book.worksheet_range_at(0).expect("a sheet").expect("readable");
    range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
}

async fn text_of(client: &Client, css: &str) -> String {
    client.find(Locator::Css(css)).await.expect(css).text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr, reason = "the browser test's run time, for whoever runs it with --nocapture")]
async fn a_clerk_in_chromium_uploads_fixes_registers_and_downloads_or_says_it_skipped() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var_os("CIBIL_BULK_REQUIRE_BROWSER").is_none(),
            "CIBIL_BULK_REQUIRE_BROWSER is set, but {CHROMIUM} or {CHROMEDRIVER} is missing"
        );
        // Straight to the process's stderr: the test harness captures `eprintln!` of a test that
        // passes, and a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the browser test needs {CHROMIUM} and {CHROMEDRIVER} (apt-get install -y chromium chromium-driver)"
        );
        return;
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(240), clerk())
        .await
        .expect("the browser test took over four minutes");
    eprintln!("browser test: {:.1} s", started.elapsed().as_secs_f64());
}

async fn clerk() {
    // The rehearsal server, at a rate a person can watch.
    let served = Served::start(&["--sandbox", "--rate", "12/s"]).await;
    let driver = Driver::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let (profile, downloads) = (scratch.path().join("profile"), scratch.path().join("downloads"));
    std::fs::create_dir_all(&downloads).unwrap();
    let client = browser(&driver, &profile, &downloads).await;

    // Signing in: the pages send there first.
    client.goto(&served.url("/")).await.unwrap();
    assert!(client.current_url().await.unwrap().path().starts_with("/login"));
    screenshot(&client, "01-sign-in.png").await;
    client.find(Locator::Id("name")).await.unwrap().send_keys(USER).await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("upload-title")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/");
    screenshot(&client, "02-uploads-empty.png").await;

    // A file that cannot be used: said above the form, which stays to try another.
    let unusable = scratch.path().join("export.csv");
    std::fs::write(&unusable, "Name,Phone\nRavi Kumar,9876543210\n").unwrap();
    client.find(Locator::Id("file")).await.unwrap().send_keys(&unusable.display().to_string()).await.unwrap();
    client.find(Locator::Css("form.upload button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("[role=alert]")).await.unwrap();
    let alert = text_of(&client, "[role=alert]").await;
    assert!(alert.contains("export.csv") && alert.contains("no column for"), "{alert}");
    assert!(!alert.contains("9876543210"), "a value in the header line is masked: {alert}");
    screenshot(&client, "02-cannot-use.png").await;

    // Uploading: the file picker takes the workbook; checking sends nothing.
    let workbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples").join("customers.xlsx");
    client.find(Locator::Id("file")).await.unwrap().send_keys(&workbook.display().to_string()).await.unwrap();
    client.find(Locator::Css("form.upload button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("fix-title")).await.unwrap();
    assert!(client.current_url().await.unwrap().path().starts_with("/uploads/"));
    let rows = client.find_all(Locator::Css("table.fix tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 6, "six rows to fix");
    let highlighted = client.find_all(Locator::Css("table.fix td.bad")).await.unwrap();
    assert_eq!(highlighted.len(), 6, "one offending cell in each");
    for cell in &highlighted {
        let colour = cell.css_value("background-color").await.unwrap();
        assert_ne!(colour, "rgba(0, 0, 0, 0)", "a highlighted cell has a background");
    }
    assert!(
        text_of(&client, "table.fix").await.contains("AAACR5678K"),
        "the uploader sees the real PAN to fix"
    );
    screenshot(&client, "03-checked.png").await;
    view(&client, Some("fix-title"), "03-rows-to-fix-view.png").await;

    // The annotated errors workbook.
    client.find(Locator::Css("#fix-title ~ p.actions a.button")).await.unwrap().click().await.unwrap();
    let errors = downloaded(&downloads, "customers.errors.xlsx").await;
    let errors = sheet(&errors);
    assert_eq!(errors.len(), 7, "a header and the six rows to fix");
    assert_eq!(errors[0][0], "error");

    // Registering, after a confirmation that names the count and where they go.
    let register = client.find(Locator::LinkText("Register 43 customers")).await.unwrap();
    register.click().await.unwrap();
    client.wait().for_element(Locator::Css("form[action$='/register'] button.primary")).await.unwrap();
    let question = text_of(&client, "h1").await;
    assert_eq!(question, "Register 43 customers with the built-in sandbox?");
    screenshot(&client, "04-confirm.png").await;
    client
        .find(Locator::Css("form[action$='/register'] button.primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().for_element(Locator::Id("live")).await.unwrap();

    // The progress follows the server's events without a reload, to the end; the page then
    // reloads itself and offers the results.
    let mut seen_progress = Vec::new();
    let mut took_running_screenshot = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // The page reloads itself when the state changes: between two pages, nothing is there.
        let title = match client.find(Locator::Id("status-title")).await {
            Ok(title) => title.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if title == "Done" {
            break;
        }
        if let Ok(done) = client.find(Locator::Id("live-done")).await
            && let Ok(text) = done.text().await
            && text.contains(" of 50 rows done")
            && seen_progress.last() != Some(&text)
        {
            seen_progress.push(text);
            if !took_running_screenshot && seen_progress.len() >= 3 {
                // Rows are being done: the page says so, not that it still waits its turn.
                assert_eq!(title, "Registering", "progress under a heading of another state");
                screenshot(&client, "05-registering.png").await;
                took_running_screenshot = true;
            }
        }
        assert!(Instant::now() < deadline, "registering did not end: {seen_progress:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_progress.len() >= 3, "the counter moved while the page stayed: {seen_progress:?}");
    screenshot(&client, "06-done.png").await;
    view(&client, None, "06-done-view.png").await;

    // The results: 43 registered, each with its cibil_id.
    client
        .find(Locator::XPath("//a[starts-with(normalize-space(.), 'Download the results')]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let results = sheet(&downloaded(&downloads, "customers.results.xlsx").await);
    let header = &results[0];
    let (status, cibil_id) = (
        header.iter().position(|h| h == "status").unwrap(),
        header.iter().position(|h| h == "cibil_id").unwrap(),
    );
    let ids = results[1..].iter().filter(|r| r[status] == "registered" && !r[cibil_id].is_empty()).count();
    assert_eq!(results.len(), 51);
    assert_eq!(ids, 43, "43 cibil_ids");

    client.goto(&served.url("/")).await.unwrap();
    let listed = text_of(&client, "table.list").await;
    assert!(listed.contains("customers.xlsx") && listed.contains("Done"), "{listed}");
    screenshot(&client, "07-uploads.png").await;

    client.close().await.unwrap();
}
