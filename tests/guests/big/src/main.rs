//! An image with 3 MiB of `.bss`: it needs more than the minimum guest
//! memory, and its zeroed, writable pages span several page tables.
#![no_std]
#![no_main]

use core::hint::black_box;

kiln::entry!(main);

const SIZE: usize = 3 << 20;

static mut BIG: [u8; SIZE] = [0; SIZE];

fn main() -> i32 {
    // SAFETY: the only reference to BIG, on the only thread.
    // Edition 2024 allows a static mut only through a raw pointer.
    #[allow(clippy::deref_addrof)]
    let big = unsafe { &mut *(&raw mut BIG) };
    let zeroed = big.iter().step_by(4096).all(|b| *b == 0) && big[SIZE - 1] == 0;
    for (i, page) in big.chunks_mut(4096).enumerate() {
        page[0] = i as u8;
    }
    let sum: u64 = black_box(&*big).chunks(4096).map(|p| u64::from(p[0])).sum();
    kiln::println!("zeroed={zeroed} sum={sum}");
    0
}
