//! Password checks on a small fixed pool: argon2id takes 19 MiB and tens of milliseconds of a core
//! per check by design, so a flood of sign-ins must cost a bounded, reused amount, not a thread
//! and a fresh allocation each. [`Hashers`] keeps as many threads as the machine has cores (at
//! most [`MOST_THREADS`]), each with one block of argon2 memory it reuses for every check, and a
//! short queue in front: a check beyond it is refused at once ([`Busy`]), to be asked again
//! shortly, rather than waited for.

use std::sync::mpsc;

use argon2::password_hash::phc::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// Threads checking passwords, at most.
pub const MOST_THREADS: usize = 2;
/// Checks waiting for a thread, at most: past them, a sign-in is told to come back.
pub const QUEUE: usize = 16;

/// No thread is free and the queue is full: ask again in a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

struct Check {
    password: String,
    /// The PHC string to check against; `None` for a name nobody has (the time is spent anyway,
    /// so that the answer's speed does not tell which names exist).
    hash: Option<String>,
    reply: tokio::sync::oneshot::Sender<bool>,
}

/// The pool of password checkers.
#[derive(Debug, Clone)]
pub struct Hashers {
    queue: mpsc::SyncSender<Check>,
}

impl std::fmt::Debug for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Check").finish_non_exhaustive()
    }
}

impl Hashers {
    /// Starts the threads. They end when the last handle is dropped.
    pub fn start() -> std::io::Result<Hashers> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from).min(MOST_THREADS);
        let (queue, checks) = mpsc::sync_channel::<Check>(QUEUE);
        let checks = std::sync::Arc::new(std::sync::Mutex::new(checks));
        for n in 0..threads {
            let checks = checks.clone();
            std::thread::Builder::new().name(format!("password-{n}")).spawn(move || {
                // Made once, used for every check of this thread.
                let mut blocks = vec![Block::default(); Params::default().block_count()];
                let nobody = crate::server::auth::hash_password("not anybody's password").unwrap_or_default();
                loop {
                    let next = checks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
                    let Ok(check) = next else { return };
                    let hash = check.hash.as_deref().unwrap_or(&nobody);
                    let matched = verify_with(&check.password, hash, &mut blocks) && check.hash.is_some();
                    let _ = check.reply.send(matched);
                }
            })?;
        }
        Ok(Hashers { queue })
    }

    /// Whether `password` is the one `hash` was made from (`None`: nobody's; false, in the time a
    /// real check takes). [`Busy`] when every thread is taken and the queue is full.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, Busy> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        match self.queue.try_send(Check { password, hash, reply }) {
            Ok(()) => Ok(answer.await.unwrap_or(false)),
            Err(_) => Err(Busy),
        }
    }
}

/// Checks `password` against the PHC string `phc` in the memory `blocks` (grown only for a hash
/// made with more memory than the default). A damaged hash matches nothing.
fn verify_with(password: &str, phc: &str, blocks: &mut Vec<Block>) -> bool {
    if password.chars().count() > crate::server::auth::MAX_PASSWORD_CHARS {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else { return false };
    let version = parsed.version.map_or(Ok(Version::default()), Version::try_from);
    let (Ok(version), Some(salt), Some(expected)) = (version, &parsed.salt, &parsed.hash) else {
        return false;
    };
    let needed = params.block_count();
    if blocks.len() < needed {
        blocks.resize(needed, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt.as_ref(),
        &mut out,
        &mut blocks[..needed],
    );
    // `Output`'s equality takes the same time wherever the two differ.
    hashed.is_ok() && Output::try_from(out.as_slice()).is_ok_and(|out| &out == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pool_checks_as_argon2_does_and_refuses_past_its_queue() {
        let hashers = Hashers::start().unwrap();
        let hash = crate::server::auth::hash_password("correct horse battery").unwrap();
        assert_eq!(hashers.verify("correct horse battery".into(), Some(hash.clone())).await, Ok(true));
        assert_eq!(hashers.verify("correct horse batterY".into(), Some(hash.clone())).await, Ok(false));
        assert_eq!(hashers.verify("correct horse battery".into(), None).await, Ok(false), "nobody's");
        assert_eq!(hashers.verify("x".into(), Some("not a hash".into())).await, Ok(false));
        // Far more at once than threads and queue: some are refused, none waits for ever.
        let all: Vec<_> = (0..(MOST_THREADS + QUEUE) * 4)
            .map(|_| {
                let (h, hash) = (hashers.clone(), hash.clone());
                tokio::spawn(async move { h.verify("correct horse battery".into(), Some(hash)).await })
            })
            .collect();
        let mut busy = 0;
        for one in all {
            match one.await.unwrap() {
                Ok(matched) => assert!(matched),
                Err(Busy) => busy += 1,
            }
        }
        assert!(busy > 0, "a flood is refused past the queue");
    }
}
