//! The clerk's pages over HTTP, as issue 24 found them wanting: advice in the clerk's words (never a
//! command-line flag), a choice where a file is ambiguous (the dates' order, which column is
//! which), remembered for the next file of the same shape and used by the job; registering twice
//! changes nothing; a session that ends keeps the clerk's intent; the rows to fix capped and kept
//! after the end; uploads told apart; the downloads fit for a spreadsheet; progress announced.
//! The same server as `serve.rs` (`common::serving`), driven as a browser would, without one.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::common::serving::{PASSWORD, Served, Session, USER, csv_rows, sample};
use crate::common::{HEADER, customer, mobile, pan};
use cibil_bulk::sandbox::SandboxConfig;
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};

async fn within_a_minute(test: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(60), test).await.expect("the test took over a minute");
}

/// A CSV of the customers numbered `from..from + n`.
fn customers(from: u32, n: u32) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    for i in from..from + n {
        text.push_str(&customer(i));
        text.push('\n');
    }
    text.into_bytes()
}

/// Uploads `bytes` as `name` through the page's form; the answer, not followed.
async fn upload_page(served: &Served, session: &Session, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned());
    let form = reqwest::multipart::Form::new().text("csrf", session.csrf.clone()).part("file", part);
    served.page(session, Method::POST, "/uploads").multipart(form).send().await.unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn get_page(served: &Served, session: &Session, path: &str) -> String {
    let page = served.page(session, Method::GET, path).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "{path}");
    page.text().await.unwrap()
}

/// What a page's text says, its tags taken out (a sentence may span an inline element).
fn words(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ").replace("&quot;", "\"").replace("&#39;", "'")
}

/// Command-line flags and environment variables a clerk cannot act on.
#[track_caller]
fn no_command_line(what: &str, text: &str) {
    for flag in [
        "--min-age",
        "--date-order",
        "--email-optional",
        "--excel-dates",
        "--map",
        "--sheet",
        "--header-row",
        "--encoding",
        "--max-upload",
        "AOPAY_",
        "cibil-bulk users",
        "run the same command",
        "run with",
        "run again",
    ] {
        assert!(!text.contains(flag), "{what} tells the clerk about {flag:?}: {text}");
    }
}

fn id_of(path: &str) -> u64 {
    path.trim_start_matches("/uploads/").split(['/', '?']).next().unwrap().parse().expect("an upload's path")
}

/// Issue 24, 1: a row's advice is the clerk's to follow, the command line's stays on the command
/// line; an admin's setting is said as such; a wait is said in good English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_speak_the_clerks_words_not_the_command_lines() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let mut csv = format!("{HEADER}\n");
        csv.push_str(&customer(0));
        csv.push('\n');
        // Too young, no e-mail, an Excel date number.
        csv.push_str(&format!("Ravi,Kumar,{},01/01/2015,young@example.com,{}\n", pan(1), mobile(1)));
        csv.push_str(&format!("Ravi,Kumar,{},31/01/1985,,{}\n", pan(2), mobile(2)));
        csv.push_str(&format!("Ravi,Kumar,{},31000,serial@example.com,{}\n", pan(3), mobile(3)));
        let answer = upload_page(&served, &session, "mixed.csv", csv.into_bytes()).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let page_path = location(&answer);
        let page = get_page(&served, &session, &page_path).await;
        let text = words(&page);
        no_command_line("the upload's page", &text);
        assert!(text.contains("ask your team lead"), "what only an admin can change: {text}");
        let errors = served.page(&session, Method::GET, &format!("{page_path}/errors")).send().await.unwrap();
        no_command_line("the errors file", &errors.text().await.unwrap());

        // The same words in what the job records: the results and errors after registering.
        let id = id_of(&page_path);
        served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        served.wait_for(id, "finished").await;
        let results =
            served.page(&session, Method::GET, &format!("{page_path}/results")).send().await.unwrap();
        no_command_line("the results file", &results.text().await.unwrap());
        let errors = served.page(&session, Method::GET, &format!("{page_path}/errors")).send().await.unwrap();
        no_command_line("the errors file after registering", &errors.text().await.unwrap());

        // A name held back after failed sign-ins: "1 second", never "1 seconds".
        for _ in 0..3 {
            let _ = served.sign_in_as(USER, "not the password").await;
        }
        let held = served.sign_in_as(USER, PASSWORD).await.unwrap_err();
        assert_eq!(held.status(), StatusCode::TOO_MANY_REQUESTS);
        let text = words(&held.text().await.unwrap());
        assert!(!text.contains(" 1 seconds") && !text.contains(" 1 minutes"), "{text}");
        assert!(text.contains("Try again in"), "{text}");
    })
    .await;
}

