//! tokio's runtime pieces on both schedulers: each line says whether one
//! behaved as on Linux.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn checks(name: &str) {
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    println!(
        "{name}: slept 50 ms: {}",
        start.elapsed() >= Duration::from_millis(50)
    );

    let answer = tokio::task::spawn_blocking(|| 6 * 7).await;
    println!("{name}: spawn_blocking: {answer:?}");

    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        for i in 1..=4 {
            if tx.send(i).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let mut sum = 0;
    while let Some(i) = rx.recv().await {
        sum += i;
    }
    println!("{name}: channel sum: {sum}");

    let pending = std::future::pending::<()>();
    let timed_out = tokio::time::timeout(Duration::from_millis(20), pending).await;
    println!("{name}: timeout elapsed: {}", timed_out.is_err());

    let (mut a, mut b) = tokio::io::duplex(16);
    let writer = tokio::spawn(async move { a.write_all(b"ping through a duplex").await });
    let mut text = String::new();
    let read = b.read_to_string(&mut text).await;
    println!("{name}: duplex: {read:?} {text:?} {:?}", writer.await.ok());

    let start = Instant::now();
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    for _ in 0..4 {
        interval.tick().await;
    }
    println!(
        "{name}: interval: {}",
        start.elapsed() >= Duration::from_millis(30)
    );
}

fn main() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime")
        .block_on(checks("current-thread"));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("multi-thread runtime")
        .block_on(checks("multi-thread"));
    println!("done");
}
