//! Fuzz targets that `cargo test` runs on every change, each for a bounded
//! time (`KILN_FUZZ_SECONDS`, default 3 s; `KILN_FUZZ_SEED` replays a
//! run): the parsers and walkers of what a hostile image or guest controls.
//! Each starts from the committed seeds in `fuzz/corpus/TARGET/` (valid
//! inputs, so that mutants reach the deep checks) and checks more than "no
//! panic": what a parser accepts must hold the invariants its users rely
//! on. See `mutate.rs` for the engine and why it is not cargo-fuzz.

mod mutate;

use kiln_abi::fs_image::{FsImage, is_valid_name};
use kiln_monitor::Image;
use kiln_monitor::layout::Layout;
use kiln_monitor::memory::GuestMemory;
use kiln_monitor::net::queue::{MAX_CHAIN_BYTES, Queue, QueueSetup};

/// Fewest inputs a run must reach: a broken loop (or a target so slow it
/// barely runs) fails instead of passing quietly.
const MIN_INPUTS: u64 = 1000;

fn assert_ran(report: &mutate::Report) {
    assert!(
        report.inputs >= MIN_INPUTS,
        "only {} inputs from {} seeds",
        report.inputs,
        report.seeds
    );
}

/// Image validation: an accepted image's segments lie in the file, in
/// order and apart, and it can be planned into guest memory.
#[test]
fn image_validation() {
    let mut accepted = 0u64;
    let report = mutate::run("image", |bytes| {
        let Ok(image) = Image::parse(bytes) else {
            return;
        };
        accepted += 1;
        let mut end = 0;
        for segment in &image.segments {
            assert!(bytes.get(segment.file.clone()).is_some(), "{segment:?}");
            assert!(segment.memory.start >= end, "segments overlap: {segment:?}");
            assert!(segment.memory.start <= segment.memory.end, "{segment:?}");
            end = segment.memory.end;
        }
        assert!(image.start() <= image.end());
        let _ = Layout::plan(
            64 << 20,
            image.start()..image.end(),
            4096,
            image.tls.is_some(),
            false,
            1,
        );
    });
    assert_ran(&report);
    assert!(accepted >= 1, "not even the seeds were accepted");
}

/// The baked-file parser: every entry of an accepted blob can be read,
/// comes after its directory, and has a valid name.
#[test]
fn baked_files() {
    let mut accepted = 0u64;
    let report = mutate::run("baked-files", |bytes| {
        let Ok(fs) = FsImage::parse(bytes) else {
            return;
        };
        accepted += 1;
        for entry in fs.entries() {
            if entry.index == 0 {
                assert!(entry.is_dir(), "the root is a directory");
                continue;
            }
            assert!(entry.parent < entry.index, "{entry:?}");
            assert!(fs.entry(entry.parent).is_dir(), "{entry:?}");
            assert!(is_valid_name(entry.name), "{entry:?}");
            if entry.is_dir() {
                assert!(entry.data.is_empty(), "{entry:?}");
            }
        }
    });
    assert_ran(&report);
    assert!(accepted >= 1, "not even the seeds were accepted");
}

/// Guest memory for the queue target.
const QUEUE_MEMORY: u64 = 64 << 10;
/// The queue target's input: the setup, then guest memory.
const QUEUE_HEADER: usize = 16;

/// The virtio queue walker, on a queue set up and filled as the input
/// says: every chain it hands out lies in guest memory and within the
/// chain limit, whatever the rings hold.
#[test]
fn virtio_queue() {
    let memory = GuestMemory::new(QUEUE_MEMORY, QUEUE_MEMORY).expect("guest memory");
    let zeros = vec![0u8; QUEUE_MEMORY as usize];
    let mut chains = 0u64;
    let report = mutate::run("virtio-queue", |input| {
        let Some(header) = input.get(..QUEUE_HEADER) else {
            return;
        };
        let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4"));
        let setup = QueueSetup {
            size: u16_at(0),
            desc: u64::from(u32_at(2)),
            driver: u64::from(u32_at(6)),
            device: u64::from(u32_at(10)),
        };
        let device_writes = header[14] & 1 != 0;
        let rounds = usize::from(header[15]);
        let image = &input[QUEUE_HEADER..];
        let image = &image[..image.len().min(QUEUE_MEMORY as usize)];
        memory.write_bytes(0, image).expect("in memory");
        memory
            .write_bytes(image.len() as u64, &zeros[image.len()..])
            .expect("in memory");
        let Ok(mut queue) = Queue::new(&memory, setup, device_writes) else {
            return;
        };
        for _ in 0..rounds {
            match queue.pop(&memory) {
                Ok(Some(chain)) => {
                    chains += 1;
                    assert!(chain.len <= MAX_CHAIN_BYTES, "{chain:?}");
                    let total: u64 = chain.buffers.iter().map(|b| u64::from(b.len)).sum();
                    assert_eq!(total, chain.len);
                    for buffer in &chain.buffers {
                        assert!(memory.check(buffer.addr, u64::from(buffer.len)).is_ok());
                    }
                    let written = u32::try_from(chain.len).expect("under the limit");
                    if queue.push_used(&memory, chain.head, written).is_err() {
                        return;
                    }
                }
                Ok(None) | Err(_) => return,
            }
        }
    });
    assert_ran(&report);
    assert!(chains >= 1, "no chain was ever walked");
}
