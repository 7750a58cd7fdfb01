//! The mutation engine: seeds from the committed corpus, changed a few
//! bytes at a time, fed to a target until the time budget is spent.
//!
//! Why by hand: the coverage-guided engines (cargo-fuzz's libFuzzer, AFL)
//! need a nightly compiler or an external toolchain, and CI builds with
//! stable Rust only. What stays is what found nothing in the audit's 11
//! million inputs but must keep running on every change: random structural
//! mutations (bit flips, boundary integers at any offset, truncation,
//! duplicated and deleted ranges, splices of two seeds) of valid inputs, so
//! that most mutants get past the magic numbers and reach the deep checks.
//! The randomness is `fastrand`'s, from a printed seed, so any failure
//! replays with `KILN_FUZZ_SEED`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long each target runs without `KILN_FUZZ_SECONDS`: bounded, so
/// that `cargo test` runs every target on every change.
const DEFAULT_SECONDS: f64 = 3.0;

/// Integers that sit on the boundaries checks get wrong.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0x8000,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x7fff_ffff_ffff_ffff,
    u64::MAX,
];

/// What one target's run did.
pub struct Report {
    /// Inputs fed to the target, seeds included.
    pub inputs: u64,
    /// The seeds it started from.
    pub seeds: usize,
}

/// Feeds `target` the seeds of `fuzz/corpus/NAME/` and their mutants for
/// the time budget. A panic in the target fails the run, with the input
/// saved under `target/fuzz-failures/` and the seed to replay it.
pub fn run(name: &str, mut target: impl FnMut(&[u8])) -> Report {
    let seeds = corpus(name);
    assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seeds");
    let budget = std::env::var("KILN_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(DEFAULT_SECONDS);
    let seed = std::env::var("KILN_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut inputs = 0;
    let mut check = |input: &[u8], inputs: u64| {
        if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
            let saved = save_failure(name, seed, inputs, input);
            panic!(
                "fuzz target {name} panicked on input {inputs} (KILN_FUZZ_SEED={seed}); saved at {}",
                saved.display()
            );
        }
    };
    for input in &seeds {
        check(input, inputs);
        inputs += 1;
    }
    let deadline = Instant::now() + Duration::from_secs_f64(budget);
    let mut input = Vec::new();
    while Instant::now() < deadline {
        // A batch between clock reads: the clock costs more than a mutant
        // of a small input.
        for _ in 0..64 {
            input.clear();
            input.extend_from_slice(&seeds[rng.usize(..seeds.len())]);
            for _ in 0..rng.usize(1..=8) {
                mutate(&mut rng, &mut input, &seeds);
            }
            check(&input, inputs);
            inputs += 1;
        }
    }
    eprintln!(
        "fuzz {name}: {inputs} inputs in {budget} s from {} seeds (KILN_FUZZ_SEED={seed})",
        seeds.len()
    );
    Report {
        inputs,
        seeds: seeds.len(),
    }
}

/// The committed seeds of one target, in name order.
fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = root().join("fuzz/corpus").join(name);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .map(with_current_abi)
        .collect()
}

/// `seed` with the ABI version in its Kiln ABI note (if it is an image
/// with one) set to this monitor's, so the committed images stay valid
/// seeds when the ABI moves on.
pub fn with_current_abi(mut seed: Vec<u8>) -> Vec<u8> {
    use kiln_abi::note;
    // An ELF note: name size, descriptor size, type, the name padded to 4.
    let mut header = Vec::new();
    header.extend_from_slice(&(note::NAME.len() as u32 + 1).to_le_bytes());
    header.extend_from_slice(&4u32.to_le_bytes());
    header.extend_from_slice(&note::ABI_VERSION.to_le_bytes());
    header.extend_from_slice(b"Kiln\0\0\0\0");
    if let Some(at) = seed.windows(header.len()).position(|w| w == header) {
        let version = at + header.len();
        seed[version..version + 4].copy_from_slice(&kiln_abi::ABI_VERSION.to_le_bytes());
    }
    seed
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn save_failure(name: &str, seed: u64, index: u64, input: &[u8]) -> PathBuf {
    let dir = root().join("target/fuzz-failures");
    let path = dir.join(format!("{name}-{seed}-{index}.bin"));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(&path, input);
    path
}

/// One random change to `input`.
fn mutate(rng: &mut fastrand::Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    if input.is_empty() {
        input.extend((0..rng.usize(1..=16)).map(|_| rng.u8(..)));
        return;
    }
    let at = rng.usize(..input.len());
    match rng.u8(..8) {
        0 => input[at] ^= 1 << rng.u8(..8),
        1 => input[at] = rng.u8(..),
        2 => {
            // A boundary integer, little-endian, of 1, 2, 4 or 8 bytes.
            let width = 1 << rng.u32(..4);
            let value = INTERESTING[rng.usize(..INTERESTING.len())];
            let value = if rng.bool() {
                value
            } else {
                value.wrapping_neg()
            };
            let end = (at + width).min(input.len());
            input[at..end].copy_from_slice(&value.to_le_bytes()[..end - at]);
        }
        3 => input.truncate(at),
        4 => {
            let len = rng.usize(1..=64);
            input.splice(at..at, (0..len).map(|_| rng.u8(..)));
        }
        5 => {
            // A range repeated elsewhere.
            let len = rng.usize(1..=(input.len() - at).min(256));
            let chunk = input[at..at + len].to_vec();
            let to = rng.usize(..=input.len());
            input.splice(to..to, chunk);
        }
        6 => {
            let len = rng.usize(1..=(input.len() - at).min(256));
            input.drain(at..at + len);
        }
        _ => {
            // The same range from another seed.
            let other = &seeds[rng.usize(..seeds.len())];
            if at < other.len() {
                let len = rng.usize(1..=(other.len() - at).min(input.len() - at).max(1));
                let end = (at + len).min(other.len()).min(input.len());
                input[at..end].copy_from_slice(&other[at..end]);
            }
        }
    }
}