/// Issue 24, 1 and 5: the merchant's credentials refused is the team lead's to fix: the page says
/// so in the clerk's words, and does not offer to register the rest until the server has started
/// again (how the team lead's fix takes effect).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_the_team_leads_to_fix() {
    within_a_minute(async {
        let refusing =
            SandboxConfig { registration_id: "another merchant".into(), ..SandboxConfig::default() };
        let served = Served::start_with(refusing, &[]).await;
        let session = served.sign_in().await;
        let answer = upload_page(&served, &session, "five.csv", customers(0, 5)).await;
        let page_path = location(&answer);
        let id = id_of(&page_path);
        served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        served.wait_for(id, "aborted").await;
        let page = get_page(&served, &session, &page_path).await;
        let text = words(&page);
        no_command_line("a stopped upload's page", &text);
        assert!(text.contains("ask your team lead"), "{text}");
        assert!(
            !text.contains("Register the remaining"),
            "offered to register again after a refusal: {text}"
        );
        // Nor does the confirmation, or the form behind it, send them into the same refusal.
        let confirm =
            served.page(&session, Method::GET, &format!("{page_path}/register")).send().await.unwrap();
        assert_ne!(confirm.status(), StatusCode::OK, "the confirmation after a refusal");
        let requests = served.stats().requests;
        let again = served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (_, summary) = served.get_json(&format!("/api/uploads/{id}")).await;
        assert_eq!(summary["state"], "aborted", "sent into the same refusal again: {summary}");
        assert_eq!(served.stats().requests, requests);
    })
    .await;
}

/// A file of `n` customers whose dates are written month first, some of them unmistakably.
fn month_first(n: u32, from: u32) -> Vec<u8> {
    let mut text = format!("{HEADER}\n");
    for i in from..from + n {
        // 12/25/1985 can only be month first; 01/02/1985 could be either.
        let dob = if i % 2 == 0 { "12/25/1985" } else { "01/02/1985" };
        text.push_str(&format!("Ravi,Kumar,{},{dob},c{i}@example.com,{}\n", pan(i), mobile(i)));
    }
    text.into_bytes()
}

/// Issue 24, 1: a file whose dates are month first is not a dead end on the web: the page asks,
/// the job registers with the answer, and the next file of the same shape is read that way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn month_first_dates_are_a_choice_remembered_for_the_next_file() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let answer = upload_page(&served, &session, "us-dates.csv", month_first(6, 0)).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{}", words(&answer.text().await.unwrap()));
        let choose = location(&answer);
        assert!(choose.ends_with("/choices"), "asked first: {choose}");
        let form = get_page(&served, &session, &choose).await;
        assert!(form.contains("name=\"date_order\"") && form.contains("value=\"mdy\""), "{form}");
        no_command_line("the choice of date order", &words(&form));
        assert_eq!(served.stats().requests, 0);

        let chosen = served
            .page(&session, Method::POST, &choose)
            .form(&[("csrf", session.csrf.as_str()), ("date_order", "mdy")])
            .send()
            .await
            .unwrap();
        assert_eq!(chosen.status(), StatusCode::SEE_OTHER);
        let page_path = location(&chosen);
        let page = words(&get_page(&served, &session, &page_path).await);
        assert!(page.contains("Register 6 customers"), "{page}");
        assert!(page.contains("month first"), "the page says how the dates were read: {page}");

        // The job reads the file as it was checked.
        let id = id_of(&page_path);
        served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        let summary = served.wait_for(id, "finished").await;
        assert_eq!(summary["counts"]["registered"], 6, "{summary}");

        // The next file with these columns: no question, the same reading; the API too.
        let next = upload_page(&served, &session, "us-dates-2.csv", month_first(4, 100)).await;
        let next_path = location(&next);
        assert!(!next_path.ends_with("/choices"), "asked again: {next_path}");
        let page = words(&get_page(&served, &session, &next_path).await);
        assert!(page.contains("Register 4 customers"), "{page}");
        let (status, created) = served.upload("nightly.csv", month_first(4, 200)).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["counts"]["pending"], 4, "{created}");
    })
    .await;
}

