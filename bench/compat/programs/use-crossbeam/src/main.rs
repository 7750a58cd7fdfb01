//! crossbeam: bounded and unbounded channels between producer and consumer
//! threads, select! with a timeout, and scoped threads borrowing the stack.
use crossbeam_channel::{bounded, select, unbounded, RecvTimeoutError};
use std::time::Duration;

fn main() {
    let (jobs, job_queue) = bounded::<u64>(16);
    let (results, collected) = unbounded::<(usize, u64)>();
    let workers: Vec<_> = (0..4)
        .map(|id| {
            let queue = job_queue.clone();
            let results = results.clone();
            std::thread::spawn(move || {
                for n in queue {
                    results.send((id, n * n)).expect("send result");
                }
            })
        })
        .collect();
    drop(results);
    for n in 1..=1000 {
        jobs.send(n).expect("send job");
    }
    drop(jobs);
    let total: u64 = collected.iter().map(|(_, square)| square).sum();
    for worker in workers {
        worker.join().expect("join");
    }
    println!("sum of squares {total}");

    let (fast_tx, fast) = unbounded();
    let (_slow_tx, slow) = unbounded::<&str>();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        fast_tx.send("fast").expect("send");
    });
    select! {
        recv(fast) -> msg => println!("selected {:?}", msg),
        recv(slow) -> msg => println!("selected {:?}", msg),
    }
    match slow.recv_timeout(Duration::from_millis(50)) {
        Err(RecvTimeoutError::Timeout) => println!("slow timed out"),
        other => println!("unexpected {other:?}"),
    }
    println!("after disconnect: {:?}", fast.recv());

    let mut chunks = vec![0u64; 8];
    let data: Vec<u64> = (0..80_000).collect();
    crossbeam_utils::thread::scope(|s| {
        for (slot, part) in chunks.iter_mut().zip(data.chunks(10_000)) {
            s.spawn(move |_| *slot = part.iter().sum());
        }
    })
    .expect("scope");
    println!("chunk sums {chunks:?}");
}
