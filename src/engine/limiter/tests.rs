//! The limiter on fake time: tokio's paused clock, which a sleeping task moves forward when every
//! other task waits too, so seconds of traffic run in milliseconds and always the same way.

use std::num::NonZeroUsize;
use std::sync::Arc;

use super::*;
use crate::engine::Rate;
use crate::sandbox::quota::{ONE_SECOND, Quota, retry_after_secs};

fn settings(requests: u32, per: Duration, burst: u32, mode: RateMode) -> EngineSettings {
    let rate = Rate { requests: NonZeroU32::new(requests).unwrap(), per };
    let mut settings = EngineSettings::new(NonZeroUsize::new(8).unwrap(), rate);
    settings.burst = NonZeroU32::new(burst).unwrap();
    settings.rate_mode = mode;
    settings
}

fn limiter(per_second: u32, mode: RateMode) -> Limiter {
    Limiter::new(&settings(per_second, ONE_SECOND, 1, mode))
}

/// When each request of a client that always wants more leaves, over `span`: slots reserved at
/// the instant the previous one left, checked every 100 µs as a busy client would.
fn greedy(limiter: &Limiter, span: Duration) -> Vec<Duration> {
    let t0 = Instant::now();
    let mut state = limiter.state();
    let mut sent = Vec::new();
    let mut now = t0;
    while now - t0 < span {
        let (at, _) = limiter.reserve(&mut state, now);
        if at <= now {
            sent.push(now - t0);
        } else {
            // Not yet: give the slot back (a fresh limiter state) and look again a little later.
            state.tat = state.tat.checked_sub(pacing(limiter.fill(&state, now), limiter.burst).0).unwrap();
            now += Duration::from_micros(100);
        }
    }
    sent
}