/// Issue 24, 1: a header the server does not recognise is a mapping step, not a refusal: the
/// clerk says which column is which, the job uses it, and the next file of that shape is read
/// the same way, on the pages and through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecognised_header_is_mapped_once_and_remembered() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let shaped = |from: u32, n: u32| {
            let mut text = "Given,Family,Tax Id,Born,Mail,Phone\n".to_owned();
            for i in from..from + n {
                text.push_str(&format!("Ravi,Kumar,{},31/01/1985,c{i}@example.com,{}\n", pan(i), mobile(i)));
            }
            text.into_bytes()
        };
        // The API cannot ask: it says why, in words a person can act on, and keeps nothing.
        let (status, refused) = served.upload("branch.csv", shaped(0, 3)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        no_command_line("the API's refusal", refused["error"].as_str().unwrap());

        let answer = upload_page(&served, &session, "branch.csv", shaped(0, 3)).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER, "{}", words(&answer.text().await.unwrap()));
        let choose = location(&answer);
        assert!(choose.ends_with("/choices"), "{choose}");
        let form = get_page(&served, &session, &choose).await;
        for field in ["first_name", "last_name", "pancard", "date_of_birth"] {
            assert!(form.contains(&format!("name=\"col_{field}\"")), "a choice for {field}: {form}");
        }
        assert!(form.contains("<option value=\"Tax Id\""), "the file's own headers offered: {form}");
        no_command_line("the mapping step", &words(&form));

        let chosen = served
            .page(&session, Method::POST, &choose)
            .form(&[
                ("csrf", session.csrf.as_str()),
                ("col_first_name", "Given"),
                ("col_last_name", "Family"),
                ("col_pancard", "Tax Id"),
                ("col_date_of_birth", "Born"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(chosen.status(), StatusCode::SEE_OTHER);
        let page_path = location(&chosen);
        assert!(!page_path.ends_with("/choices"), "{page_path}");
        let page = words(&get_page(&served, &session, &page_path).await);
        assert!(page.contains("Register 3 customers"), "{page}");
        let id = id_of(&page_path);
        served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        let summary = served.wait_for(id, "finished").await;
        assert_eq!(summary["counts"]["registered"], 3, "{summary}");

        let (status, created) = served.upload("branch-tomorrow.csv", shaped(10, 2)).await;
        assert_eq!(status, StatusCode::CREATED, "remembered for the API too: {created}");
        let next = upload_page(&served, &session, "branch-again.csv", shaped(20, 2)).await;
        assert!(!location(&next).ends_with("/choices"), "asked again");
    })
    .await;
}

/// Issue 24, 2: "Yes, register" on an upload with nothing left to send (the browser's Back, a
/// second tab) says so and changes nothing; the confirmation is never served from a cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registering_again_with_nothing_left_changes_nothing() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let answer = upload_page(&served, &session, "three.csv", customers(0, 3)).await;
        let page_path = location(&answer);
        let id = id_of(&page_path);
        let confirm =
            served.page(&session, Method::GET, &format!("{page_path}/register")).send().await.unwrap();
        assert_eq!(confirm.headers()["cache-control"], "no-store");
        let register = || async {
            served
                .page(&session, Method::POST, &format!("{page_path}/register"))
                .form(&[("csrf", &session.csrf)])
                .send()
                .await
                .unwrap()
        };
        register().await;
        let first = served.wait_for(id, "finished").await;
        let again = register().await;
        assert_eq!(again.status(), StatusCode::SEE_OTHER);
        let back_to = location(&again);
        let (_, summary) = served.get_json(&format!("/api/uploads/{id}")).await;
        assert_eq!(summary["state"], "finished", "queued again with nothing to send: {summary}");
        assert_eq!(summary["registered_at"], first["registered_at"], "{summary}");
        let page = words(&get_page(&served, &session, &back_to).await);
        assert!(page.contains("Nothing was left to send"), "{page}");
        // The API says so too, and changes nothing.
        let (status, body) = served.register(id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["state"], "finished", "{body}");
    })
    .await;
}

