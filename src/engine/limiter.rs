//! The limiter every worker awaits before every request, retries included: the pace (`--rate`,
//! `--burst`), the pause every worker observes after a 429, and — in the default adaptive mode —
//! the vendor's quota, found by itself and held. One per process: `run` makes one, and the server
//! keeps one for its life, so every job shares the pace, the pause and what was learned.
//!
//! **Pace.** A token bucket kept as GCRA: each request reserves the next slot (its theoretical
//! arrival time) and sleeps until it, so a waiter costs one timer and one wake-up, however many
//! wait (waiters that poll a shared bucket all wake for every token). The busiest second holds
//! `bucket + ceil(1 s / interval) - 1` requests; see [`pacing`] for the numbers. Slots reserved
//! ahead are spaced for the rate when they were taken: when the adaptive rate climbs a quarter
//! above it, they are void and every waiter takes its slot again at the new pace (see
//! [`Limiter::rise`]), so a climb from a low rate is not held back by the waiters' old spacing.
//!
//! Written here rather than taken from `governor`, measured (issue 22; the trial is on branch
//! `rate-governor-trial`): governor's GCRA is the same arithmetic, but it answers "not until T"
//! instead of reserving T, so a waiter woken late by tokio's millisecond timer loses that lateness
//! (49/s became 48 in the busiest second), waiters must take turns lest each polls every slot,
//! and a new limiter must be swapped in at every change of the adaptive rate. It cost 15–30% more
//! CPU per request (4.93 against 4.27 CPU-s per 10,000 rows at 100/s, 4.67 against 3.54 at 200/s)
//! and 3.4 voluntary context switches a row against 2.0, for 0.992 of 200/s against 0.995.
//!
//! **Pause.** A 429 the limiter takes for a quota's stops every request for its `Retry-After`
//! (1 s without one): a pause starts a new generation of slots, and a waiter whose slot was
//! reserved before it waits the pause out and reserves again, so no request leaves while a pause
//! is in force — those already waiting for their turn at the pace included — and after it they
//! leave at the pace, not all at once. The refused request itself waits its `Retry-After` as the
//! retry policy (`retry.rs`) says, whatever the limiter decides for the others.
//!
//! **Adaptive rate** (after the AWS SDKs' "adaptive" retry mode, with CUBIC's curve): the fill
//! rate starts at the ceiling (`--rate`), or at what an earlier run of the state learned. When the
//! vendor refuses a request, what it was accepting is counted once the pause ends (by then the
//! requests sent before the refused one have had their answers): the requests it answered among
//! those sent in the second before the refused one, the way a gateway's sliding window counts
//! them. The fill is cut to [`BETA`] of that, climbs back along CUBIC's concave curve to
//! [`MARGIN`] of it in [`RAMP`], is held there, and after the hold probes above along CUBIC's
//! convex curve, slowly at first: a quota that rose is found, and one that did not costs one
//! refusal per hold. A probe that finds the same quota again doubles the hold (two minutes, four,
//! ... up to ten), so a long run at a steady quota meets a refusal every ten minutes.
//!
//! **A quota or noise?** Every cut is put on trial (`judge.rs`): a quota's refusals vanish below
//! it, random refusals do not. Until the trial's verdict nothing is learned; a quota keeps the
//! cut, noise restores the rate before it, and from then on random refusals pause no one and cut
//! nothing — only refusals that follow the rate again (a share well above the noise's) pause
//! everyone and cut. A refusal whose own in-flight neighbours were accepted where a quota at the
//! rate counted would have refused them is noise at once, without a cut.
//!
//! Only a refusal that shows a limit is held: one met while sending faster than the vendor was
//! accepting (the first, from the ceiling), faster than the rate held (a probe), or after a cut
//! that did not reach below the quota. A refusal met below the rate held (the quota fell) cuts
//! the same way but climbs straight back and probes, without a hold. Refusals of requests sent
//! before the last cut took effect are not counted again.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::EngineSettings;

/// How the fill rate is decided: `--rate-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateMode {
    /// `--rate` is the ceiling; the vendor's quota is found and held below it.
    Adaptive,
    /// Always `--rate`, for those who know their quota exactly. 429s still pause every worker.
    Fixed,
}

/// The rate mode without `--rate-mode`.
pub const DEFAULT_RATE_MODE: RateMode = RateMode::Adaptive;

