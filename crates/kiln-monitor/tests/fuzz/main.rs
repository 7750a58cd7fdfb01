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

/// Set in the child process the hypercall target runs in.
const HYPERCALL_CHILD: &str = "KILN_FUZZ_HYPERCALL_CHILD";
/// Guest memory for the hypercall target.
const HYPERCALL_MEMORY: u64 = 8 << 20;

/// The hypercall decoders: each call's argument block (and the buffers and
/// paths it names) read from guest memory the input fills, at the address
/// the input gives, on a real vCPU of a real VM that never runs. Every
/// call but `Block` (which waits for its guest-chosen deadline); a call
/// may answer, fail with a violation or stop the VM, never panic. Console
/// writes go to the host's stdout and stderr, so the target runs in a
/// child process with both discarded; the child writes its count to a file.
#[test]
fn hypercalls() {
    use std::sync::Mutex;

    use kiln_abi::hypercall::Hypercall;
    use kiln_monitor::clock::GuestClock;
    use kiln_monitor::console::Console;
    use kiln_monitor::growth::Growth;
    use kiln_monitor::hypercall::{Context, dispatch};
    use kiln_monitor::stats::LiveStats;
    use kiln_monitor::stdin::HostStdin;
    use kiln_monitor::vcpus::VcpuSet;
    use kiln_monitor::volume::Volumes;

    let Some(count_file) = std::env::var_os(HYPERCALL_CHILD) else {
        let count_file =
            std::env::temp_dir().join(format!("kiln-fuzz-hypercalls-{}", std::process::id()));
        let status = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["hypercalls", "--exact"])
            .env(HYPERCALL_CHILD, &count_file)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run the hypercall target");
        let count = std::fs::read_to_string(&count_file).unwrap_or_default();
        let _ = std::fs::remove_file(&count_file);
        assert!(
            status.success(),
            "the hypercall target failed ({count}); see target/fuzz-failures"
        );
        let numbers: Vec<u64> = count
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse().ok())
            .collect();
        eprintln!("fuzz hypercalls: {count}");
        // Inputs, seeds, answered, refused: both outcomes must be reached.
        assert!(
            matches!(numbers[..], [inputs, _, answered, refused] if inputs >= MIN_INPUTS && answered > 0 && refused > 0),
            "{count}"
        );
        return;
    };
    let kvm = kvm_ioctls::Kvm::new().expect("/dev/kvm");
    let vm = kvm.create_vm().expect("a VM");
    let vcpu = vm.create_vcpu(0).expect("a vCPU");
    let elf = mutate::with_current_abi(
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fuzz/corpus/image/hello.elf"),
        )
        .expect("the image seed"),
    );
    let image = Image::parse(&elf).expect("a valid image");
    let layout = Layout::plan(
        HYPERCALL_MEMORY,
        image.start()..image.end(),
        4096,
        false,
        false,
        1,
    )
    .expect("a layout");
    let memory = GuestMemory::new(HYPERCALL_MEMORY / 2, HYPERCALL_MEMORY).expect("guest memory");
    let clock = GuestClock {
        tsc_hz: 1_000_000_000,
        tsc_base: 0,
        host_base_ns: 0,
        wall_base_ns: 0,
        process_start_ns: 0,
    };
    let console = Mutex::new(Console::default());
    let stats = LiveStats::publish(None).expect("no stats file");
    let volumes = Mutex::new(Volumes::default());
    let growth = Mutex::new(Growth::default());
    let vcpus = VcpuSet::new(1).expect("the vCPU set");
    let calls: Vec<Hypercall> = Hypercall::ALL
        .into_iter()
        .filter(|call| *call != Hypercall::Block)
        .collect();
    let zeros = vec![0u8; 64 << 10];
    let (mut answered, mut refused) = (0u64, 0u64);
    let report = mutate::run("hypercalls", |input| {
        let Some((&[which, a, b, c, d], image_bytes)) = input.split_first_chunk::<5>() else {
            return;
        };
        let call = calls[usize::from(which) % calls.len()];
        let gpa = u32::from_le_bytes([a, b, c, d]);
        let bytes = &image_bytes[..image_bytes.len().min(zeros.len())];
        memory.write_bytes(0, bytes).expect("in memory");
        memory
            .write_bytes(bytes.len() as u64, &zeros[bytes.len()..])
            .expect("in memory");
        let mut ctx = Context {
            memory: &memory,
            vcpu: &vcpu,
            vcpu_index: 0,
            vcpus: &vcpus,
            image: &image,
            layout: &layout,
            clock: &clock,
            console: &console,
            volumes: &volumes,
            net: None,
            stdin: HostStdin::new(false),
            stats: &stats,
            vm: &vm,
            growth: &growth,
            debugger: None,
        };
        match dispatch(&mut ctx, call.port(), &gpa.to_le_bytes()) {
            Ok(_) => answered += 1,
            Err(_) => refused += 1,
        }
    });
    std::fs::write(
        count_file,
        format!(
            "{} inputs from {} seeds: {answered} answered, {refused} refused",
            report.inputs, report.seeds
        ),
    )
    .expect("write the count");
}
