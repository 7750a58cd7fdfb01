//! `fs-bench DIR READ_FILE`: file throughput and rates, printed as
//! `name: value unit` lines.
//!
//! - `read`: reading READ_FILE (1 MiB: baked into the guest image, in the
//!   page cache natively) whole, many times;
//! - `seq-write`: 64 × 1 MiB writes to a new file in DIR, then `fsync`
//!   (timed apart: the disk's share is the same for both sides);
//! - `seq-read`: reading that file back in 1 MiB reads;
//! - `create`: files of 4 KiB created, written and closed in DIR;
//! - `stat`: `metadata` of each of those files.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::time::Instant;

const MIB: usize = 1 << 20;

fn rate(name: &str, amount: f64, unit: &str, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    println!("{name}: {:.1} {unit}", amount / seconds);
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, read_file] = &args[..] else {
        eprintln!("usage: fs-bench DIR READ_FILE");
        std::process::exit(2);
    };
    let mut buf = vec![0u8; MIB];

    let rounds = 200;
    let started = Instant::now();
    let mut total = 0;
    for _ in 0..rounds {
        let mut file = File::open(read_file)?;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n;
        }
    }
    rate("read", (total / MIB) as f64, "MiB/s", started);

    let path = format!("{dir}/seq.bin");
    let chunks = 64;
    buf.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let started = Instant::now();
    let mut file = File::create(&path)?;
    for _ in 0..chunks {
        file.write_all(&buf)?;
    }
    rate("seq-write", chunks as f64, "MiB/s", started);
    let started = Instant::now();
    file.sync_all()?;
    println!(
        "fsync-64MiB: {:.2} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    drop(file);

    let started = Instant::now();
    let mut file = File::open(&path)?;
    let mut total = 0;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n;
    }
    rate("seq-read", (total / MIB) as f64, "MiB/s", started);
    fs::remove_file(&path)?;

    let files = 1000;
    let small = vec![7u8; 4096];
    let started = Instant::now();
    for i in 0..files {
        let mut file = File::create(format!("{dir}/small-{i}"))?;
        file.write_all(&small)?;
    }
    rate("create", files as f64, "files/s", started);
    let started = Instant::now();
    let mut bytes = 0;
    for i in 0..files {
        bytes += fs::metadata(format!("{dir}/small-{i}"))?.len();
    }
    rate("stat", files as f64, "files/s", started);
    assert_eq!(bytes, 4096 * files as u64);
    for i in 0..files {
        fs::remove_file(format!("{dir}/small-{i}"))?;
    }
    Ok(())
}