/// Issue 24, 2: a session that ends while the clerk is on the confirmation, or choosing a file,
/// keeps their intent: signed in again, they are back where they were, told nothing was sent (or
/// that the file must be chosen again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ends_keeps_the_clerks_intent() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let answer = upload_page(&served, &session, "three.csv", customers(0, 3)).await;
        let page_path = location(&answer);
        let expire = || {
            let db = rusqlite::Connection::open(&served.state).unwrap();
            db.busy_timeout(Duration::from_secs(5)).unwrap();
            db.execute("UPDATE sessions SET expires_at = 0", []).unwrap();
        };
        expire();
        let yes = served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        assert_eq!(yes.status(), StatusCode::SEE_OTHER);
        let to_login = location(&yes);
        assert!(to_login.starts_with("/login"), "{to_login}");
        let login = served.http.get(served.url(&to_login)).send().await.unwrap();
        let login_cookie = crate::common::serving::set_cookie(&login, "cibil_bulk_login").unwrap();
        let login_page = login.text().await.unwrap();
        assert!(words(&login_page).contains("You were signed out"), "{}", words(&login_page));
        let next = hidden(&login_page, "next");
        assert!(next.starts_with(&format!("{page_path}/register")), "back to the confirmation: {next}");
        let csrf = hidden(&login_page, "csrf");
        let signed_in = served
            .http
            .post(served.url("/login"))
            .header(COOKIE, format!("cibil_bulk_login={login_cookie}"))
            .form(&[("name", USER), ("password", PASSWORD), ("csrf", &csrf), ("next", &next)])
            .send()
            .await
            .unwrap();
        let back = location(&signed_in);
        let cookie = crate::common::serving::set_cookie(&signed_in, "cibil_bulk_session").unwrap();
        let fresh = Session { cookie: format!("cibil_bulk_session={cookie}"), csrf: String::new() };
        let confirm = words(&get_page(&served, &fresh, &back).await);
        assert!(confirm.contains("nothing was sent"), "{confirm}");
        assert!(confirm.contains("Yes, register 3 customers"), "{confirm}");
        assert_eq!(served.stats().requests, 0);

        // Choosing a file: it is lost with the session, and the page says to choose it again.
        expire();
        let lost = upload_page(&served, &session, "four.csv", customers(10, 4)).await;
        let to_login = location(&lost);
        let login_page = served.http.get(served.url(&to_login)).send().await.unwrap().text().await.unwrap();
        let next = hidden(&login_page, "next");
        let again = served.sign_in().await;
        let home = words(&get_page(&served, &again, &next).await);
        assert!(home.contains("choose the file again"), "{home}");
    })
    .await;
}

/// The value of the hidden field `name` of a page's form.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name}: {html}")) + marker.len();
    html[start..].split('"').next().unwrap_or_default().replace("&amp;", "&")
}

/// Issue 24, 4: a file with hundreds of rows to fix and thousands of columns makes a page of a
/// bounded size, quickly: the first rows, the columns the check reads, and the download for the
/// rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rows_to_fix_preview_is_capped() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let mut text = HEADER.to_owned();
        for c in 0..2001 {
            text.push_str(&format!(",extra {c}"));
        }
        text.push('\n');
        let filler = ",some cell text".repeat(2001);
        for i in 0..500 {
            text.push_str(&format!(
                "Ravi,Kumar,NOTAPAN{i},31/01/1985,c{i}@example.com,{}{filler}\n",
                mobile(i)
            ));
        }
        let answer = upload_page(&served, &session, "wide.csv", text.into_bytes()).await;
        let page_path = location(&answer);
        let started = Instant::now();
        let page = get_page(&served, &session, &page_path).await;
        let took = started.elapsed();
        assert!(page.len() < 512 * 1024, "the page is {} bytes", page.len());
        assert!(took < Duration::from_secs(2), "the page took {took:?}");
        let text = words(&page);
        assert!(text.contains("Rows to fix (500)"), "{text}");
        assert!(text.contains("the errors file has all of them"), "{text}");
    })
    .await;
}

/// Issue 24, 5: the rows to fix stay on the page once registering is done; uploads of the same
/// name are told apart; an upload whose customers are all registered already does not read "not
/// sent" beside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_pages_keep_the_rows_to_fix_and_the_list_tells_uploads_apart() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let answer = upload_page(&served, &session, "customers.csv", sample("customers.csv")).await;
        let page_path = location(&answer);
        let id = id_of(&page_path);
        served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        served.wait_for(id, "finished").await;
        let done = get_page(&served, &session, &page_path).await;
        assert_eq!(done.matches("class=\"bad\"").count(), 6, "the rows to fix, kept after Done");

        // The same file again: nobody new to send.
        let again = upload_page(&served, &session, "customers.csv", sample("customers.csv")).await;
        let again_id = id_of(&location(&again));
        let list = get_page(&served, &session, "/").await;
        let text = words(&list);
        assert!(!text.contains("Checked, not sent"), "{text}");
        for id in [id, again_id] {
            assert!(text.contains(&format!("upload {id}")), "upload {id} told apart: {text}");
        }
    })
    .await;
}

