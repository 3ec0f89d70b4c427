//! `cibil-bulk serve`: the onboarding team's web page and the cron job's JSON API, in the same
//! binary, on the same state, engine and rules as `run`.

pub mod auth;