impl RateMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RateMode::Adaptive => "adaptive",
            RateMode::Fixed => "fixed",
        }
    }

    pub fn parse(text: &str) -> Option<RateMode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "adaptive" => Some(RateMode::Adaptive),
            "fixed" => Some(RateMode::Fixed),
            _ => None,
        }
    }
}

impl std::fmt::Display for RateMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

const ONE_SECOND: Duration = Duration::from_secs(1);

/// After a refusal the fill is cut to this share of what the vendor was accepting (AWS's and
/// CUBIC's β).
pub const BETA: f64 = 0.7;
/// The rate held: this share of what the vendor accepted (less the burst), so that the busiest
/// second, as it arrives, stays a few requests under the quota.
pub const MARGIN: f64 = 0.97;
/// How long the climb from the cut back to the rate held takes: CUBIC's K, the same at any quota
/// (the curve's constant is a share of the quota, not a number of requests).
pub const RAMP: Duration = Duration::from_secs(1);
/// The first hold at a quota found; each probe that finds it again doubles it, up to [`MAX_HOLD`].
/// A probe costs a second of the whole quota (its refusal pauses everyone, as a quota's must) and
/// the climb back: every 30 s that was 4% of a run at the quota, every two minutes it is 1%.
pub const FIRST_HOLD: Duration = Duration::from_secs(120);
pub const MAX_HOLD: Duration = Duration::from_secs(600);
/// A climb this many times above the pace the waiting slots were spaced for voids them (see
/// [`Limiter::rise`]).
const RISE: f64 = 1.25;
/// The lowest fill, requests a second (AWS's minimum), unless `--rate` is lower.
const MIN_FILL: f64 = 0.5;
/// A refusal when fewer requests than this were accepted in the second before says nothing about
/// the rate (the first request refused, a refusal after a long quiet): it pauses, and cuts nothing.
const MIN_SAMPLE: usize = 2;
/// A probe that finds the quota within this share of the last one found it again.
const SAME_QUOTA: f64 = 0.1;
/// From this rate (requests a second) on, the bucket trades one request a second for a slot to
/// catch up with (see [`pacing`]).
const CATCH_UP_FROM: f64 = 50.0;
/// Answers remembered for counting (time of sending, pauses excluded).
const REMEMBERED: Duration = Duration::from_secs(2);
const MAX_REMEMBERED: usize = 1 << 20;

/// The spacing of requests at `per_second` and the bucket, for a burst of `burst`.
///
/// GCRA with a bucket of `burst` at an interval of `1 / rate` lets no second carry more than
/// `rate + burst - 1` requests, counted where they leave; a request held up on its way can arrive
/// closer to the next one than it left, and the promise (`rate + burst`, counted where they arrive)
/// keeps that one request of room. A waiter woken late (tokio's timer ticks in milliseconds: 10%
/// of a 5 ms interval) would lose that time for good, and 200/s would become 180/s. So from
/// [`CATCH_UP_FROM`] requests a second the bucket holds one request more, which a waiter woken
/// late spends to catch up, and the interval is that of one request a second fewer, which pays for
/// it: the same busiest second, and a steady `rate - 1` (99.5% of 200/s) instead of about 90%.
/// Below it, a millisecond lost per request costs less than one request a second does.
pub fn pacing(per_second: f64, burst: NonZeroU32) -> (Duration, u32) {
    let (steady, bucket) = if per_second >= CATCH_UP_FROM {
        let whole = per_second.floor().min(f64::from(u32::MAX));
        ((whole - 1.0).max(1.0), burst.get().saturating_add(1))
    } else {
        (per_second, burst.get())
    };
    // Rounded up, so that `1 s / interval` never exceeds the steady rate by a rounding error.
    let nanos = (1e9 / steady).ceil().clamp(1.0, u64::MAX as f64) as u64;
    (Duration::from_nanos(nanos), bucket)
}

/// A request the limiter let go, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub at: Instant,
}

/// What the adaptive limiter knows of the vendor's quota, to report and to start the next run
/// from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Learned {
    /// Requests a second the vendor accepted when it last refused one.
    pub accepted_per_second: f64,
    /// The rate held below it: a `--rate` of this much would avoid throttling.
    pub holding_per_second: f64,
    /// How long that rate is held before the next probe above it.
    pub hold: Duration,
}

