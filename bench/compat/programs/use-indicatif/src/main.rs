//! indicatif without a terminal (stderr is a file in both runs): the bars
//! hide themselves, their state is still kept; its human formatters.
use indicatif::{HumanBytes, HumanCount, HumanDuration, MultiProgress, ProgressBar, ProgressStyle};
use std::time::Duration;

fn main() {
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .expect("template")
            .progress_chars("=> "),
    );
    println!("hidden without a terminal: {}", bar.is_hidden());
    for i in 0..1000 {
        bar.inc(1);
        if i % 250 == 0 {
            bar.set_message(format!("step {i}"));
        }
    }
    bar.finish_with_message("done");
    println!(
        "position {} of {:?}, finished {}, message {}",
        bar.position(),
        bar.length(),
        bar.is_finished(),
        bar.message()
    );

    let multi = MultiProgress::new();
    let bars: Vec<_> = (0..3)
        .map(|i| multi.add(ProgressBar::new(100 * (i + 1))))
        .collect();
    let handles: Vec<_> = bars
        .iter()
        .cloned()
        .map(|b| {
            std::thread::spawn(move || {
                while b.position() < b.length().unwrap_or(0) {
                    b.inc(7);
                }
                b.finish();
                b.position()
            })
        })
        .collect();
    let ends: Vec<u64> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    println!("multi ends {ends:?}");
    let spinner = ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(10));
    std::thread::sleep(Duration::from_millis(50));
    spinner.finish_and_clear();
    println!("spinner finished {}", spinner.is_finished());
    println!(
        "{} {} {}",
        HumanBytes(3_456_789_012),
        HumanCount(1_234_567),
        HumanDuration(Duration::from_secs(4000))
    );
}
