//! The device against a fake guest driver: rings laid out by hand in guest
//! memory, registers written as a virtio driver does, and a socket pair
//! standing in for passt.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use kiln_abi::net::{MMIO_BASE, QUEUE_SIZE};

use super::mmio::{FEATURES, STATUS_DRIVER_OK, STATUS_FEATURES_OK};
use super::passt::{Passt, socket_pair};
use super::queue::{MAX_CHAIN_BYTES, QueueError};
use super::*;
use crate::clock::host_now_ns;

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const SIZE: u16 = 8;
const DESC_NEXT: u16 = 1;
const DESC_WRITE: u16 = 2;

/// Where each queue's rings and buffers live in the fake guest's memory.
#[derive(Clone, Copy)]
struct Rings {
    desc: u64,
    avail: u64,
    used: u64,
    buffers: u64,
}

const RINGS: [Rings; 2] = [
    Rings {
        desc: 0x10000,
        avail: 0x11000,
        used: 0x12000,
        buffers: 0x20000,
    },
    Rings {
        desc: 0x13000,
        avail: 0x14000,
        used: 0x15000,
        buffers: 0x40000,
    },
];

struct Driver {
    memory: GuestMemory,
    device: NetDevice,
    /// The host's end of the link.
    peer: UnixStream,
    /// Next available-ring index per queue.
    avail: [u16; 2],
}

impl Driver {
    /// A device on a socket pair, initialised as a virtio driver does.
    fn new() -> Self {
        let mut driver = Self::bare();
        driver.init(SIZE).expect("a well-formed setup");
        driver
    }

    /// A device nobody has touched yet.
    fn bare() -> Self {
        let (ours, theirs) = socket_pair().expect("socketpair");
        let peer = UnixStream::from(theirs);
        peer.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Self {
            memory: GuestMemory::new(2 << 20, 2 << 20).expect("memory"),
            device: NetDevice::with_backend(MAC, Box::new(Passt::on_socket(ours))),
            peer,
            avail: [0; 2],
        }
    }

    fn read(&self, offset: u64) -> u32 {
        let mut data = [0; 4];
        self.device
            .mmio_read(MMIO_BASE + offset, &mut data)
            .expect("register read");
        u32::from_le_bytes(data)
    }

    fn write(&mut self, offset: u64, value: u32) -> Result<(), NetViolation> {
        self.device
            .mmio_write(&self.memory, MMIO_BASE + offset, &value.to_le_bytes())
    }

    /// The initialisation sequence of virtio 1.2, 3.1.1.
    fn init(&mut self, size: u16) -> Result<(), NetViolation> {
        self.write(0x070, 0)?;
        self.write(0x070, 1 | 2)?; // ACKNOWLEDGE | DRIVER
        self.write(0x024, 0)?;
        self.write(0x020, FEATURES as u32)?;
        self.write(0x024, 1)?;
        self.write(0x020, (FEATURES >> 32) as u32)?;
        self.write(0x070, 1 | 2 | STATUS_FEATURES_OK)?;
        assert_ne!(self.read(0x070) & STATUS_FEATURES_OK, 0);
        for (index, rings) in RINGS.iter().enumerate() {
            self.write(0x030, index as u32)?;
            assert_eq!(self.read(0x034), u32::from(QUEUE_SIZE));
            self.write(0x038, u32::from(size))?;
            for (offset, addr) in [
                (0x080, rings.desc),
                (0x090, rings.avail),
                (0x0a0, rings.used),
            ] {
                self.write(offset, addr as u32)?;
                self.write(offset + 4, (addr >> 32) as u32)?;
            }
            self.write(0x044, 1)?;
        }
        self.write(0x070, 1 | 2 | STATUS_FEATURES_OK | STATUS_DRIVER_OK)
    }

    fn descriptor(&self, queue: usize, index: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = RINGS[queue].desc + 16 * u64::from(index);
        let m = &self.memory;
        m.write_obj(addr, at).expect("desc");
        m.write_obj(len, at + 8).expect("desc");
        m.write_obj(flags, at + 12).expect("desc");
        m.write_obj(next, at + 14).expect("desc");
    }

