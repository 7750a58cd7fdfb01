//! Panics with a message, to show Kiln's crash report.
#![no_std]
#![no_main]

kiln::entry!(main);

fn main() {
    let answer = kiln::env::args().count() + 41;
    check_answer(answer);
}

#[inline(never)]
fn check_answer(answer: usize) {
    if answer == 42 {
        panic!("the answer was {answer}, and that is too convenient");
    }
}
