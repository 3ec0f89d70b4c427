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

use crate::common::serving::{ADMIN, PASSWORD, Served, USER};
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
async fn browser(driver: &Driver, profile: &Path, downloads: &Path, screen: Screen) -> Client {
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
                format!("--window-size={},{}", screen.width, screen.height),
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

/// A window as wide as a laptop's, or a phone's (an iPhone 12 to 15 is 390 CSS pixels wide).
#[derive(Debug, Clone, Copy)]
struct Screen {
    width: u32,
    height: u32,
    /// Prefixed to the screenshots' names.
    name: &'static str,
}

const DESKTOP: Screen = Screen { width: 1280, height: 900, name: "desktop" };
const PHONE: Screen = Screen { width: 390, height: 844, name: "phone" };

/// What one page measured: the document's width against the window's.
#[derive(Debug, Clone)]
struct Fit {
    page: String,
    document: u64,
    window: u64,
}

/// Measures the page shown: `document.documentElement.scrollWidth` must not exceed the window's
/// inner width, or the page scrolls sideways.
async fn measure(client: &Client, page: &str, fits: &mut Vec<Fit>) {
    let widths = client
        .execute("return [document.documentElement.scrollWidth, window.innerWidth];", vec![])
        .await
        .expect("the page's widths");
    let width = |i: usize| widths.get(i).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let fit = Fit { page: page.to_owned(), document: width(0), window: width(1) };
    // Said as measured: a run that fails later still shows the widths.
    let _ = writeln!(std::io::stderr(), "width of {page}: {} px in a {} px window", fit.document, fit.window);
    fits.push(fit);
}

/// Saves what the browser shows, the whole page tall (the window grows to fit it first), and
/// measures its width.
async fn screenshot(client: &Client, screen: Screen, name: &str, fits: &mut Vec<Fit>) {
    measure(client, name, fits).await;
    let height = client
        .execute("return Math.ceil(document.documentElement.scrollHeight);", vec![])
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(u64::from(screen.height))
        .clamp(600, 6000);
    let _ = client.set_window_size(screen.width, u32::try_from(height).unwrap_or(900) + 90).await;
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{}-{name}", screen.name)), png).unwrap();
    let _ = client.set_window_size(screen.width, screen.height).await;
}

/// Saves what the window shows with the element `id` at its top (the page's top without one):
/// the README's size on a laptop.
async fn view(client: &Client, screen: Screen, id: Option<&str>, name: &str) {
    let height = if screen.width >= 1000 { 800 } else { screen.height };
    let _ = client.set_window_size(screen.width, height).await;
    let scroll = match id {
        Some(id) => format!("document.getElementById('{id}').scrollIntoView();"),
        None => "window.scrollTo(0, 0);".to_owned(),
    };
    let _ = client.execute(&scroll, vec![]).await;
    let png = client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshots().join(format!("{}-{name}", screen.name)), png).unwrap();
    let _ = client.execute("window.scrollTo(0, 0);", vec![]).await;
    let _ = client.set_window_size(screen.width, screen.height).await;
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

/// Skips (saying so) without a browser, unless CIBIL_BULK_REQUIRE_BROWSER asks for one.
fn browser_missing() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return false;
    }
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
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr, reason = "the browser test's run time, for whoever runs it with --nocapture")]
async fn a_clerk_in_chromium_uploads_fixes_registers_and_downloads_or_says_it_skipped() {
    if browser_missing() {
        return;
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(240), clerk(DESKTOP))
        .await
        .expect("the browser test took over four minutes");
    eprintln!("browser test: {:.1} s", started.elapsed().as_secs_f64());
}

/// The same clerk on a phone: every page fits the screen's width, the rows become cards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr, reason = "the browser test's run time, for whoever runs it with --nocapture")]
async fn a_clerk_on_a_phone_never_scrolls_sideways_or_says_it_skipped() {
    if browser_missing() {
        return;
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(240), clerk(PHONE))
        .await
        .expect("the browser test took over four minutes");
    eprintln!("browser test on a phone: {:.1} s", started.elapsed().as_secs_f64());
}