/// Issue 24, 6: the downloads as a clerk opens them: an errors workbook uploaded again gives
/// results with one `error` column (a registered row does not read its old error); the results
/// CSV starts with a BOM as the errors CSV does; a workbook's line and attempts are numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_fit_a_spreadsheet() {
    within_a_minute(async {
        let served = Served::start(&[]).await;
        let session = served.sign_in().await;
        let answer = upload_page(&served, &session, "customers.xlsx", sample("customers.xlsx")).await;
        let page_path = location(&answer);
        let errors = served.page(&session, Method::GET, &format!("{page_path}/errors")).send().await.unwrap();
        let errors = errors.bytes().await.unwrap().to_vec();

        // The errors workbook, fixed by hand: every PAN cell made valid, and uploaded again.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("customers.errors.xlsx");
        std::fs::write(&path, &errors).unwrap();
        let fixed = fix_pans(&path);
        let answer = upload_page(&served, &session, "customers.errors.xlsx", fixed).await;
        let fixed_path = location(&answer);
        let id = id_of(&fixed_path);
        served
            .page(&session, Method::POST, &format!("{fixed_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        served.wait_for(id, "finished").await;
        let csv = served
            .page(&session, Method::GET, &format!("{fixed_path}/results?format=csv"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(
            csv.starts_with("\u{feff}".as_bytes()),
            "the results CSV starts with a BOM, as the errors CSV"
        );
        let header = String::from_utf8_lossy(&csv).lines().next().unwrap().to_owned();
        assert_eq!(header.matches("error").count() - header.matches("error_code").count(), 1, "{header}");
        for row in csv_rows(&csv) {
            if row["status"] == "registered" {
                assert!(row.values().all(|v| !v.contains("not a valid PAN")), "{row:?}");
            }
        }

        let book = served
            .page(&session, Method::GET, &format!("{fixed_path}/results"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        std::fs::write(dir.path().join("results.xlsx"), &book).unwrap();
        let mut workbook: calamine::Xlsx<_> =
            calamine::open_workbook(dir.path().join("results.xlsx")).unwrap();
        use calamine::Reader as _;
        let range = workbook.worksheet_range_at(0).unwrap().unwrap();
        let header: Vec<String> = range.rows().next().unwrap().iter().map(ToString::to_string).collect();
        let (line, attempts) = (
            header.iter().position(|h| h == "line").unwrap(),
            header.iter().position(|h| h == "attempts").unwrap(),
        );
        for row in range.rows().skip(1) {
            for column in [line, attempts] {
                assert!(
                    matches!(row[column], calamine::Data::Float(_) | calamine::Data::Int(_)),
                    "{} is {:?}, text",
                    header[column],
                    row[column]
                );
            }
        }
    })
    .await;
}

/// The errors workbook at `path` with every cell under a PAN header replaced by a valid PAN.
fn fix_pans(path: &std::path::Path) -> Vec<u8> {
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(path).unwrap();
    let range = book.worksheet_range_at(0).unwrap().unwrap();
    let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(ToString::to_string).collect()).collect();
    let pan_column = rows[0].iter().position(|h| h == "PAN No").expect("a PAN column");
    let mut out = rust_xlsxwriter::Workbook::new();
    let sheet = out.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let value = if r > 0 && c == pan_column { pan(9000 + r as u32) } else { cell.clone() };
            sheet.write_string(r as u32, c as u16, value).unwrap();
        }
    }
    out.save_to_buffer().unwrap()
}

/// Issue 24, 7: the progress of a job is in a live region a screen reader announces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_is_announced_to_screen_readers() {
    within_a_minute(async {
        let served = Served::start(&["--rate", "5/s"]).await;
        let session = served.sign_in().await;
        let answer = upload_page(&served, &session, "ten.csv", customers(0, 10)).await;
        let page_path = location(&answer);
        served
            .page(&session, Method::POST, &format!("{page_path}/register"))
            .form(&[("csrf", &session.csrf)])
            .send()
            .await
            .unwrap();
        let page = get_page(&served, &session, &page_path).await;
        assert!(page.contains("aria-live=\"polite\""), "a live region: {page}");
    })
    .await;
}