fn busiest_second(sent: &[Duration]) -> usize {
    (0..sent.len())
        .map(|i| sent[i..].iter().take_while(|t| **t - sent[i] < ONE_SECOND).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn no_second_carries_more_than_rate_plus_burst_less_one() {
    let minute = Duration::from_secs(60);
    for (requests, per, burst, most) in [
        (200, ONE_SECOND, 1, 200),
        (200, ONE_SECOND, 5, 204),
        (50, ONE_SECOND, 1, 50),
        (49, ONE_SECOND, 1, 49),
        (10, ONE_SECOND, 1, 10),
        (3, ONE_SECOND, 2, 4),
        (600, minute, 1, 10),
        (12_000, minute, 1, 200),
        // 1.5 a second: one second holds two (within 2.5), and no more.
        (90, minute, 1, 2),
        (7, minute, 1, 1),
    ] {
        for mode in [RateMode::Fixed, RateMode::Adaptive] {
            let limiter = Limiter::new(&settings(requests, per, burst, mode));
            let sent = greedy(&limiter, Duration::from_secs(5));
            assert_eq!(busiest_second(&sent), most, "{requests} per {per:?}, burst {burst}, {mode}");
        }
    }
}

/// Requests that one waiter sleeping as tokio does (to the next millisecond tick after its slot,
/// and a little later still, as a busy machine wakes it) gets through in `span`.
fn woken_late(limiter: &Limiter, span: Duration) -> u32 {
    let t0 = Instant::now();
    let mut state = limiter.state();
    let (mut sent, mut now) = (0u32, t0);
    while now - t0 < span {
        let (at, _) = limiter.reserve(&mut state, now);
        let wait = at.saturating_duration_since(now);
        if !wait.is_zero() {
            now += Duration::from_millis(u64::try_from(wait.as_millis()).unwrap() + 1)
                + Duration::from_micros(300);
        }
        sent += 1;
    }
    sent
}

#[test]
fn a_waiter_woken_late_still_keeps_the_rate() {
    let ten = Duration::from_secs(10);
    let sent = woken_late(&limiter(200, RateMode::Fixed), ten);
    assert!((1980..=2001).contains(&sent), "{sent} requests in 10 s at 200/s");
    let sent = woken_late(&limiter(50, RateMode::Fixed), ten);
    assert!((490..=501).contains(&sent), "{sent} requests in 10 s at 50/s");
    let sent = woken_late(&limiter(10, RateMode::Fixed), ten);
    assert!((98..=101).contains(&sent), "{sent} requests in 10 s at 10/s");
}

/// Every request that left the limiter, and when, as offsets from the start.
#[derive(Debug, Default)]
struct Left(std::sync::Mutex<Vec<Duration>>);

#[tokio::test(start_paused = true)]
async fn a_pause_holds_every_request_even_those_already_waiting() {
    for mode in [RateMode::Fixed, RateMode::Adaptive] {
        // 4/s: three waiters are already past any pause check, waiting for their slots, when the
        // first request comes back 429 with Retry-After: 3.
        let limiter = Arc::new(limiter(4, mode));
        let t0 = Instant::now();
        let first = limiter.ready().await;
        let left = Arc::new(Left::default());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let (limiter, left) = (limiter.clone(), left.clone());
                tokio::spawn(async move {
                    let sent = limiter.ready().await;
                    left.0.lock().unwrap().push(sent.at - t0);
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(20)).await;
        limiter.throttled(first, Duration::from_secs(3));
        for waiter in waiters {
            waiter.await.unwrap();
        }
        let left = left.0.lock().unwrap().clone();
        let pause_end = Duration::from_millis(3020);
        assert!(left.iter().all(|t| *t >= pause_end), "{mode}: sent during the pause: {left:?}");
        // After the pause they leave at the pace, not all at once.
        assert!(busiest_second(&left) <= 4, "{mode}: {left:?}");
        let mut sorted = left.clone();
        sorted.sort();
        assert!(sorted.windows(2).all(|w| w[1] - w[0] >= Duration::from_millis(249)), "{mode}: {sorted:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_longer_pause_extends_the_one_in_force_and_a_shorter_one_does_not_shorten_it() {
    let limiter = limiter(1000, RateMode::Fixed);
    let t0 = Instant::now();
    let sent = limiter.ready().await;
    limiter.throttled(sent, Duration::from_secs(2));
    limiter.throttled(sent, Duration::from_secs(1));
    assert!(limiter.ready().await.at - t0 >= Duration::from_secs(2));
    let sent = limiter.ready().await;
    limiter.throttled(sent, Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    limiter.throttled(sent, Duration::from_secs(1));
    assert!(limiter.ready().await.at - t0 >= Duration::from_millis(3500));
}

/// `n` requests at the limiter's pace, each accepted; the last one sent.
async fn accepted(limiter: &Limiter, n: usize) -> Sent {
    let mut last = None;
    for _ in 0..n {
        let sent = limiter.ready().await;
        limiter.accepted(sent);
        last = Some(sent);
    }
    last.unwrap()
}

fn rate_at(limiter: &Limiter, at: Instant) -> f64 {
    let mut state = limiter.state();
    limiter.settle(&mut state, at);
    limiter.fill(&state, at)
}

/// The quota the limiter follows, confirmed or on trial (see `judge`).
fn following(limiter: &Limiter) -> Option<Learned> {
    let mut state = limiter.state();
    limiter.settle(&mut state, Instant::now());
    state.curve.map(|c| Learned { accepted_per_second: c.quota, holding_per_second: c.target, hold: c.hold })
}

#[track_caller]
fn about(actual: f64, expected: f64) {
    assert!((actual - expected).abs() <= 0.01 * expected + 0.01, "{actual} is not about {expected}");
}

#[tokio::test(start_paused = true)]
async fn a_refusal_cuts_to_a_share_of_what_was_accepted_which_climbs_back_is_held_then_probed() {
    let limiter = limiter(1000, RateMode::Adaptive);
    assert_eq!(limiter.current_rate(), 1000.0, "the ceiling until the vendor refuses");
    // 100 accepted in the second before the refused request: it was accepting about 100/s.
    accepted(&limiter, 100).await;
    let refused = limiter.ready().await;
    limiter.throttled(refused, Duration::from_secs(1));
    let resume = refused.at + Duration::from_secs(1);
    let learned = following(&limiter).unwrap();
    assert_eq!(learned.accepted_per_second, 100.0);
    about(learned.holding_per_second, MARGIN * 100.0);
    assert_eq!(learned.hold, FIRST_HOLD);
    // Learned only once the cut is tried: a second of answers after it, none refused.
    assert_eq!(limiter.learned(), None, "on trial");
    tokio::time::sleep_until(resume).await;
    accepted(&limiter, 1000).await;
    assert_eq!(limiter.learned(), Some(learned));

    // Cut to BETA of it; back to MARGIN of it after RAMP along a concave curve (it rises fastest
    // first); held; then probing above it, slowly at first.
    about(rate_at(&limiter, resume), BETA * 100.0);
    let (quarter, half) = (rate_at(&limiter, resume + RAMP / 4), rate_at(&limiter, resume + RAMP / 2));
    assert!(quarter - BETA * 100.0 > half - quarter, "concave: {quarter} then {half}");
    about(rate_at(&limiter, resume + RAMP), MARGIN * 100.0);
    about(rate_at(&limiter, resume + RAMP + FIRST_HOLD), MARGIN * 100.0);
    let probe = resume + RAMP + FIRST_HOLD;
    // CUBIC's curve on both sides of the hold: the probe reaches the quota as long after the hold
    // as the climb took to rise from there to the rate held.
    let (half, two) = (rate_at(&limiter, probe + RAMP / 2), rate_at(&limiter, probe + 2 * RAMP));
    assert!(MARGIN * 100.0 < half && half < 100.0 + 1.0, "a probe starts slowly: {half}");
    assert!(two > 200.0, "and then looks further: {two}");
    // Never above the ceiling.
    assert_eq!(rate_at(&limiter, probe + Duration::from_secs(3600)), 1000.0);
}

#[tokio::test(start_paused = true)]
async fn refusals_of_requests_sent_before_the_cut_cut_nothing_more() {
    let limiter = limiter(1000, RateMode::Adaptive);
    accepted(&limiter, 50).await;
    let (a, b) = (limiter.ready().await, limiter.ready().await);
    limiter.throttled(a, Duration::from_secs(1));
    let after_first = following(&limiter);
    limiter.throttled(b, Duration::from_secs(1));
    assert_eq!(following(&limiter), after_first);
    about(after_first.unwrap().accepted_per_second, 50.0);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_with_almost_nothing_accepted_before_pauses_but_learns_nothing() {
    let limiter = limiter(1000, RateMode::Adaptive);
    let first = limiter.ready().await;
    limiter.throttled(first, Duration::from_secs(1));
    assert_eq!(limiter.learned(), None);
    assert_eq!(limiter.current_rate(), 1000.0);
}

#[tokio::test(start_paused = true)]
async fn fixed_mode_keeps_the_rate_whatever_the_vendor_says() {
    let limiter = limiter(1000, RateMode::Fixed);
    accepted(&limiter, 100).await;
    let refused = limiter.ready().await;
    limiter.throttled(refused, Duration::from_secs(1));
    assert_eq!(limiter.learned(), None);
    assert_eq!(limiter.current_rate(), 1000.0);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_below_the_rate_held_cuts_without_a_hold() {
    let limiter = limiter(1000, RateMode::Adaptive);
    limiter.start_from(&Learned { accepted_per_second: 100.0, holding_per_second: 97.0, hold: FIRST_HOLD });
    about(limiter.current_rate(), MARGIN * 100.0);
    // The vendor refuses while the rate is held: its quota fell, or it refuses at random.
    let sent = accepted(&limiter, 60).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = limiter.ready().await;
    assert!(refused.at - sent.at < ONE_SECOND);
    limiter.throttled(refused, Duration::from_secs(1));
    let learned = following(&limiter).unwrap();
    about(learned.accepted_per_second, 60.0);
    assert_eq!(learned.hold, Duration::ZERO);
    let resume = refused.at + Duration::from_secs(1);
    assert!(rate_at(&limiter, resume + RAMP + ONE_SECOND) > MARGIN * 60.0, "probing at once");
}

/// A vendor with a sliding one-second window of `quota` accepted requests, `latency` away, and
/// `workers` sending through `limiter` for `span`: (requests sent, refused, accepted).
async fn against_a_quota(
    limiter: Arc<Limiter>,
    quota: u32,
    workers: usize,
    span: Duration,
) -> (u64, u64, u64) {
    let latency = Duration::from_millis(20);
    let vendor = Arc::new(std::sync::Mutex::new(Quota::new(NonZeroU32::new(quota).unwrap(), ONE_SECOND)));
    let counts = Arc::new(std::sync::Mutex::new((0u64, 0u64)));
    let end = Instant::now() + span;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (limiter, vendor, counts) = (limiter.clone(), vendor.clone(), counts.clone());
            tokio::spawn(async move {
                loop {
                    let sent = limiter.ready().await;
                    if sent.at >= end {
                        return;
                    }
                    tokio::time::sleep(latency / 2).await;
                    let verdict = vendor.lock().unwrap().admit(Instant::now());
                    tokio::time::sleep(latency / 2).await;
                    let mut counts = counts.lock().unwrap();
                    counts.0 += 1;
                    match verdict {
                        Ok(()) => limiter.accepted(sent),
                        Err(wait) => {
                            counts.1 += 1;
                            limiter.throttled(sent, Duration::from_secs(retry_after_secs(wait)));
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let (sent, refused) = *counts.lock().unwrap();
    (sent, refused, sent - refused)
}

#[tokio::test(start_paused = true)]
async fn a_sliding_window_quota_is_found_held_and_remembered() {
    // --rate 1000/s, 32 workers, 20 ms away, against 100/s: the wrong guess.
    let limiter = Arc::new(limiter(1000, RateMode::Adaptive));
    let span = Duration::from_secs(30);
    let (sent, refused, accepted) = against_a_quota(limiter.clone(), 100, 32, span).await;
    let share = accepted as f64 / span.as_secs_f64() / 100.0;
    assert!(share >= 0.9, "{share} of the quota ({sent} sent, {refused} refused)");
    assert!(refused as f64 <= 0.02 * sent as f64, "{refused} of {sent} refused");
    let learned = limiter.learned().unwrap();
    assert!((97.0..=103.0).contains(&learned.accepted_per_second), "{learned:?}");

    // The next run starts from it: not one refusal, nearly the whole quota.
    let next = Arc::new(self::limiter(1000, RateMode::Adaptive));
    next.start_from(&learned);
    let (sent, refused, accepted) = against_a_quota(next, 100, 32, span).await;
    assert_eq!(refused, 0, "{sent} sent");
    assert!(accepted as f64 / span.as_secs_f64() >= 95.0, "{accepted} accepted");

    // In fixed mode at the same wrong guess, every second brings its refusals.
    let fixed = Arc::new(self::limiter(1000, RateMode::Fixed));
    let (sent, refused, _) = against_a_quota(fixed, 100, 32, span).await;
    assert!(refused as f64 > 0.05 * sent as f64, "{refused} of {sent} refused");
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_finds_the_same_quota_doubles_the_hold() {
    let limiter = Arc::new(limiter(1000, RateMode::Adaptive));
    let span = FIRST_HOLD * 3 + Duration::from_secs(40);
    let (sent, refused, accepted) = against_a_quota(limiter.clone(), 100, 32, span).await;
    // Found at the start, probed after the first hold and after the second, and found again each
    // time (and each time tried and confirmed): held twice as long, then four times.
    assert_eq!(limiter.learned().unwrap().hold, 4 * FIRST_HOLD);
    assert!(refused as f64 <= 0.02 * sent as f64, "{refused} of {sent} refused");
    assert!(accepted as f64 / span.as_secs_f64() >= 93.0, "{accepted} accepted");
}

#[tokio::test(start_paused = true)]
async fn a_quota_that_rose_is_found_by_the_next_probe() {
    let limiter = Arc::new(limiter(1000, RateMode::Adaptive));
    limiter.start_from(&Learned { accepted_per_second: 50.0, holding_per_second: 48.5, hold: FIRST_HOLD });
    let span = FIRST_HOLD + Duration::from_secs(15);
    against_a_quota(limiter.clone(), 200, 32, span).await;
    let learned = limiter.learned().unwrap();
    assert!((190.0..=210.0).contains(&learned.accepted_per_second), "{learned:?}");
}

/// A simulated vendor: a sliding one-second window of `quota` accepted requests (none: no quota),
/// and a share of requests refused at random whatever the pace (`Retry-After: 1`), drawn after
/// the quota as the sandbox draws its faults.
#[derive(Debug)]
struct Vendor {
    quota: Option<Quota>,
    noise: f64,
    rng: rand::rngs::Xoshiro256PlusPlus,
}

impl Vendor {
    fn new(quota: Option<u32>, noise: f64) -> Vendor {
        use rand::SeedableRng as _;
        Vendor {
            quota: quota.map(|q| Quota::new(NonZeroU32::new(q).unwrap(), ONE_SECOND)),
            noise,
            rng: rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7),
        }
    }

    fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        use rand::RngExt as _;
        if let Some(quota) = self.quota.as_mut() {
            quota.admit(now)?;
        }
        if self.rng.random::<f64>() < self.noise { Err(ONE_SECOND) } else { Ok(()) }
    }
}

/// What a vendor saw of one limiter's requests.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    sent: u64,
    refused: u64,
}

impl Seen {
    fn accepted(self) -> u64 {
        self.sent - self.refused
    }
}

/// `workers` sending through `limiter`, 20 ms away from `vendor`, for `span`: every request a
/// fresh one (a refused row waits its Retry-After elsewhere, as the retry policy has it).
async fn against(
    limiter: Arc<Limiter>,
    vendor: Arc<std::sync::Mutex<Vendor>>,
    workers: usize,
    span: Duration,
) -> Seen {
    let log = Log::default();
    against_logged(limiter, vendor, workers, span, &log).await;
    seen_in(&log, |_| true)
}

/// When each request was sent, and whether it was refused.
type Log = Arc<std::sync::Mutex<Vec<(Instant, bool)>>>;

/// The requests of `log` sent when `when` says, and how many of them were refused.
fn seen_in(log: &Log, when: impl Fn(Instant) -> bool) -> Seen {
    let log = log.lock().unwrap();
    let sent = log.iter().filter(|(at, _)| when(*at));
    sent.fold(Seen::default(), |seen, (_, refused)| Seen {
        sent: seen.sent + 1,
        refused: seen.refused + u64::from(*refused),
    })
}

/// [`against`], writing every request down in `log`.
async fn against_logged(
    limiter: Arc<Limiter>,
    vendor: Arc<std::sync::Mutex<Vendor>>,
    workers: usize,
    span: Duration,
    log: &Log,
) {
    let latency = Duration::from_millis(20);
    let end = Instant::now() + span;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (limiter, vendor, log) = (limiter.clone(), vendor.clone(), log.clone());
            tokio::spawn(async move {
                loop {
                    let sent = limiter.ready().await;
                    if sent.at >= end {
                        return;
                    }
                    tokio::time::sleep(latency / 2).await;
                    let verdict = vendor.lock().unwrap().admit(Instant::now());
                    tokio::time::sleep(latency / 2).await;
                    log.lock().unwrap().push((sent.at, verdict.is_err()));
                    match verdict {
                        Ok(()) => limiter.accepted(sent),
                        Err(wait) => limiter.throttled(sent, Duration::from_secs(retry_after_secs(wait))),
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

fn vendor(quota: Option<u32>, noise: f64) -> Arc<std::sync::Mutex<Vendor>> {
    Arc::new(std::sync::Mutex::new(Vendor::new(quota, noise)))
}

#[tokio::test(start_paused = true)]
async fn random_refusals_leave_the_rate_at_the_ceiling_and_teach_no_quota() {
    for noise in [0.03, 0.05, 0.1] {
        // 32 workers 20 ms away could send 1,600 a second: the ceiling, 1,000/s, is the bound.
        let limiter = Arc::new(limiter(1000, RateMode::Adaptive));
        let span = Duration::from_secs(20);
        let seen = against(limiter.clone(), vendor(None, noise), 32, span).await;
        assert_eq!(limiter.current_rate(), 1000.0, "{noise}: {seen:?}");
        assert_eq!(limiter.learned(), None, "{noise}: a quota made of noise");
        let known = limiter.state().judge.noise().unwrap();
        assert!((known - noise).abs() < noise / 4.0, "{noise}: noise share known as {known}");
        // The first refusal paused everything, then the noise was found: the rest went at the
        // ceiling.
        assert!(seen.sent as f64 >= 0.88 * 1000.0 * span.as_secs_f64(), "{noise}: {seen:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_quota_an_earlier_run_learned_from_noise_is_dropped() {
    // The state remembers "30/s", which random refusals made; this run's refusals are tried.
    let limiter = Arc::new(limiter(1000, RateMode::Adaptive));
    limiter.start_from(&Learned { accepted_per_second: 30.0, holding_per_second: 29.0, hold: FIRST_HOLD });
    about(limiter.current_rate(), 29.1);
    let seen = against(limiter.clone(), vendor(None, 0.05), 32, Duration::from_secs(20)).await;
    assert_eq!(limiter.current_rate(), 1000.0, "{seen:?}");
    assert_eq!(limiter.learned(), None);
    assert!(limiter.forgot_inherited());
}

#[tokio::test(start_paused = true)]
async fn a_quota_is_still_found_and_held_with_or_without_noise_on_top() {
    // With noise on top, the quota found is low by the noise share: the vendor counts the
    // requests it refuses at random in its window too, and they are not counted as accepted.
    for (noise, least, excess_most) in [(0.0, 0.95, 0.005), (0.03, 0.9, 0.01)] {
        let limiter = Arc::new(limiter(1000, RateMode::Adaptive));
        let span = Duration::from_secs(100);
        let seen = against(limiter.clone(), vendor(Some(100), noise), 32, span).await;
        // Of the quota, what the vendor accepted less what it refused at random.
        let share = seen.accepted() as f64 / (1.0 - noise) / span.as_secs_f64() / 100.0;
        assert!(share >= least, "{noise}: {share} of the quota ({seen:?})");
        let excess = seen.refused as f64 - noise * seen.sent as f64;
        assert!(excess <= excess_most * seen.sent as f64, "{noise}: {seen:?}");
        let learned = limiter.learned().expect("a quota");
        assert!((95.0..=103.0).contains(&learned.accepted_per_second), "{noise}: {learned:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn refusals_that_start_to_follow_the_rate_are_a_quota_again() {
    let limiter = Arc::new(limiter(1000, RateMode::Adaptive));
    let vendor = vendor(None, 0.05);
    against(limiter.clone(), vendor.clone(), 32, Duration::from_secs(10)).await;
    assert_eq!((limiter.current_rate(), limiter.learned()), (1000.0, None), "noise first");
    // The vendor now has a quota of 100/s as well.
    vendor.lock().unwrap().quota = Some(Quota::new(NonZeroU32::new(100).unwrap(), ONE_SECOND));
    let span = Duration::from_secs(40);
    let seen = against(limiter.clone(), vendor.clone(), 32, span).await;
    let learned = limiter.learned().expect("the quota found");
    assert!((90.0..=103.0).contains(&learned.accepted_per_second), "{learned:?}");
    // Found within seconds, and held.
    let share = seen.accepted() as f64 / 0.95 / span.as_secs_f64() / 100.0;
    assert!(share >= 0.9, "{share} of the quota ({seen:?})");
    assert!(seen.refused as f64 <= 0.1 * seen.sent as f64, "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn two_processes_share_one_quota_without_a_coordinator() {
    // Two limiters (two processes, each told --rate 1000/s), one vendor allowing 100/s; the second
    // starts with the first, or a little after it (as two cron jobs do). Together they hold the
    // quota either way; they share it evenly only when they start together: each holds what it
    // was accepting when first refused, and one that came late was accepting less (the hand-written
    // limiter before issue 22 did the same).
    for lag in [Duration::ZERO, Duration::from_millis(50), Duration::from_millis(400), Duration::from_secs(3)]
    {
        let vendor = vendor(Some(100), 0.0);
        let (a, b) =
            (Arc::new(limiter(1000, RateMode::Adaptive)), Arc::new(limiter(1000, RateMode::Adaptive)));
        let span = Duration::from_secs(100);
        let second = async {
            tokio::time::sleep(lag).await;
            against(b.clone(), vendor.clone(), 32, span - lag).await
        };
        let (seen_a, seen_b) = tokio::join!(against(a.clone(), vendor.clone(), 32, span), second);
        let together = (seen_a.accepted() + seen_b.accepted()) as f64 / span.as_secs_f64() / 100.0;
        let (sent, refused) = (seen_a.sent + seen_b.sent, seen_a.refused + seen_b.refused);
        let shares = (seen_a.sent as f64 / sent as f64, seen_b.sent as f64 / sent as f64);
        assert!(together >= 0.9, "{lag:?}: {together} of the quota: {seen_a:?} {seen_b:?}");
        assert!(refused as f64 <= 0.02 * sent as f64, "{lag:?}: {seen_a:?} {seen_b:?}");
        if lag.is_zero() {
            assert!(shares.0 >= 0.35 && shares.1 >= 0.35, "{lag:?}: {shares:?}");
        }
        assert!(a.learned().is_some() && b.learned().is_some());
    }
}

#[tokio::test(start_paused = true)]
async fn waiters_keep_up_with_a_climb_from_a_low_rate() {
    // 32 waiters take their slots at 3.88/s, eight seconds deep; the rate then climbs (a probe
    // above a quota of 4/s an earlier run learned, its hold over). They leave at the rate of the
    // climb, not at the spacing their slots were taken at, and never faster than it.
    let limiter = Arc::new(limiter(1000, RateMode::Adaptive));
    limiter.start_from(&Learned { accepted_per_second: 4.0, holding_per_second: 3.88, hold: Duration::ZERO });
    let t0 = Instant::now();
    let span = Duration::from_secs(4);
    let left = Arc::new(Left::default());
    let waiters: Vec<_> = (0..32)
        .map(|_| {
            let (limiter, left) = (limiter.clone(), left.clone());
            tokio::spawn(async move {
                loop {
                    let sent = limiter.ready().await;
                    if sent.at - t0 >= span {
                        return;
                    }
                    left.0.lock().unwrap().push(sent.at - t0);
                }
            })
        })
        .collect();
    for waiter in waiters {
        waiter.await.unwrap();
    }
    let left = left.0.lock().unwrap().clone();
    // The curve: 3.88/s and CUBIC's convex probe, 4 × (MARGIN - BETA) requests a second per
    // second cubed; over 4 s, 3.88 × 4 + 1.08 × 4⁴ / 4 = 84.6 requests.
    let growth = 4.0 * (MARGIN - BETA) / RAMP.as_secs_f64().powi(3);
    let fill_at = |t: f64| 3.88 + growth * t.powi(3);
    let expected = 3.88 * 4.0 + growth * 4f64.powi(4) / 4.0;
    assert!(
        left.len() as f64 >= 0.85 * expected,
        "{} sent, the curve allows {expected:.1}: {left:?}",
        left.len()
    );
    for second in 0..4 {
        let (from, to) = (Duration::from_secs(second), Duration::from_secs(second + 1));
        let within = left.iter().filter(|t| (from..to).contains(*t)).count();
        let most = fill_at((second + 1) as f64) + 2.0;
        assert!(within as f64 <= most, "second {second}: {within} sent, the rate reached {most:.1}");
    }
}

/// Not a test: two limiters sharing a 100/s quota, the second started 0, 50 ms, 400 ms, 1 s, 3 s
/// and 10 s late (`LAGS`, in milliseconds), for 100 s (`SPAN`, seconds). Prints, for each lag,
/// the quota held together and the share of each while both ran, and what each had accepted a
/// second in each twentieth of the span. For the README's "Several processes on one account":
/// `SPAN=1200 cargo test --lib share_experiment -- --ignored --nocapture`.
#[tokio::test(start_paused = true)]
#[ignore = "an experiment: prints, asserts nothing"]
#[allow(clippy::print_stdout, reason = "what the experiment found, for whoever runs it with --nocapture")]
async fn share_experiment() {
    let number = |name: &str| std::env::var(name).ok();
    let span = Duration::from_secs(number("SPAN").and_then(|s| s.parse().ok()).unwrap_or(100));
    let lags: Vec<u64> = number("LAGS")
        .map(|lags| lags.split(',').filter_map(|lag| lag.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![0, 50, 400, 1000, 3000, 10_000]);
    for lag in lags.into_iter().map(Duration::from_millis) {
        let vendor = vendor(Some(100), 0.0);
        let (a, b) =
            (Arc::new(limiter(1000, RateMode::Adaptive)), Arc::new(limiter(1000, RateMode::Adaptive)));
        let (log_a, log_b) = (Log::default(), Log::default());
        let t0 = Instant::now();
        let second = async {
            tokio::time::sleep(lag).await;
            against_logged(b, vendor.clone(), 32, span - lag, &log_b).await
        };
        tokio::join!(against_logged(a, vendor.clone(), 32, span, &log_a), second);
        // While both run.
        let (seen_a, seen_b) = (seen_in(&log_a, |at| at >= t0 + lag), seen_in(&log_b, |at| at >= t0 + lag));
        let sent = (seen_a.sent + seen_b.sent) as f64;
        let slot = span / 20;
        let per_second = |log: &Log| {
            let mut slots = [0u32; 20];
            for (at, _) in log.lock().unwrap().iter().filter(|(_, refused)| !refused) {
                slots[(((*at - t0).as_secs_f64() / slot.as_secs_f64()) as usize).min(19)] += 1;
            }
            slots.map(|n| (f64::from(n) / slot.as_secs_f64()).round() as u32)
        };
        println!(
            "lag {lag:?}: together {:.3} of the quota, {:.2}% refused, shares {:.2} / {:.2}\n  a {:?}\n  b {:?}",
            (seen_a.accepted() + seen_b.accepted()) as f64 / (span - lag).as_secs_f64() / 100.0,
            100.0 * (seen_a.refused + seen_b.refused) as f64 / sent,
            seen_a.sent as f64 / sent,
            seen_b.sent as f64 / sent,
            per_second(&log_a),
            per_second(&log_b),
        );
    }
}
