use std::ptr::{read_volatile, write_volatile};

/// Lengths: all up to 300, then around 2 KiB (where the copy changes
/// method) and a few long ones.
fn lengths() -> Vec<usize> {
    let mut lengths: Vec<usize> = (0..=300).collect();
    lengths.extend([
        511,
        512,
        513,
        1000,
        2047,
        2048,
        2049,
        2111,
        4096,
        4099,
        65_536 + 13,
    ]);
    lengths
}

/// A byte pattern that differs at every position of a 251-byte cycle.
fn pattern(seed: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + seed * 13) % 251) as u8 + 1)
        .collect()
}

fn volatile_copy(buf: &mut [u8], dest: usize, src: usize, n: usize) {
    // A copy through a temporary, correct for overlapping ranges.
    let temp: Vec<u8> = (0..n)
        .map(|i| unsafe { read_volatile(buf.as_ptr().add(src + i)) })
        .collect();
    for (i, byte) in temp.into_iter().enumerate() {
        unsafe { write_volatile(buf.as_mut_ptr().add(dest + i), byte) };
    }
}

/// Byte-by-byte equality that never calls `memcmp` or `bcmp`.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && (0..a.len()).all(|i| unsafe { read_volatile(&a[i]) == read_volatile(&b[i]) })
}

fn check(name: &str, ok: bool, case: impl FnOnce() -> String) -> bool {
    if !ok {
        println!("{name}: wrong for {}", case());
    }
    ok
}

fn main() {
    const PAD: usize = 80;
    let (mut copies, mut moves, mut fills, mut compares) = (0, 0, 0, 0);
    let mut failures = 0;
    for n in lengths() {
        for align in [0, 1, 3, 7, 8, 15] {
            // memcpy between two buffers, guard bytes around the target.
            let source = pattern(n, n + 16);
            let mut target = vec![0xEEu8; n + 2 * PAD];
            let mut expected = target.clone();
            for i in 0..n {
                // Not `copy_from_slice`: that is the `memcpy` under test.
                unsafe {
                    write_volatile(&mut expected[PAD + i], read_volatile(&source[align + i]))
                };
            }
            unsafe {
                libc::memcpy(
                    target.as_mut_ptr().add(PAD).cast(),
                    source.as_ptr().add(align).cast(),
                    n,
                );
            }
            failures += usize::from(!check("memcpy", same(&target, &expected), || {
                format!("n={n} align={align}")
            }));
            copies += 1;

            // memset of the same region.
            let mut filled = vec![0x11u8; n + 2 * PAD];
            let mut expected = filled.clone();
            for byte in &mut expected[PAD + align..PAD + align + n] {
                // Not a plain store in a loop: compilers make that `memset`.
                unsafe { write_volatile(byte, 0xA5) };
            }
            unsafe { libc::memset(filled.as_mut_ptr().add(PAD + align).cast(), 0x1A5, n) };
            failures += usize::from(!check("memset", same(&filled, &expected), || {
                format!("n={n} align={align}")
            }));
            fills += 1;
        }
        // memmove within one buffer, the source shifted both ways.
        for shift in [
            -70isize, -65, -64, -33, -16, -15, -1, 1, 2, 16, 17, 63, 64, 65, 129,
        ] {
            let start = PAD + 70;
            let dest = (start as isize + shift) as usize;
            let mut buf = pattern(n + shift.unsigned_abs(), n + 2 * PAD + 140);
            let mut expected = buf.clone();
            volatile_copy(&mut expected, dest, start, n);
            unsafe {
                libc::memmove(
                    buf.as_mut_ptr().add(dest).cast(),
                    buf.as_ptr().add(start).cast(),
                    n,
                )
            };
            failures += usize::from(!check("memmove", same(&buf, &expected), || {
                format!("n={n} shift={shift}")
            }));
            moves += 1;
        }
        // memcmp and bcmp: equal, then one byte changed at chosen places.
        let a = pattern(n, n);
        let mut places: Vec<usize> = [0, 1, 7, 8, 15, 16, 17, 31, 63, 64, 100, n / 2]
            .into_iter()
            .chain([
                n.saturating_sub(17),
                n.saturating_sub(16),
                n.saturating_sub(9),
                n.saturating_sub(1),
            ])
            .filter(|&p| p < n)
            .collect();
        places.sort_unstable();
        places.dedup();
        let sign = |x: i32| x.signum();
        let equal = unsafe { libc::memcmp(a.as_ptr().cast(), a.clone().as_ptr().cast(), n) };
        failures += usize::from(!check("memcmp", equal == 0, || format!("n={n} equal")));
        for place in places {
            for delta in [1u8, 255] {
                let mut b = a.clone();
                b[place] = b[place].wrapping_add(delta);
                let expected = sign(i32::from(a[place]) - i32::from(b[place]));
                let got = unsafe { libc::memcmp(a.as_ptr().cast(), b.as_ptr().cast(), n) };
                let reverse = unsafe { libc::memcmp(b.as_ptr().cast(), a.as_ptr().cast(), n) };
                let unequal = unsafe { bcmp(a.as_ptr().cast(), b.as_ptr().cast(), n) };
                failures += usize::from(!check(
                    "memcmp",
                    sign(got) == expected && sign(reverse) == -expected && unequal != 0,
                    || format!("n={n} place={place} delta={delta}: {got} {reverse} {unequal}"),
                ));
                compares += 1;
            }
        }
    }
    println!("memcpy: {copies} cases");
    println!("memset: {fills} cases");
    println!("memmove: {moves} cases");
    println!("memcmp and bcmp: {compares} cases");
    println!("failures: {failures}");
    std::process::exit(i32::from(failures > 0));
}

unsafe extern "C" {
    /// glibc's and Kiln's `bcmp`; the `libc` crate does not declare it.
    fn bcmp(a: *const libc::c_void, b: *const libc::c_void, n: usize) -> libc::c_int;
}
