//! Password hashing with Argon2id, on a bounded pool of threads.
//!
//! Each Argon2id hash or check fills 19 MiB of memory and a core for tens of milliseconds, and
//! sign-in is open to anyone: run on tokio's blocking pool (up to 512 threads), a hundred
//! concurrent wrong sign-ins took a hub to 3 GiB that the allocator kept. So the work runs on
//! a few threads of its own (about one per core), each filling one buffer it allocates once
//! and keeps; a short queue takes bursts, and past it the caller is told the hub is busy
//! (503 with `Retry-After`) instead of waiting without bound. Unknown and known addresses
//! take the same path, so timing tells nothing.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::distributions::{Alphanumeric, DistString};
use zeroize::Zeroizing;

/// The most memory one check may take (in 1 KiB blocks): a stored hash asking for more is
/// treated as not matching rather than allocated.
const MAX_BLOCKS: usize = 256 * 1024;

/// Why password work did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every worker is busy and the queue is full: try again in a moment.
    #[error("the hub is busy checking passwords")]
    Busy,
    /// The pool has stopped (the hub is shutting down).
    #[error("password checking has stopped")]
    Stopped,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

enum Task {
    Hash,
    Verify(String),
}

struct Job {
    password: Zeroizing<String>,
    task: Task,
    answer: tokio::sync::oneshot::Sender<Result<Outcome, PasswordError>>,
}

enum Outcome {
    Hashed(String),
    Verified(bool),
}

/// The hub's password workers. Dropping the last handle stops them once the queue is empty.
#[derive(Clone)]
pub struct PasswordWork {
    queue: SyncSender<Job>,
}

impl PasswordWork {
    /// Starts `workers` threads (at least one) behind a queue of `queue` waiting jobs.
    pub fn start(workers: usize, queue: usize) -> Self {
        let (sender, receiver) = sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers.max(1) {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("outpost-passwords-{n}"))
                .spawn(move || work(&receiver));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password worker");
            }
        }
        Self { queue: sender }
    }

    /// Hashes a new password into a PHC string (Argon2id, the crate's recommended parameters).
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        match self.run(password, Task::Hash).await? {
            Outcome::Hashed(phc) => Ok(phc),
            Outcome::Verified(_) => Err(PasswordError::Stopped),
        }
    }

    /// Whether `password` matches the PHC string. A malformed hash never matches.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool, PasswordError> {
        match self.run(password, Task::Verify(phc.to_owned())).await? {
            Outcome::Verified(matches) => Ok(matches),
            Outcome::Hashed(_) => Err(PasswordError::Stopped),
        }
    }

    async fn run(&self, password: &str, task: Task) -> Result<Outcome, PasswordError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job = Job {
            password: Zeroizing::new(password.to_owned()),
            task,
            answer,
        };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(PasswordError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(PasswordError::Stopped),
        }
        answered.await.map_err(|_| PasswordError::Stopped)?
    }
}

/// One worker: takes jobs until every handle is gone, reusing one memory buffer.
fn work(receiver: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let receiver = receiver.lock().unwrap_or_else(PoisonError::into_inner);
            match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        if job.answer.is_closed() {
            continue;
        }
        let outcome = match &job.task {
            Task::Hash => hash_with(&mut memory, &job.password).map(Outcome::Hashed),
            Task::Verify(phc) => Ok(Outcome::Verified(verify_with(
                &mut memory,
                &job.password,
                phc,
            ))),
        };
        let _ = job.answer.send(outcome);
    }
}

/// The buffer `memory`, grown to `blocks` if it is smaller.
fn blocks_of(memory: &mut Vec<Block>, blocks: usize) -> &mut [Block] {
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    &mut memory[..blocks]
}

fn hash_with(memory: &mut Vec<Block>, password: &str) -> Result<String, PasswordError> {
    let failed = |e: argon2::Error| PasswordError::Hashing(e.to_string());
    let params = Params::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let blocks = blocks_of(memory, params.block_count());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, blocks)
        .map_err(failed)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e: argon2::password_hash::Error| PasswordError::Hashing(e.to_string()))?,
        salt: Some(salt.as_salt()),
        hash: Some(
            Output::new(&out)
                .map_err(|e: argon2::password_hash::Error| PasswordError::Hashing(e.to_string()))?,
        ),
    };
    Ok(phc.to_string())
}

fn verify_with(memory: &mut Vec<Block>, password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    if params.block_count() > MAX_BLOCKS {
        return false;
    }
    let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = blocks_of(memory, params.block_count());
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, blocks)
        .is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// Hashes a password on the calling thread, for the command line and start-up (no pool).
pub fn hash_now(password: &str) -> Result<String, PasswordError> {
    hash_with(&mut Vec::new(), password)
}

/// A strong random password for `init` and the demo: 20 alphanumerics (~119 bits).
pub fn generate() -> String {
    Alphanumeric.sample_string(&mut rand::rngs::OsRng, 20)
}

/// Threads for password work by default: the cores, at most 8 (each takes 19 MiB).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(8))
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_password_and_matches_the_crates_own_format() {
        let work = PasswordWork::start(1, 4);
        let phc = work.hash("correct horse battery").await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            work.verify("correct horse battery", &phc)
                .await
                .expect("verify")
        );
        assert!(
            !work
                .verify("correct horse batterx", &phc)
                .await
                .expect("verify")
        );
        assert!(!work.verify("anything", "not a hash").await.expect("verify"));
        // Hashes made by the crate's own API (every hash stored before this pool) still verify,
        // and ours verify with it.
        let theirs = {
            use argon2::PasswordHasher;
            Argon2::default()
                .hash_password(b"older password", &SaltString::generate(&mut OsRng))
                .expect("hash")
                .to_string()
        };
        assert!(
            work.verify("older password", &theirs)
                .await
                .expect("verify")
        );
        let parsed = PasswordHash::new(&phc).expect("parse");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
    }

    #[tokio::test]
    async fn past_the_workers_and_the_queue_the_caller_is_told_the_hub_is_busy() {
        let work = PasswordWork::start(1, 2);
        let phc = hash_now("a long enough password").expect("hash");
        let checks: Vec<_> = (0..12)
            .map(|_| {
                let (work, phc) = (work.clone(), phc.clone());
                tokio::spawn(async move { work.verify("wrong password", &phc).await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for check in checks {
            match check.await.expect("join") {
                Ok(false) => done += 1,
                Err(PasswordError::Busy) => busy += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(done >= 1 && busy >= 1, "done {done}, busy {busy}");
        assert_eq!(done + busy, 12);
    }
}