    /// Puts chain `head` in the available ring.
    fn offer(&mut self, queue: usize, head: u16) {
        let rings = RINGS[queue];
        let slot = u64::from(self.avail[queue] % SIZE);
        self.memory
            .write_obj(head, rings.avail + 4 + 2 * slot)
            .expect("avail");
        self.avail[queue] = self.avail[queue].wrapping_add(1);
        self.memory
            .write_obj(self.avail[queue], rings.avail + 2)
            .expect("avail idx");
    }

    fn used_idx(&self, queue: usize) -> u16 {
        self.memory
            .read_obj(RINGS[queue].used + 2)
            .expect("used idx")
    }

    /// The used ring's entry `slot`: (head, length).
    fn used(&self, queue: usize, slot: u16) -> (u32, u32) {
        let at = RINGS[queue].used + 4 + 8 * u64::from(slot);
        (
            self.memory.read_obj(at).expect("used id"),
            self.memory.read_obj(at + 4).expect("used len"),
        )
    }

    /// Posts receive buffer `i` (one descriptor of `len` bytes).
    fn post_rx(&mut self, i: u16, len: u32) {
        let addr = RINGS[RX].buffers + 0x1000 * u64::from(i);
        self.descriptor(RX, i, addr, len, DESC_WRITE, 0);
        self.offer(RX, i);
    }

    /// Sends `frame` as a two-descriptor chain (header, then frame).
    fn send(&mut self, head: u16, frame: &[u8]) -> Result<(), NetViolation> {
        let header = RINGS[TX].buffers + 0x1000 * u64::from(head);
        let body = header + 0x100;
        self.memory
            .write_bytes(header, &[0; HEADER_LEN])
            .expect("hdr");
        self.memory.write_bytes(body, frame).expect("frame");
        self.descriptor(TX, head, header, HEADER_LEN as u32, DESC_NEXT, head + 1);
        self.descriptor(TX, head + 1, body, frame.len() as u32, 0, 0);
        self.offer(TX, head);
        self.write(0x050, TX as u32)
    }

