//! Tells a quota from noise. A vendor's quota refuses more the faster it is asked and nothing
//! below it; a vendor that refuses at random (a busy gateway, a flaky proxy) refuses the same
//! share of requests at any pace. Cutting the rate is the cure for the first and pure loss for
//! the second, so every cut is put on trial:
//!
//! 1. A refusal while nothing is known pauses everyone (a quota must not be hammered while we
//!    learn) and cuts the rate; the share refused in the second before the cut (every answer in
//!    by the pause's end) is written down.
//! 2. The answers to requests sent after the cut are counted. Refusals among them are evidence:
//!    they pause no one and cut nothing more — the refused request alone waits its
//!    `Retry-After`.
//! 3. The verdict, a second of sending after the cut at least (a quota shows itself within its
//!    window): **noise** as soon as so many of them are refused that the share cannot have fallen
//!    (at least [`EARLY_NOISE`], and twice what a fallen share gives), or once enough answers are
//!    in (enough for the share before the cut to have shown [`EXPECTED`] refusals) and it has not
//!    fallen below a third of the way from the noise already known to the share before;
//!    **quota** once enough answers are in and it has. A share that *rose* after the cut (by as
//!    much as the follow-the-rate test of step 5 asks) means the cut did not reach below the
//!    quota: everyone pauses again and the rate is cut again, from what the vendor accepted since.
//! 4. A quota keeps the cut (held, probed, learned and kept for the next run). Noise restores the
//!    rate in force before the cut and becomes the known noise share: from then on refusals pause
//!    no one and cut nothing, and a quota learned before noise was known (or by an earlier run)
//!    is dropped, since that noise may be what made it. A real quota behind it is found again
//!    by step 5.
//! 5. While noise is known, each refusal looks at the share refused in the last second of
//!    sending: more than the noise share again (or 5 points more, whichever is larger), and the
//!    refusals follow the rate again — back to step 1, with the noise share as the floor a cut
//!    can bring the share down to.
//!
//! Shares are taken with [`PRIOR`] answers of none refused added, so that one refusal among
//! three answers reads as the little evidence it is, not as a third of requests refused.

use std::collections::VecDeque;
use tokio::time::Instant;

use super::{Curve, ONE_SECOND};

/// Answers of none refused added to every share before it is compared (a prior that keeps a
/// handful of answers from reading as a large share).
pub(super) const PRIOR: f64 = 20.0;
/// Refusals the share before a cut would have shown among the answers counted after it: how
/// long a trial lasts before it can call the refusals a quota.
pub(super) const EXPECTED: f64 = 2.0;
/// Answers a trial counts at least, and at most, before its verdict.
const MIN_TRIAL: u32 = 30;
const MAX_TRIAL: u32 = 2000;
/// Refusals after the cut that call it noise at once (when the share has not fallen).
pub(super) const EARLY_NOISE: u32 = 2;
/// Answers to requests sent after a refused one (before the pause) that can show, by themselves,
/// that the refusal was noise.
pub(super) const IN_FLIGHT_MIN: u32 = 10;
/// With noise known, refusals in the last second above this much more than the noise share
/// follow the rate again (and at least [`FOLLOW_MIN`] of them).
const FOLLOW_MARGIN: f64 = 0.05;
const FOLLOW_MIN: usize = 5;
/// The noise share is counted over about this many answers, older ones weighing less.
const NOISE_MEMORY: u64 = 20_000;

/// What a refusal means for everyone else.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Refusal {
    /// Only the refused request waits (noise, or evidence on a cut's trial); with the trial's
    /// verdict if it settled one.
    Alone(Option<Verdict>),
    /// Sent before the cut in force took effect: the excess it answered is counted already.
    /// Everyone waits its `Retry-After`; nothing more is cut.
    Counted,
    /// Everyone waits, and once the pause is over the rate is cut and the cut tried. `deeper`:
    /// the last cut did not reach below the quota.
    Cut { deeper: bool },
}