/// The limiter: see the module's documentation.
#[derive(Debug)]
pub struct Limiter {
    mode: RateMode,
    ceiling: f64,
    burst: NonZeroU32,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The theoretical arrival time of the next request (GCRA).
    tat: Instant,
    /// The lowest fill a slot was reserved at since the slots were last voided: the slots
    /// reserved ahead are spaced for it or faster.
    paced_at: f64,
    /// Slots reserved before the latest pause are void: their waiters reserve again.
    generation: u64,
    pause: Pause,
    curve: Option<Curve>,
    /// A refusal not yet counted: what the vendor accepted before it is counted once the
    /// requests sent before it have had their answers, when the pause ends.
    refused: Option<Refused>,
    /// Refusals of requests sent before this were counted already (one cut per pause).
    counted_until: Option<Instant>,
    /// When each answered request was sent, roughly oldest first, and whether it was refused.
    answers: VecDeque<(Instant, bool)>,
    /// Whether the refusals follow the rate: see [`judge`].
    judge: judge::Judge,
    /// What the vendor's refusals have shown of a quota; `None` while nothing is known, or what
    /// was known turned out to be noise.
    confirmed: Option<Curve>,
    /// A quota an earlier run learned was dropped: its refusals here were noise.
    forgot_inherited: bool,
}

/// A refusal whose lesson is not drawn yet.
#[derive(Debug, Clone, Copy)]
struct Refused {
    sent: Sent,
    /// The fill rate in force when it was sent.
    fill: f64,
    /// When the pause it caused began: requests sent up to then were sent before the cut.
    paused_at: Instant,
    /// The cut before did not reach below the quota: this one shows a limit whatever the pace.
    deeper: bool,
}

/// The latest pause a 429 asked for.
#[derive(Debug)]
struct Pause {
    until: Instant,
}

impl Pause {
    /// Pauses until `until`, unless a pause in force lasts longer; whether anything changed.
    fn extend(&mut self, until: Instant) -> bool {
        if until <= self.until {
            return false;
        }
        self.until = until;
        true
    }
}

/// The fill rate after a refusal: CUBIC's curve, cut at `from`, with a hold at its top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Curve {
    /// What the vendor accepted, requests a second.
    quota: f64,
    /// The rate held ([`MARGIN`] of the quota, less the burst).
    target: f64,
    /// CUBIC's constant: requests a second per second cubed.
    growth: f64,
    /// When the climb reaches the target (CUBIC's K after the climb begins).
    top: Instant,
    /// CUBIC's K: how long the climb takes.
    k: Duration,
    hold: Duration,
    /// Judged a quota while the share of random refusals was known: noise found later is on top
    /// of it, not its cause. A quota judged before any noise was known (or an earlier run's)
    /// may have been made by that noise, and is dropped when noise is found.
    judged_with_noise: bool,
}

impl Curve {
    fn new(quota: f64, burst: NonZeroU32, start_fraction: f64, from: Instant, hold: Duration) -> Curve {
        let target = (MARGIN * (quota - f64::from(burst.get() - 1))).max(MIN_FILL);
        let start = (start_fraction * quota).min(target);
        // Scaled by the quota, so that the climb takes RAMP at any quota.
        let growth = quota * (MARGIN - BETA) / RAMP.as_secs_f64().powi(3);
        let k = Duration::from_secs_f64(((target - start) / growth).cbrt());
        Curve { quota, target, growth, top: from + k, k, hold, judged_with_noise: false }
    }

    /// When the fill first reaches `fill`, if ever (it may have already).
    fn when(&self, fill: f64) -> Option<Instant> {
        let cube_root = |rise: f64| Duration::try_from_secs_f64((rise / self.growth).cbrt()).ok();
        if fill <= self.target {
            let before_top = cube_root(self.target - fill)?;
            return Some(self.top.checked_sub(before_top).unwrap_or(self.top));
        }
        self.top.checked_add(self.hold)?.checked_add(cube_root(fill - self.target)?)
    }

    fn fill(&self, now: Instant) -> f64 {
        if now < self.top {
            // Before the climb begins (a pause in force), the rate it begins at.
            let to_top = (self.top - now).min(self.k).as_secs_f64();
            return self.target - self.growth * to_top.powi(3);
        }
        let probing = now.saturating_duration_since(self.top + self.hold).as_secs_f64();
        self.target + self.growth * probing.powi(3)
    }
}