    /// Writes `frame` from the host side, length-prefixed as passt does.
    fn host_sends(&mut self, frame: &[u8]) {
        let mut bytes = (frame.len() as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(frame);
        self.peer.write_all(&bytes).expect("host write");
    }
}

/// A `Block` of vCPU 0 as the monitor makes it: both halves around the wait.
fn block(driver: &mut Driver, deadline: u64) -> Result<(), NetViolation> {
    let BlockPlan::Poll(fd) = driver.device.before_block(&driver.memory, 0)? else {
        return Ok(());
    };
    if crate::wait::until([fd], deadline) == [true] {
        driver.device.after_block(&driver.memory, 0)?;
    }
    Ok(())
}

fn frame(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

#[test]
fn registers_identify_a_modern_network_device() {
    let driver = Driver::bare();
    assert_eq!(driver.read(0x000), 0x7472_6976, "magic");
    assert_eq!(driver.read(0x004), 2, "version");
    assert_eq!(driver.read(0x008), 1, "network card");
    assert_eq!(
        driver.read(0x010),
        1 << 5 | 1 << 16,
        "MAC and STATUS, low word"
    );
    let mut driver = driver;
    driver.write(0x014, 1).expect("features select");
    assert_eq!(driver.read(0x010), 1, "VERSION_1, high word");
    let mut mac = [0; 6];
    for (i, byte) in mac.iter_mut().enumerate() {
        let mut one = [0; 1];
        driver
            .device
            .mmio_read(MMIO_BASE + 0x100 + i as u64, &mut one)
            .expect("config read");
        *byte = one[0];
    }
    assert_eq!(mac, MAC);
    driver.write(0x030, 2).expect("select a missing queue");
    assert_eq!(driver.read(0x034), 0, "no queue 2");
}

#[test]
fn features_the_device_lacks_are_refused() {
    let mut driver = Driver::bare();
    driver.write(0x024, 0).expect("sel");
    driver.write(0x020, 1 << 28).expect("features"); // INDIRECT_DESC
    driver
        .write(0x070, 1 | 2 | STATUS_FEATURES_OK)
        .expect("status");
    assert_eq!(driver.read(0x070) & STATUS_FEATURES_OK, 0);
    // And without VERSION_1.
    driver.write(0x070, 0).expect("reset");
    driver.write(0x020, 1 << 5).expect("features");
    driver
        .write(0x070, 1 | 2 | STATUS_FEATURES_OK)
        .expect("status");
    assert_eq!(driver.read(0x070) & STATUS_FEATURES_OK, 0);
}

#[test]
fn malformed_register_accesses_are_violations() {
    let mut driver = Driver::bare();
    let mut two = [0; 2];
    assert!(driver.device.mmio_read(MMIO_BASE, &mut two).is_err());
    let mut four = [0; 4];
    assert!(driver.device.mmio_read(MMIO_BASE + 2, &mut four).is_err());
    assert!(
        driver
            .device
            .mmio_read(MMIO_BASE + 0x0f0, &mut four)
            .is_err()
    );
    assert!(driver.write(0x000, 1).is_err(), "magic is read-only");
    assert!(driver.write(0x100, 1).is_err(), "config is read-only");
    assert!(
        driver
            .device
            .mmio_write(&driver.memory, MMIO_BASE + 0x030, &[1])
            .is_err()
    );
    driver.write(0x030, 9).expect("select");
    assert!(driver.write(0x038, 8).is_err(), "queue 9 does not exist");
    driver.init(SIZE).expect("init");
    assert!(matches!(
        driver.write(0x050, 5),
        Err(NetViolation::Notify(5))
    ));
    driver.write(0x030, 0).expect("select");
    assert!(driver.write(0x080, 0).is_err(), "queue 0 is in use");
}

#[test]
fn bad_queue_setups_are_refused() {
    for (size, error) in [
        (0, QueueError::BadSize(0)),
        (6, QueueError::BadSize(6)),
        (512, QueueError::BadSize(512)),
    ] {
        let mut driver = Driver::bare();
        assert_eq!(
            driver.init(size),
            Err(NetViolation::Queue {
                queue: "receive",
                error
            })
        );
    }
    let mut driver = Driver::bare();
    driver.write(0x030, 1).expect("select");
    driver.write(0x038, 8).expect("size");
    driver.write(0x080, 0x1008).expect("desc"); // not 16-byte aligned
    assert!(matches!(
        driver.write(0x044, 1),
        Err(NetViolation::Queue {
            error: QueueError::Misaligned { .. },
            ..
        })
    ));
    driver.write(0x080, 0).expect("desc low");
    driver.write(0x084, 1).expect("desc high: past memory");
    assert!(matches!(
        driver.write(0x044, 1),
        Err(NetViolation::Queue {
            error: QueueError::Memory { .. },
            ..
        })
    ));
}

#[test]
fn a_transmitted_frame_reaches_the_host_length_prefixed() {
    let mut driver = Driver::new();
    let sent = frame(1514, 3);
    driver.send(0, &sent).expect("send");
    driver.send(2, &sent[..60]).expect("send");
    for expected in [&sent[..], &sent[..60]] {
        let mut prefix = [0; 4];
        driver.peer.read_exact(&mut prefix).expect("prefix");
        assert_eq!(u32::from_be_bytes(prefix) as usize, expected.len());
        let mut got = vec![0; expected.len()];
        driver.peer.read_exact(&mut got).expect("frame");
        assert_eq!(got, expected);
    }
    assert_eq!(driver.used_idx(TX), 2);
    let flags = |queue: usize| {
        driver
            .memory
            .read_obj::<u16>(RINGS[queue].used)
            .expect("flags")
    };
    assert_eq!(flags(TX), 0, "transmit needs QueueNotify");
    assert_eq!(flags(RX), 1, "receive buffers are found without one");
    assert_eq!(driver.used(TX, 0), (0, 0));
    assert_eq!(driver.used(TX, 1), (2, 0));
}

#[test]
fn received_frames_land_in_buffers_behind_a_header() {
    let mut driver = Driver::new();
    let first = frame(1514, 1);
    let second = frame(42, 2);
    driver.host_sends(&first);
    // Half of the second frame: it must wait for the rest.
    let mut bytes = (second.len() as u32).to_be_bytes().to_vec();
    bytes.extend_from_slice(&second);
    driver.peer.write_all(&bytes[..20]).expect("write");
    assert_eq!(
        driver.device.receive(&driver.memory),
        Ok(0),
        "no buffers yet"
    );
    for i in 0..3 {
        driver.post_rx(i, 2048);
    }
    assert_eq!(driver.device.receive(&driver.memory), Ok(1));
    driver.peer.write_all(&bytes[20..]).expect("write");
    assert_eq!(driver.device.receive(&driver.memory), Ok(1));
    assert_eq!(driver.used_idx(RX), 2);
    for (slot, sent) in [&first, &second].into_iter().enumerate() {
        let (head, len) = driver.used(RX, slot as u16);
        assert_eq!(len as usize, HEADER_LEN + sent.len());
        let mut got = Vec::new();
        let addr = RINGS[RX].buffers + 0x1000 * u64::from(head);
        driver
            .memory
            .read_bytes(addr, u64::from(len), &mut got)
            .expect("read");
        assert_eq!(got[..HEADER_LEN], RX_HEADER, "zero header, num_buffers 1");
        assert_eq!(&got[HEADER_LEN..], &sent[..]);
    }
}

#[test]
fn a_frame_too_large_for_the_buffer_is_dropped_and_the_buffer_kept() {
    let mut driver = Driver::new();
    driver.post_rx(0, 100);
    driver.host_sends(&frame(200, 1));
    driver.host_sends(&frame(60, 2));
    assert_eq!(driver.device.receive(&driver.memory), Ok(1));
    assert_eq!(driver.used(RX, 0), (0, (HEADER_LEN + 60) as u32));
}

#[test]
fn a_chain_split_across_buffers_is_filled_in_order() {
    let mut driver = Driver::new();
    let base = RINGS[RX].buffers;
    driver.descriptor(RX, 0, base, 5, DESC_WRITE | DESC_NEXT, 1);
    driver.descriptor(RX, 1, base + 0x800, 1000, DESC_WRITE, 0);
    driver.offer(RX, 0);
    let sent = frame(100, 9);
    driver.host_sends(&sent);
    assert_eq!(driver.device.receive(&driver.memory), Ok(1));
    let mut head = Vec::new();
    driver.memory.read_bytes(base, 5, &mut head).expect("read");
    let mut rest = Vec::new();
    driver
        .memory
        .read_bytes(base + 0x800, 7 + 100, &mut rest)
        .expect("read");
    head.extend_from_slice(&rest);
    assert_eq!(head[..HEADER_LEN], RX_HEADER);
    assert_eq!(&head[HEADER_LEN..], &sent[..]);
}

/// Builds a chain with `build`, offers it on `queue` and returns what the
/// device makes of it.
fn offer_malformed(queue: usize, build: impl FnOnce(&Driver)) -> Result<usize, NetViolation> {
    let mut driver = Driver::new();
    build(&driver);
    driver.offer(queue, 0);
    if queue == TX {
        driver.write(0x050, TX as u32).map(|()| 0)
    } else {
        driver.host_sends(&frame(60, 0));
        driver.device.receive(&driver.memory)
    }
}

fn queue_error(result: Result<usize, NetViolation>) -> QueueError {
    match result {
        Err(NetViolation::Queue { error, .. }) => error,
        other => panic!("expected a queue violation, got {other:?}"),
    }
}

#[test]
fn malformed_chains_are_refused_without_panicking() {
    let outside = 2 << 20;
    for queue in [RX, TX] {
        let write = if queue == RX { DESC_WRITE } else { 0 };
        let error = queue_error(offer_malformed(queue, |d| {
            d.descriptor(queue, 0, outside - 10, 100, write, 0);
        }));
        assert!(matches!(error, QueueError::Memory { .. }), "{error}");
        let error = queue_error(offer_malformed(queue, |d| {
            d.descriptor(queue, 0, u64::MAX - 4, 100, write, 0);
        }));
        assert!(
            matches!(error, QueueError::Memory { .. }),
            "overflow: {error}"
        );
        let error = queue_error(offer_malformed(queue, |d| {
            d.descriptor(queue, 0, 0x50000, 100, write | DESC_NEXT, 1);
            d.descriptor(queue, 1, 0x50000, 100, write | DESC_NEXT, 0);
        }));
        assert_eq!(error, QueueError::ChainLoop { head: 0 });
        let error = queue_error(offer_malformed(queue, |d| {
            d.descriptor(queue, 0, 0x50000, 100, write | DESC_NEXT, SIZE);
        }));
        assert_eq!(
            error,
            QueueError::BadIndex {
                index: SIZE,
                size: SIZE
            }
        );
        let error = queue_error(offer_malformed(queue, |d| {
            for i in 0..3 {
                d.descriptor(queue, i, 0x80000, 60000, write | DESC_NEXT, i + 1);
            }
            d.descriptor(queue, 3, 0x80000, 60000, write, 0);
        }));
        assert_eq!(
            error,
            QueueError::ChainTooLarge { head: 0 },
            "over {MAX_CHAIN_BYTES}"
        );
        let error = queue_error(offer_malformed(queue, |d| {
            d.descriptor(queue, 0, 0x50000, 100, write | 4, 0);
        }));
        assert_eq!(error, QueueError::Indirect { index: 0 });
        let error = queue_error(offer_malformed(queue, |d| {
            d.descriptor(queue, 0, 0x50000, 100, write ^ DESC_WRITE, 0);
        }));
        assert!(matches!(error, QueueError::Direction { .. }), "{error}");
    }
    // A head index past the table, and an available index run ahead.
    let mut driver = Driver::new();
    driver.descriptor(TX, 0, 0x50000, 100, 0, 0);
    driver.offer(TX, 200);
    assert!(matches!(
        queue_error(driver.write(0x050, 1).map(|()| 0)),
        QueueError::BadIndex { index: 200, .. }
    ));
    let mut driver = Driver::new();
    driver
        .memory
        .write_obj(SIZE + 1, RINGS[TX].avail + 2)
        .expect("avail idx");
    assert!(matches!(
        queue_error(driver.write(0x050, 1).map(|()| 0)),
        QueueError::AvailOverrun { .. }
    ));
    // A transmit chain shorter than the header.
    let mut driver = Driver::new();
    driver.descriptor(TX, 0, 0x50000, 4, 0, 0);
    driver.offer(TX, 0);
    assert_eq!(driver.write(0x050, 1), Err(NetViolation::FrameSize(4)));
}

#[test]
fn a_desynchronised_stream_takes_the_link_down_not_the_monitor() {
    let mut driver = Driver::new();
    driver.post_rx(0, 2048);
    driver
        .peer
        .write_all(&u32::MAX.to_be_bytes())
        .expect("write");
    assert_eq!(driver.device.receive(&driver.memory), Ok(0));
    // The link is closed (passt would exit); the guest keeps running and
    // sending is harmless.
    let mut rest = Vec::new();
    driver.peer.read_to_end(&mut rest).expect("read to the end");
    assert_eq!(driver.device.receive(&driver.memory), Ok(0));
    driver.send(2, &frame(60, 0)).expect("send on a dead link");
    assert_eq!(driver.used_idx(TX), 1);
}

#[test]
fn reset_forgets_the_queues() {
    let mut driver = Driver::new();
    driver.post_rx(0, 2048);
    driver.write(0x070, 0).expect("reset");
    assert_eq!(driver.read(0x070), 0);
    driver.host_sends(&frame(60, 0));
    assert_eq!(driver.device.receive(&driver.memory), Ok(0));
    driver.write(0x030, 0).expect("select");
    assert_eq!(driver.read(0x044), 0, "not ready");
}

#[test]
fn block_wakes_for_a_frame_before_its_deadline() {
    let mut driver = Driver::new();
    driver.post_rx(0, 2048);
    let mut peer = driver.peer.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        let mut bytes = 60u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&frame(60, 5));
        peer.write_all(&bytes).expect("write");
    });
    let start = Instant::now();
    let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + 5_000_000_000;
    block(&mut driver, deadline).expect("block");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(driver.used_idx(RX), 1);
    sender.join().expect("sender");

    // A frame delivered at another exit (here: posting a buffer with
    // QueueNotify) since the last Block ends the next one at once: the
    // guest may have checked its ring before that exit.
    driver.host_sends(&frame(60, 7));
    std::thread::sleep(Duration::from_millis(10));
    driver.post_rx(1, 2048);
    driver.write(0x050, RX as u32).expect("notify");
    assert_eq!(driver.used_idx(RX), 2);
    let start = Instant::now();
    let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + 5_000_000_000;
    block(&mut driver, deadline).expect("block");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    // Without buffers, only the deadline ends the wait.
    driver.host_sends(&frame(60, 6));
    let start = Instant::now();
    let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + 50_000_000;
    block(&mut driver, deadline).expect("block");
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert_eq!(driver.used_idx(RX), 2);
}

