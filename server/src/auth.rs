//! Passwords and session tokens. Hashing is slow and takes 19 MiB on purpose (argon2id's
//! defaults), so it runs on a few threads of its own ([`HashingPool`]), each reusing one
//! working memory, with a short queue in front: a flood of sign-ups waits or is refused,
//! and neither starves the runtime nor leaves gigabytes of freed hash memory behind
//! (docs/benchmarks.md, "Password hashing").

use std::sync::{Arc, Mutex, mpsc};

use argon2::{
    Algorithm, Argon2, Block, Params, PasswordHash, Version,
    password_hash::{Output, SaltString},
};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// An argon2id hash (PHC string) of `password` with a fresh random salt, computed in
/// `memory` (grown to what the parameters need and kept for the next hash).
fn hash_password(
    password: &str,
    memory: &mut Vec<Block>,
) -> Result<String, argon2::password_hash::Error> {
    let mut salt_bytes = [0_u8; 16];
    rand::rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes)?;
    let params = Params::default();
    let hash = compute(
        password,
        Algorithm::default(),
        Version::default(),
        &params,
        &salt_bytes,
        Params::DEFAULT_OUTPUT_LEN,
        memory,
    )?;
    Ok(PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: (&params).try_into()?,
        salt: Some(salt.as_salt()),
        hash: Some(hash),
    }
    .to_string())
}

/// Whether `password` matches the stored PHC string, computed in `memory`. A malformed
/// hash never matches. The comparison takes constant time ([`Output`]'s equality).
fn verify_password(password: &str, stored: &str, memory: &mut Vec<Block>) -> bool {
    let mut matches = || -> Result<bool, argon2::password_hash::Error> {
        let parsed = PasswordHash::new(stored)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Ok(false);
        };
        let mut salt_bytes = [0_u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let actual = compute(
            password,
            Algorithm::try_from(parsed.algorithm)?,
            version,
            &Params::try_from(&parsed)?,
            salt_bytes,
            expected.len(),
            memory,
        )?;
        Ok(actual == expected)
    };
    matches().unwrap_or(false)
}

/// One argon2 computation in the caller's memory.
fn compute(
    password: &str,
    algorithm: Algorithm,
    version: Version,
    params: &Params,
    salt: &[u8],
    output_len: usize,
    memory: &mut Vec<Block>,
) -> Result<Output, argon2::password_hash::Error> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let argon = Argon2::new(algorithm, version, params.clone());
    Output::init_with(output_len, |out| {
        argon
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
            .map_err(Into::into)
    })
}

/// A hash to verify against when the username is unknown, so that a login for an unknown
/// user costs as much time as one with a wrong password; made once, in `memory`.
fn decoy_hash(memory: &mut Vec<Block>) -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password", memory).expect("argon2 hashes a constant"))
}

/// All hashing threads are busy and the queue is full: the caller should try again in a
/// moment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Busy;

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// Threads that hash and verify passwords, each with its working memory, behind a bounded
/// queue. At most `threads` hashes run at once (so at most `threads` × 19 MiB is ever
/// used for them); `queue` more may wait; past that, [`Busy`] at once.
#[derive(Clone)]
pub(crate) struct HashingPool {
    jobs: mpsc::SyncSender<Job>,
}

impl HashingPool {
    pub(crate) fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, waiting) = mpsc::sync_channel::<Job>(queue);
        let waiting = Arc::new(Mutex::new(waiting));
        for index in 0..threads.max(1) {
            let waiting = waiting.clone();
            std::thread::Builder::new()
                .name(format!("knock-hash-{index}"))
                .spawn(move || {
                    let mut memory = Vec::new();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = waiting
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv();
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(mpsc::RecvError) => return,
                        }
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on a hashing thread; [`Busy`] when the queue is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        // A dropped sender means the thread panicked: answered as busy, not hung.
        self.submit(work)?.await.map_err(|_| Busy)
    }

    /// Queues `work` at once, or refuses it; the receiver gets its result.
    fn submit<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<tokio::sync::oneshot::Receiver<T>, Busy> {
        let (done, result) = tokio::sync::oneshot::channel();
        // Counted from queued to done (the guard goes with the job).
        let in_flight = crate::metrics::hashing_started();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(work(memory));
            drop(in_flight);
        });
        self.jobs.try_send(job).map_err(|_| {
            crate::metrics::hashing_refused();
            Busy
        })?;
        Ok(result)
    }

    /// The PHC string of a new hash of `password`.
    pub(crate) async fn hash(
        &self,
        password: String,
    ) -> Result<Result<String, argon2::password_hash::Error>, Busy> {
        self.run(move |memory| hash_password(&password, memory))
            .await
    }

    /// Whether `password` matches `stored`; with none (an unknown user), it is checked
    /// against a decoy, as long, and never matches.
    pub(crate) async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, Busy> {
        self.run(move |memory| {
            if let Some(stored) = stored {
                verify_password(&password, &stored, memory)
            } else {
                let _ = verify_password(&password, decoy_hash(memory), memory);
                false
            }
        })
        .await
    }
}

/// A new session token: 32 random bytes, URL-safe base64.
pub(crate) fn new_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How a token is stored: its SHA-256 in hex. A database leak yields no usable tokens.
pub(crate) fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use std::fmt::Write;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let memory = &mut Vec::new();
        let hash = hash_password("correct horse", memory).unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &hash, memory));
        assert!(!verify_password("correct horse!", &hash, memory));
        assert!(!verify_password("correct horse", "not a hash", memory));
        assert_ne!(
            hash,
            hash_password("correct horse", memory).unwrap(),
            "salted"
        );
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_itself_verify() {
        use argon2::PasswordHasher;
        // Hashes stored before the pool computed them in its own memory.
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let stored = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        let memory = &mut Vec::new();
        assert!(verify_password("correct horse", &stored, memory));
        assert!(!verify_password("wrong horse", &stored, memory));
        // And the other way round.
        let ours = hash_password("correct horse", memory).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2::PasswordVerifier::verify_password(
                &Argon2::default(),
                b"correct horse",
                &parsed
            )
            .is_ok()
        );
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once() {
        let pool = HashingPool::new(1, 1).unwrap();
        let (started, wait) = std::sync::mpsc::channel::<()>();
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = pool
            .submit(move |_| {
                started.send(()).unwrap();
                hold.recv().unwrap();
            })
            .unwrap();
        wait.recv().unwrap();
        // The one thread is busy: one job may wait, the next is refused.
        let queued = pool.submit(|_| 1).unwrap();
        assert_eq!(pool.submit(|_| 2).err(), Some(Busy));
        release.send(()).unwrap();
        busy.await.unwrap();
        assert_eq!(queued.await.unwrap(), 1);
        assert_eq!(pool.run(|_| 3).await, Ok(3), "free again");
    }
}
