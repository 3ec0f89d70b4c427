//! The engine's claim batches, and a whole run heard by a fake observer.

use std::sync::Mutex;

use super::*;
use crate::api::{ApiSettings, Credentials, Method};
use crate::input::Locator;
use crate::sandbox::{SANDBOX_COMPANY_CODE, SANDBOX_REGISTRATION_ID, Sandbox, SandboxConfig};
use crate::store::NewRow;
use crate::validate::Applicant;

/// What the engine told its observer.
#[derive(Debug, Default)]
struct Heard {
    recorded: Vec<RowStatus>,
    ticks: usize,
    finished: usize,
}

#[derive(Debug, Clone, Default)]
struct FakeObserver(Arc<Mutex<Heard>>);

impl Observer for FakeObserver {
    fn record(&mut self, status: RowStatus) {
        let mut heard = self.0.lock().unwrap();
        assert_eq!(heard.finished, 0, "recorded after finish");
        heard.recorded.push(status);
    }
    fn tick(&mut self) {
        self.0.lock().unwrap().ticks += 1;
    }
    fn finish(&mut self) {
        self.0.lock().unwrap().finished += 1;
    }
}

/// A state with one run of `pans.len()` valid rows (lines 2, 3, ...).
fn state_with(dir: &std::path::Path, pans: &[&str]) -> (Store, i64) {
    let mut store = Store::open(&dir.join("state.db")).unwrap();
    let applicants: Vec<Applicant> =
        pans.iter().enumerate().map(|(i, pan)| Applicant::sample(&format!("ORD-{i}"), pan)).collect();
    let mut import =
        store.begin_import("in.csv", "aa", &[], &Locator::Lines, &serde_json::json!({}), None).unwrap();
    for (i, a) in applicants.iter().enumerate() {
        import.add(&NewRow::valid(i as u64 + 2, a), std::iter::empty()).unwrap();
    }
    let run = import.finish().unwrap();
    (store, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_hears_every_row_once_then_the_end() {
    let sandbox = Sandbox::start(([127, 0, 0, 1], 0).into(), SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pans = ["ABCPK1234F", "ABCPK1235F", "ABCPK1236F", "ABCPK1234F"];
    let (store, run) = state_with(dir.path(), &pans);
    let api = ApiSettings {
        endpoint: sandbox.endpoint().parse().unwrap(),
        method: Method::Get,
        timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(5),
        headers: Vec::new(),
        omit_empty_middle_name: false,
        credentials: Credentials {
            registration_id: SANDBOX_REGISTRATION_ID.into(),
            company_code: SANDBOX_COMPANY_CODE.into(),
        },
        pool_size: 2,
    };
    let settings = EngineSettings::new(
        NonZeroUsize::new(2).unwrap(),
        Rate { requests: NonZeroU32::new(1000).unwrap(), per: Duration::from_secs(1) },
    );
    let observer = FakeObserver::default();
    let heard = observer.0.clone();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        super::run(
            store,
            run,
            Client::new(&api).unwrap(),
            settings.clone(),
            Arc::new(Limiter::new(&settings)),
            observer,
            Stop::new(),
        ),
    )
    .await
    .expect("the engine finishes");
    assert!(output.error.is_none(), "{:?}", output.error);
    let report = output.report;
    let store = output.store.unwrap();

    let heard = std::mem::take(&mut *heard.lock().unwrap());
    assert_eq!(heard.finished, 1);
    let mut recorded = heard.recorded.clone();
    recorded.sort();
    // The same PAN twice in one run: the second is claimed after the first registered, and
    // is known; or both went out at once, and the second came back a returning customer.
    assert!(
        recorded == [RowStatus::Registered; 4]
            || recorded
                == [RowStatus::Registered, RowStatus::Registered, RowStatus::Registered, RowStatus::Known],
        "{recorded:?}"
    );
    let counts = store.counts(run).unwrap();
    for status in RowStatus::ALL {
        let heard_of = heard.recorded.iter().filter(|s| **s == status).count() as u64;
        assert_eq!(counts.get(status), heard_of, "{status}: the observer and the state agree");
    }
    assert_eq!(report.requests, sandbox.stats().requests);
    assert_eq!(report.stop, None);
    sandbox.shutdown().await;
}

fn rate(requests: u32, per: Duration) -> Rate {
    Rate { requests: NonZeroU32::new(requests).unwrap(), per }
}

#[test]
fn claims_cover_a_tenth_of_a_second_and_every_worker() {
    let settings = |concurrency: usize, requests: u32| {
        EngineSettings::new(NonZeroUsize::new(concurrency).unwrap(), rate(requests, Duration::from_secs(1)))
    };
    assert_eq!(claim_batch(&settings(8, 10)), 8);
    assert_eq!(claim_batch(&settings(64, 10)), 64);
    assert_eq!(claim_batch(&settings(8, 2000)), 200);
    assert_eq!(claim_batch(&settings(64, 1_000_000)), 512);
    assert_eq!(claim_batch(&settings(1024, 10)), 512);
}