/// The link status word of the device's configuration.
fn link(driver: &Driver) -> u16 {
    let mut status = [0; 2];
    driver
        .device
        .mmio_read(MMIO_BASE + 0x106, &mut status)
        .expect("config read");
    u16::from_le_bytes(status)
}

/// The monitor asks passt for the gateway's address as it starts it:
/// the answer, addressed to the guest, shows passt serves, and only then
/// is the link up.
#[test]
fn passt_answers_the_guest_with_the_configured_addressing() {
    let addressing = Addressing::user_mode();
    let spec = NetSpec {
        backend: BackendSpec::Passt {
            forwards: Vec::new(),
        },
        addressing,
    };
    let mut driver = Driver::bare();
    driver.device = NetDevice::new(&spec).expect("passt is installed");
    driver.init(SIZE).expect("init");
    assert_eq!(link(&driver), 0, "down until passt answers");
    driver.post_rx(0, 2048);
    let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + 5_000_000_000;
    while driver.used_idx(RX) == 0 && host_now_ns(libc::CLOCK_MONOTONIC) < deadline {
        block(&mut driver, deadline).expect("block");
    }
    assert_eq!(driver.used_idx(RX), 1, "passt answered");
    assert_eq!(link(&driver), 1, "up");
    let (_, len) = driver.used(RX, 0);
    let mut reply = Vec::new();
    driver
        .memory
        .read_bytes(RINGS[RX].buffers, u64::from(len), &mut reply)
        .expect("read");
    let reply = &reply[HEADER_LEN..];
    assert_eq!(reply[..6], addressing.mac, "to the guest");
    assert_eq!(reply[12..14], [0x08, 0x06], "ARP");
    assert_eq!(reply[20..22], [0, 2], "a reply");
    assert_eq!(
        reply[28..32],
        addressing.gateway.octets(),
        "from the gateway"
    );
    assert_eq!(
        reply[38..42],
        addressing.ipv4.octets(),
        "for the guest's address"
    );
}

