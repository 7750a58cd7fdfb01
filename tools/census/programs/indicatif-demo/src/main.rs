//! A progress bar on the terminal.
fn main() {
    let bar = indicatif::ProgressBar::new(100);
    for _ in 0..100 {
        bar.inc(1);
    }
    bar.finish_with_message("done");
}