impl State {
    /// Remembers an answer to a request sent at `sent`, for counting.
    fn remember(&mut self, sent: Sent, refused: bool) {
        let newest = self.answers.back().map_or(sent.at, |a| a.0).max(sent.at);
        while self.answers.front().is_some_and(|a| newest.saturating_duration_since(a.0) > REMEMBERED)
            || self.answers.len() >= MAX_REMEMBERED
        {
            if let Some((_, refused)) = self.answers.pop_front() {
                self.judge.aged(refused);
            }
        }
        self.answers.push_back((sent.at, refused));
    }
}

impl Limiter {
    pub fn new(settings: &EngineSettings) -> Limiter {
        let now = Instant::now();
        Limiter {
            mode: settings.rate_mode,
            ceiling: settings.rate.per_second(),
            burst: settings.burst,
            state: Mutex::new(State {
                tat: now,
                paced_at: f64::INFINITY,
                generation: 0,
                pause: Pause { until: now },
                curve: None,
                refused: None,
                counted_until: None,
                answers: VecDeque::new(),
                judge: judge::Judge::default(),
                confirmed: None,
                forgot_inherited: false,
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Requests a second let through at `now`.
    fn fill(&self, state: &State, now: Instant) -> f64 {
        match (self.mode, &state.curve) {
            (RateMode::Adaptive, Some(curve)) => {
                curve.fill(now).clamp(MIN_FILL.min(self.ceiling), self.ceiling)
            }
            _ => self.ceiling,
        }
    }

    /// Reserves the next slot at `now`: when the request may leave, and the generation it
    /// belongs to.
    fn reserve(&self, state: &mut State, now: Instant) -> (Instant, u64) {
        // The pace at which it may leave: after the pause in force, if any.
        let fill = self.fill(state, now.max(state.pause.until));
        state.paced_at = state.paced_at.min(fill);
        let (interval, bucket) = pacing(fill, self.burst);
        let tolerance = interval.saturating_mul(bucket.saturating_sub(1));
        let earliest = state.tat.checked_sub(tolerance).unwrap_or(now);
        let at = now.max(earliest).max(state.pause.until);
        state.tat = state.tat.max(at) + interval;
        (at, state.generation)
    }

    /// Waits until a request may leave: no pause is in force, and its slot at the pace has come.
    /// Cancel-safe: a waiter dropped leaves its slot unused.
    pub async fn ready(&self) -> Sent {
        loop {
            let (at, generation) = {
                let mut state = self.state();
                let now = Instant::now();
                if now < state.pause.until {
                    // Slots are taken once the pause is over, at the pace then in force.
                    (state.pause.until, None)
                } else {
                    self.settle(&mut state, now);
                    let (at, generation) = self.reserve(&mut state, now);
                    (at, Some(generation))
                }
            };
            let Some(generation) = generation else {
                // The pause is over: take a slot.
                tokio::time::sleep_until(at).await;
                continue;
            };
            loop {
                // Woken at its slot, or earlier if the fill climbs far above the pace the slot
                // was reserved at.
                let risen = self.risen_at(&self.state()).filter(|&risen| risen > Instant::now());
                tokio::time::sleep_until(risen.map_or(at, |risen| risen.min(at))).await;
                let mut state = self.state();
                // A pause that began since the slot was reserved voids it: wait that one out and
                // take another.
                if generation != state.generation {
                    break;
                }
                let now = Instant::now();
                if now >= at {
                    return Sent { at: now };
                }
                if self.rise(&mut state, now) {
                    break;
                }
            }
        }
    }

    /// When the fill will have climbed [`RISE`] times above the pace the slots reserved ahead
    /// were spaced for, if it is climbing: see [`Limiter::rise`].
    fn risen_at(&self, state: &State) -> Option<Instant> {
        let curve = state.curve.as_ref().filter(|_| self.mode == RateMode::Adaptive)?;
        let risen = self.risen(state)?;
        let at = curve.when(risen)?;
        // A millisecond on, for the rounding of the curve's arithmetic (tokio's timer ticks in
        // milliseconds in any case).
        at.checked_add(Duration::from_millis(1))
    }

    /// The fill at which the slots reserved ahead are void: [`RISE`] times the pace they were
    /// spaced for, or the ceiling if that is nearer; none if the fill cannot climb above them.
    fn risen(&self, state: &State) -> Option<f64> {
        let risen = (RISE * state.paced_at).min(self.ceiling);
        (risen > state.paced_at).then_some(risen)
    }

    /// Voids the slots reserved ahead if the fill has climbed [`RISE`] times above the pace they
    /// were spaced for: whether it did. Every waiter then takes a slot at the new pace. Otherwise
    /// a climb from a low rate would keep every waiter at the low rate's spacing until its slot
    /// came: 32 waiters at 4/s wait up to eight seconds, whatever the rate meanwhile.
    fn rise(&self, state: &mut State, now: Instant) -> bool {
        if self.risen(state).is_none_or(|risen| self.fill(state, now) < risen) {
            return false;
        }
        state.generation += 1;
        state.tat = state.tat.min(now);
        state.paced_at = f64::INFINITY;
        true
    }

    /// The vendor answered a request sent at `sent` without refusing it (whatever the answer).
    pub fn accepted(&self, sent: Sent) {
        if self.mode != RateMode::Adaptive {
            return;
        }
        let mut state = self.state();
        state.remember(sent, false);
        let verdict = state.judge.answered(sent.at);
        self.conclude(&mut state, verdict);
    }

    /// The vendor refused a request sent at `sent` (429) and asked for `pause`. In fixed mode,
    /// and in adaptive mode unless the refusals are known to be noise, every request waits it
    /// out (the refused one waits its own `Retry-After` in any case, as the retry policy says);
    /// in adaptive mode, the fill rate is then cut to what the vendor was accepting, and the cut
    /// put on trial (see [`judge`]).
    pub fn throttled(&self, sent: Sent, pause: Duration) {
        let now = Instant::now();
        let mut guard = self.state();
        let state = &mut *guard;
        if self.mode == RateMode::Adaptive {
            state.remember(sent, true);
            let counted = state.counted_until.is_some_and(|t| sent.at <= t);
            match state.judge.refused(sent.at, counted, &state.answers) {
                judge::Refusal::Alone(verdict) => {
                    // Noise, or evidence on a cut's trial: only the refused request waits.
                    self.conclude(state, verdict);
                    return;
                }
                judge::Refusal::Counted => {}
                judge::Refusal::Cut { deeper } => {
                    let fill = self.fill(state, sent.at);
                    state.refused = Some(Refused { sent, fill, paused_at: now, deeper });
                    state.counted_until = Some(now);
                }
            }
        }
        let until = now + pause;
        if state.pause.extend(until) {
            state.generation += 1;
            state.tat = until;
            state.paced_at = f64::INFINITY;
        }
    }

    /// Acts on a trial's verdict: a quota is confirmed (and learned); noise restores the rate in
    /// force before the cut, less any quota that noise may have made.
    fn conclude(&self, state: &mut State, verdict: Option<judge::Verdict>) {
        match verdict {
            // Deeper: the refusal that said so is cutting again.
            None | Some(judge::Verdict::Deeper) => {}
            Some(judge::Verdict::Quota { with_noise }) => {
                if let Some(curve) = state.curve.as_mut() {
                    curve.judged_with_noise = with_noise;
                    tracing::debug!(
                        accepted_per_second = curve.quota,
                        "AOPay's refusals follow the rate: a quota, held below"
                    );
                    state.confirmed = Some(*curve);
                }
            }
            Some(judge::Verdict::Noise { restore, share }) => {
                let kept = restore.filter(|curve| curve.judged_with_noise);
                if restore.is_some() && kept.is_none() {
                    state.forgot_inherited |= state.confirmed.is_some_and(|c| !c.judged_with_noise);
                }
                tracing::debug!(
                    refused_share = share,
                    "AOPay refuses at random whatever the pace: back to the rate before the cut"
                );
                state.curve = kept;
                state.confirmed = kept;
            }
        }
    }

    /// Draws the lesson of the refusal waiting, if any, at `now` (the pause over): counts what
    /// the vendor accepted in the second of sending before the refused request — now that the
    /// requests sent before it have had their answers — cuts the fill to a share of it, and puts
    /// the cut on trial.
    fn settle(&self, state: &mut State, now: Instant) {
        let Some(Refused { sent, fill, paused_at, deeper }) = state.refused.take() else { return };
        // Counted as the vendor's sliding window counts them: the second before the refused
        // request was sent, in real time (a pause of a second or more empties it).
        let in_second = |a: Instant| a <= sent.at && sent.at.duration_since(a) < ONE_SECOND;
        let seen = state.answers.iter().filter(|&&(a, refused)| !refused && in_second(a)).count();
        if seen < MIN_SAMPLE {
            state.judge.no_cut();
            return;
        }
        // The requests sent after the refused one, before the pause: a quota at `seen` would
        // have refused nearly all of those sent faster than it. If the vendor accepted most of
        // them, what refused was not a limit at this pace: noise, found without a cut.
        let in_flight = |a: Instant| a > sent.at && a <= paused_at;
        let (answered, refused) = state
            .answers
            .iter()
            .filter(|(a, _)| in_flight(*a))
            .fold((0u32, 0u32), |(n, r), &(_, refused)| (n + 1, r + u32::from(refused)));
        let predicted = 1.0 - seen as f64 / fill;
        if answered >= judge::IN_FLIGHT_MIN && f64::from(refused) < predicted / 2.0 * f64::from(answered) {
            let verdict = state.judge.noise_found(answered + 1, refused + 1, state.curve);
            self.conclude(state, Some(verdict));
            return;
        }
        let quota = (seen as f64).min(fill);
        let shows_limit = deeper
            || match &state.curve {
                None => (seen as f64) < 0.9 * fill,
                Some(curve) => fill > curve.target * 1.001,
            };
        let hold = match state.curve {
            _ if !shows_limit => Duration::ZERO,
            Some(last) if !last.hold.is_zero() && (quota - last.quota).abs() <= SAME_QUOTA * last.quota => {
                last.hold.saturating_mul(2).min(MAX_HOLD)
            }
            _ => FIRST_HOLD,
        };
        let mut curve = Curve::new(quota, self.burst, BETA, now.max(state.pause.until), hold);
        curve.judged_with_noise = state.curve.is_some_and(|c| c.judged_with_noise);
        tracing::debug!(
            accepted_per_second = quota,
            holding_per_second = curve.target,
            hold_secs = hold.as_secs(),
            "AOPay refused a request: slowing to what it accepts"
        );
        let before = state.curve.replace(curve);
        let from = now.max(state.pause.until);
        // The share refused at the pace that met the refusal: from a second before it until the
        // pause began, every answer in by now.
        let window = |a: Instant| a <= paused_at && sent.at.saturating_duration_since(a) < ONE_SECOND;
        let (answered, refused) = state
            .answers
            .iter()
            .filter(|(a, _)| window(*a))
            .fold((0u32, 0u32), |(n, r), &(_, refused)| (n + 1, r + u32::from(refused)));
        state.judge.cut(from, answered, refused, before);
    }

    /// What was learned of the vendor's quota, if anything (adaptive mode only).
    pub fn learned(&self) -> Option<Learned> {
        let mut state = self.state();
        self.settle(&mut state, Instant::now());
        let curve = state.confirmed?;
        Some(Learned {
            accepted_per_second: curve.quota,
            holding_per_second: curve.target.min(self.ceiling),
            hold: curve.hold,
        })
    }

    /// Starts from what an earlier run learned, unless this limiter has learned something itself
    /// or is not adaptive: the rate held at once, then its hold, then probing. It is taken for a
    /// quota until this run's refusals show it was noise's (see [`judge`]).
    pub fn start_from(&self, learned: &Learned) {
        let quota = learned.accepted_per_second;
        if self.mode != RateMode::Adaptive || quota.is_nan() || quota <= 0.0 {
            return;
        }
        let mut state = self.state();
        if state.curve.is_none() && !state.judge.has_judged() {
            let now = Instant::now();
            let hold = learned.hold.min(MAX_HOLD);
            let curve = Curve::new(quota, self.burst, 1.0, now, hold);
            state.curve = Some(curve);
            state.confirmed = Some(curve);
        }
    }

    /// Whether the quota an earlier run learned (see [`Limiter::start_from`]) turned out to be
    /// a number noise made, and was dropped: the state should forget it too.
    pub fn forgot_inherited(&self) -> bool {
        self.state().forgot_inherited
    }

    /// Requests a second let through now.
    pub fn current_rate(&self) -> f64 {
        let mut state = self.state();
        let now = Instant::now();
        if now >= state.pause.until {
            self.settle(&mut state, now);
        }
        self.fill(&state, now.max(state.pause.until))
    }
}

mod judge;
#[cfg(test)]
mod tests;