#[test]
fn passt_gets_the_addressing_and_ports() {
    let forwards = [
        PortForward {
            host_ip: None,
            host_port: 8080,
            guest_port: 80,
            protocol: Protocol::Tcp,
        },
        PortForward {
            host_ip: Some("127.0.0.1".parse().expect("ip")),
            host_port: 5353,
            guest_port: 53,
            protocol: Protocol::Udp,
        },
    ];
    let args = passt::arguments(&Addressing::user_mode(), &forwards, 7).join(" ");
    for expected in [
        "--foreground --quiet --ipv4-only --one-off --fd 7",
        "--address 10.0.2.15 --netmask 24 --gateway 10.0.2.2 --mtu 1500",
        "--dns-forward 10.0.2.3",
        "--tcp-ports 8080:80 --udp-ports 127.0.0.1/5353:53",
    ] {
        assert!(args.contains(expected), "{args}");
    }
}

#[test]
fn the_net_seccomp_program_allows_the_device_path() {
    if !crate::test_support::in_child("net::tests::the_net_seccomp_program_allows_the_device_path")
    {
        return;
    }
    let mut driver = Driver::new();
    driver.host_sends(&frame(60, 1));
    driver.host_sends(&frame(60, 2));
    driver.post_rx(0, 2048);
    crate::seccomp::restrict_to_run_loop(crate::seccomp::Needs {
        volumes: false,
        net: true,
    })
    .expect("install the filter");
    assert_eq!(driver.device.receive(&driver.memory), Ok(1), "recvfrom");
    driver.post_rx(1, 2048);
    let soon = host_now_ns(libc::CLOCK_MONOTONIC) + 1_000_000_000;
    block(&mut driver, soon).expect("ppoll");
    assert_eq!(driver.used_idx(RX), 2);
    driver.post_rx(2, 2048);
    let soon = host_now_ns(libc::CLOCK_MONOTONIC) + 10_000_000;
    block(&mut driver, soon).expect("ppoll, timing out");
    driver.send(4, &frame(60, 3)).expect("writev");
    assert_eq!(driver.used_idx(TX), 1);
}