/// Every page a clerk meets, at the width of `screen`: signing in, an unusable file, the rows to
/// fix, a choice of date order, the confirmation, the progress (announced to screen readers),
/// the end, Back after registering, the downloads and the list. Each page is measured: none may
/// be wider than the window.
async fn clerk(screen: Screen) {
    // The rehearsal server, at a rate a person can watch.
    let served = Served::start(&["--sandbox", "--rate", "12/s"]).await;
    let driver = Driver::start().await;
    let scratch = tempfile::tempdir().unwrap();
    let (profile, downloads) = (scratch.path().join("profile"), scratch.path().join("downloads"));
    std::fs::create_dir_all(&downloads).unwrap();
    let client = browser(&driver, &profile, &downloads, screen).await;
    let _ = client.set_window_size(screen.width, screen.height).await;
    let mut fits = Vec::new();

    // Signing in: the pages send there first.
    client.goto(&served.url("/")).await.unwrap();
    assert!(client.current_url().await.unwrap().path().starts_with("/login"));
    screenshot(&client, screen, "01-sign-in.png", &mut fits).await;
    client.find(Locator::Id("name")).await.unwrap().send_keys(USER).await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("upload-title")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/");
    screenshot(&client, screen, "02-uploads-empty.png", &mut fits).await;

    // A file that cannot be used: said above the form, which stays to try another.
    let unusable = scratch.path().join("export.csv");
    std::fs::write(&unusable, "Name,Phone\nRavi Kumar,9876543210\n").unwrap();
    client.find(Locator::Id("file")).await.unwrap().send_keys(&unusable.display().to_string()).await.unwrap();
    client.find(Locator::Css("form.upload button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("[role=alert]")).await.unwrap();
    let alert = text_of(&client, "[role=alert]").await;
    assert!(alert.contains("export.csv"), "{alert}");
    assert!(!alert.contains("9876543210"), "a value in the header line is masked: {alert}");
    assert!(!alert.contains("--"), "a command-line flag on the page: {alert}");
    screenshot(&client, screen, "02-cannot-use.png", &mut fits).await;

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
    screenshot(&client, screen, "03-checked.png", &mut fits).await;
    view(&client, screen, Some("fix-title"), "03-rows-to-fix-view.png").await;

    // The annotated errors workbook.
    client.find(Locator::Css("#fix-title ~ p.actions a.button")).await.unwrap().click().await.unwrap();
    let errors = downloaded(&downloads, "customers.errors.xlsx").await;
    let errors = sheet(&errors);
    assert_eq!(errors.len(), 7, "a header and the six rows to fix");
    assert_eq!(errors[0][0], "error");

    // Registering, after a confirmation that names the count and where they go.
    let upload_url = client.current_url().await.unwrap();
    let register = client.find(Locator::LinkText("Register 43 customers")).await.unwrap();
    register.click().await.unwrap();
    client.wait().for_element(Locator::Css("form[action$='/register'] button.primary")).await.unwrap();
    let question = text_of(&client, "h1").await;
    assert_eq!(question, "Register 43 customers with the built-in sandbox?");
    screenshot(&client, screen, "04-confirm.png", &mut fits).await;
    client
        .find(Locator::Css("form[action$='/register'] button.primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client.wait().for_element(Locator::Id("live")).await.unwrap();

    // The progress follows the server's events without a reload, to the end, and a screen
    // reader hears it (a polite live region, said in words); the page then reloads itself and
    // offers the results.
    let mut seen_progress = Vec::new();
    let mut announced = Vec::new();
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
        if let Ok(live) = client.find(Locator::Css("[aria-live=polite]")).await
            && let Ok(Some(text)) = live.prop("textContent").await
            && !text.trim().is_empty()
            && announced.last() != Some(&text)
        {
            announced.push(text);
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
                screenshot(&client, screen, "05-registering.png", &mut fits).await;
                took_running_screenshot = true;
            }
        }
        assert!(Instant::now() < deadline, "registering did not end: {seen_progress:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_progress.len() >= 3, "the counter moved while the page stayed: {seen_progress:?}");
    assert!(!announced.is_empty(), "nothing was announced to a screen reader");
    screenshot(&client, screen, "06-done.png", &mut fits).await;
    view(&client, screen, None, "06-done-view.png").await;
    // The rows to fix stay after the end.
    assert_eq!(client.find_all(Locator::Css("table.fix td.bad")).await.unwrap().len(), 6, "rows to fix kept");

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

    // Back, to the confirmation: it is not the page as it was. If it still offers "Yes", pressing
    // it sends nobody and leaves the upload done.
    client.back().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    if let Ok(yes) = client.find(Locator::Css("form[action$='/register'] button.primary")).await {
        yes.click().await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let after_back = text_of(&client, "main").await;
    assert!(
        !after_back.contains("Registering"),
        "Back and Yes registered a finished upload again: {after_back}"
    );
    screenshot(&client, screen, "06-back-after-register.png", &mut fits).await;
    let id = upload_url.path().trim_start_matches("/uploads/").to_owned();
    let (_, summary) = served.get_json(&format!("/api/uploads/{id}")).await;
    assert_eq!(summary["state"], "finished", "{summary}");

    client.goto(&served.url("/")).await.unwrap();
    let listed = text_of(&client, "main").await;
    assert!(listed.contains("customers.xlsx") && listed.contains("Done"), "{listed}");
    screenshot(&client, screen, "07-uploads.png", &mut fits).await;

    // A file whose dates are month first: the page asks before it checks.
    let us_dates = scratch.path().join("us-dates.csv");
    std::fs::write(
        &us_dates,
        "first_name,last_name,pancard,date_of_birth,email_id,mobile_number\n\
         Ravi,Kumar,ABCPK1234F,12/25/1985,ravi@example.com,9876543210\n\
         Asha,Rao,ABCPR1234F,01/02/1990,asha@example.com,9876543211\n",
    )
    .unwrap();
    client.find(Locator::Id("file")).await.unwrap().send_keys(&us_dates.display().to_string()).await.unwrap();
    client.find(Locator::Css("form.upload button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("input[name=date_order][value=mdy]")).await.unwrap();
    screenshot(&client, screen, "08-choose-date-order.png", &mut fits).await;
    client.find(Locator::Css("input[name=date_order][value=mdy]")).await.unwrap().click().await.unwrap();
    client.find(Locator::Css("form.choices button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("status-title")).await.unwrap();
    let checked = text_of(&client, "main").await;
    assert!(checked.contains("Register 2 customers"), "{checked}");
    screenshot(&client, screen, "09-checked-month-first.png", &mut fits).await;

    // An admin's page too: people, tokens and the audit log, on the same screen.
    client.find(Locator::Css("form.logout button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("name")).await.unwrap();
    client.find(Locator::Id("name")).await.unwrap().send_keys(ADMIN).await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    client.find(Locator::Css("form button[type=submit]")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("upload-title")).await.unwrap();
    client.find(Locator::Css("a.admin-link")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Id("people-title")).await.unwrap();
    let admin = text_of(&client, "main").await;
    assert!(admin.contains(USER) && admin.contains("nightly-cron") && admin.contains("sign-in"), "{admin}");
    screenshot(&client, screen, "10-admin.png", &mut fits).await;

    client.close().await.unwrap();
    let report: Vec<String> =
        fits.iter().map(|f| format!("{}: {} px in a {} px window", f.page, f.document, f.window)).collect();
    let _ = writeln!(std::io::stderr(), "page widths at {} px:\n  {}", screen.width, report.join("\n  "));
    let wide: Vec<&Fit> = fits.iter().filter(|f| f.document > f.window).collect();
    assert!(wide.is_empty(), "pages that scroll sideways at {} px: {wide:?}", screen.width);
}