/// A trial's outcome.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Verdict {
    /// The share refused fell after the cut: a quota. `with_noise`: judged while a noise share
    /// was known.
    Quota { with_noise: bool },
    /// It did not: noise, refusing `share` of requests. `restore`: the curve before the cut.
    Noise { restore: Option<Curve>, share: f64 },
    /// It rose: the cut did not reach below the quota; cut again.
    Deeper,
}

/// A cut on trial.
#[derive(Debug, Clone, Copy)]
struct Trial {
    /// Requests sent from this instant on were sent after the cut.
    from: Instant,
    /// The share refused before the cut.
    before: f64,
    /// The noise share known when the trial began (0 when none).
    noise: f64,
    /// Answers after the cut needed for a verdict of quota.
    needed: u32,
    answered: u32,
    refused: u32,
    /// The curve in force before the cut.
    restore: Option<Curve>,
}

impl Trial {
    /// The share after the cut has fallen: below a third of the way from the noise floor to the
    /// share before.
    fn fell(&self) -> bool {
        let after = f64::from(self.refused) / f64::from(self.answered.max(1));
        after < self.threshold()
    }

    /// The share below which it has fallen: a third of the way from the noise floor to the share
    /// before the cut.
    fn threshold(&self) -> f64 {
        self.noise + (self.before - self.noise) / 3.0
    }

    /// So many refused after the cut that it cannot be falling: at least [`EARLY_NOISE`], and
    /// twice what the share fallen would give.
    fn clearly_not_falling(&self) -> bool {
        self.refused >= EARLY_NOISE
            && f64::from(self.refused) >= 2.0 * self.threshold() * f64::from(self.answered)
    }

    /// The share after the cut has risen: it did not reach below the quota.
    fn rose(&self) -> bool {
        let after = f64::from(self.refused) / (f64::from(self.answered) + PRIOR);
        self.refused >= EARLY_NOISE && after > self.before + self.before.max(FOLLOW_MARGIN)
    }

    /// The verdict, if the answers so far give one; `at`: when the latest answered request was
    /// sent.
    fn verdict(&self, at: Instant, noise_known: bool) -> Option<Verdict> {
        let noise = || Verdict::Noise {
            restore: self.restore,
            share: f64::from(self.refused) / f64::from(self.answered.max(1)),
        };
        if self.rose() {
            return Some(Verdict::Deeper);
        }
        // A quota shows itself within its window: a second of sending after the cut at least,
        // before the share can be said to have fallen or not.
        if at.saturating_duration_since(self.from) < ONE_SECOND {
            return None;
        }
        if self.clearly_not_falling() {
            return Some(noise());
        }
        if self.answered < self.needed {
            return None;
        }
        Some(if self.fell() { Verdict::Quota { with_noise: noise_known } } else { noise() })
    }
}

/// Answers and refusals counted with a fading memory.
#[derive(Debug, Clone, Copy, Default)]
struct Share {
    answered: u64,
    refused: u64,
}

impl Share {
    fn add(&mut self, refused: bool) {
        self.answered += 1;
        self.refused += u64::from(refused);
        if self.answered >= NOISE_MEMORY {
            self.answered /= 2;
            self.refused /= 2;
        }
    }

    fn value(self) -> f64 {
        self.refused as f64 / self.answered.max(1) as f64
    }
}

/// See the module's documentation.
#[derive(Debug, Default)]
pub(super) struct Judge {
    trial: Option<Trial>,
    /// The share of requests refused at random, once a trial found noise.
    noise: Option<Share>,
    /// A refusal paused everyone and the cut it asks for is not made yet.
    pending: bool,
}

impl Judge {
    /// The refusal that paused everyone said too little to cut on.
    pub fn no_cut(&mut self) {
        self.pending = false;
    }

    /// Whether any refusal has been judged yet.
    pub fn has_judged(&self) -> bool {
        self.trial.is_some() || self.noise.is_some()
    }

    /// The noise share known, if any.
    pub fn noise(&self) -> Option<f64> {
        self.noise.map(Share::value)
    }

    /// A request sent at `active` (on the clock of sending) was answered, `refused` or not.
    fn answer(&mut self, at: Instant, refused: bool) -> Option<Option<Verdict>> {
        let noise_known = self.noise.is_some();
        if let Some(trial) = self.trial.as_mut()
            && at >= trial.from
        {
            trial.answered += 1;
            trial.refused += u32::from(refused);
            let verdict = trial.verdict(at, noise_known);
            if verdict.is_some() {
                self.end_trial(verdict);
            }
            return Some(verdict);
        }
        None
    }

    /// A request sent at `at` was answered without a refusal; a trial's verdict, if this answer
    /// settled one.
    pub fn answered(&mut self, at: Instant) -> Option<Verdict> {
        self.answer(at, false).flatten()
    }

    /// An answer left the last seconds remembered: it now counts toward the noise share, which
    /// is so kept apart from the last second's that it is compared with (while no cut is
    /// pending or on trial, whose answers are not noise's to count).
    pub fn aged(&mut self, refused: bool) {
        if self.trial.is_none()
            && !self.pending
            && let Some(noise) = self.noise.as_mut()
        {
            noise.add(refused);
        }
    }

    /// A request sent at `at` was refused; `counted`: sent before the cut in force took effect.
    /// `answers`: the answers remembered (this one included), oldest first.
    pub fn refused(&mut self, at: Instant, counted: bool, answers: &VecDeque<(Instant, bool)>) -> Refusal {
        if let Some(verdict) = self.answer(at, true) {
            return match verdict {
                // The cut was not deep enough: more are refused than before it.
                Some(Verdict::Deeper) => {
                    self.pending = true;
                    Refusal::Cut { deeper: true }
                }
                verdict => Refusal::Alone(verdict),
            };
        }
        if self.trial.is_none()
            && let Some(noise) = self.noise.as_mut()
        {
            let share = noise.value();
            let (answered, refused) = answers
                .iter()
                .rev()
                .take_while(|(a, _)| at.saturating_duration_since(*a) < ONE_SECOND)
                .fold((0usize, 0usize), |(n, r), &(_, refused)| (n + 1, r + usize::from(refused)));
            let recent = refused as f64 / (answered as f64 + PRIOR);
            if refused < FOLLOW_MIN || recent <= share + share.max(FOLLOW_MARGIN) {
                return Refusal::Alone(None);
            }
            // More than noise refuses: they follow the rate again.
        }
        if counted || self.trial.is_some() {
            return Refusal::Counted;
        }
        self.pending = true;
        Refusal::Cut { deeper: false }
    }

    /// The rate was cut, for requests sent from `from` on, after `refused` of `answered` requests
    /// in the second before were refused; `restore` was in force before.
    pub fn cut(&mut self, from: Instant, answered: u32, refused: u32, restore: Option<Curve>) {
        self.pending = false;
        let before = f64::from(refused) / (f64::from(answered) + PRIOR);
        let noise = self.noise().unwrap_or(0.0);
        let margin = (before - noise).max(1e-3);
        let needed = (EXPECTED / margin).ceil().clamp(f64::from(MIN_TRIAL), f64::from(MAX_TRIAL)) as u32;
        self.trial = Some(Trial { from, before, noise, needed, answered: 0, refused: 0, restore });
    }

    /// The answers to requests in flight when a refusal came — `refused` of `answered`, that one
    /// included — were accepted where a quota would have refused them: noise, without a trial.
    pub fn noise_found(&mut self, answered: u32, refused: u32, restore: Option<Curve>) -> Verdict {
        self.pending = false;
        let noise = self.noise.get_or_insert_default();
        noise.answered += u64::from(answered);
        noise.refused += u64::from(refused);
        Verdict::Noise { restore, share: f64::from(refused) / f64::from(answered.max(1)) }
    }

    fn end_trial(&mut self, verdict: Option<Verdict>) {
        let Some(trial) = self.trial.take() else { return };
        if let Some(Verdict::Noise { .. }) = verdict {
            let noise = self.noise.get_or_insert_default();
            noise.answered += u64::from(trial.answered);
            noise.refused += u64::from(trial.refused);
        }
    }
}
