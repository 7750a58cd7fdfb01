//! C variadic arguments on stable Rust: System V x86_64 `va_list` reading,
//! and the trampolines that build one for each variadic entry point.
//!
//! Hand-written because stable Rust can neither define a C-variadic
//! function nor read a `va_list` (`c_variadic` is nightly only, and so is
//! the `printf-compat` crate that builds on it). The ABI is small and fixed:
//! a variadic callee spills the six integer argument registers and, when
//! `%al` (the caller's count of vector registers used) is non-zero, `xmm0-7`
//! into a register save area; the `va_list` records how much of each part
//! the named arguments used and where the stack arguments start.

/// Size of the integer part of the register save area (rdi..r9).
const GP_AREA: u32 = 6 * 8;
/// End of the vector part (xmm0-7 after the integer part).
const FP_AREA_END: u32 = GP_AREA + 8 * 16;

/// glibc's `va_list` element (`__va_list_tag`): what C passes, by pointer,
/// to `vprintf` and friends.
#[repr(C)]
pub struct VaList {
    gp_offset: u32,
    fp_offset: u32,
    overflow_arg_area: *mut u8,
    reg_save_area: *mut u8,
}

impl VaList {
    /// The next integer or pointer argument, as its 64-bit slot (narrower
    /// types occupy the low bits, as the ABI passes them).
    ///
    /// # Safety
    /// The caller passed at least one more integer-class argument.
    pub unsafe fn next_u64(&mut self) -> u64 {
        if self.gp_offset < GP_AREA {
            // SAFETY: the offset is inside the register save area's integer part.
            let value = unsafe {
                self.reg_save_area
                    .add(self.gp_offset as usize)
                    .cast::<u64>()
                    .read()
            };
            self.gp_offset += 8;
            value
        } else {
            // SAFETY: per the caller, the next stack slot holds the argument.
            unsafe { self.next_stack::<u64>(8) }
        }
    }

    /// The next `double` argument.
    ///
    /// # Safety
    /// The caller passed at least one more `double`.
    pub unsafe fn next_f64(&mut self) -> f64 {
        if self.fp_offset < FP_AREA_END {
            // SAFETY: the offset is inside the register save area's vector part.
            let value = unsafe {
                self.reg_save_area
                    .add(self.fp_offset as usize)
                    .cast::<f64>()
                    .read()
            };
            self.fp_offset += 16;
            value
        } else {
            // SAFETY: per the caller, the next stack slot holds the argument.
            unsafe { self.next_stack::<f64>(8) }
        }
    }

    /// The next `long double` argument's 16 bytes (x87 80-bit extended in
    /// the low 10); always passed on the stack, 16-byte aligned.
    ///
    /// # Safety
    /// The caller passed at least one more `long double`.
    pub unsafe fn next_long_double(&mut self) -> [u8; 16] {
        let aligned = self.overflow_arg_area.addr().next_multiple_of(16);
        self.overflow_arg_area = self.overflow_arg_area.with_addr(aligned);
        // SAFETY: per the caller.
        unsafe { self.next_stack::<[u8; 16]>(16) }
    }

    /// Reads the next stack argument and steps past its `size`-byte slot.
    ///
    /// # Safety
    /// The next stack slot holds a `T`.
    unsafe fn next_stack<T>(&mut self, size: usize) -> T {
        // SAFETY: per the caller; stack slots are 8-byte aligned, so the
        // read is unaligned-tolerant for the 16-byte case.
        let value = unsafe { self.overflow_arg_area.cast::<T>().read_unaligned() };
        // SAFETY: the stack area continues past the slot just read.
        self.overflow_arg_area = unsafe { self.overflow_arg_area.add(size) };
        value
    }
}

/// Converts an x87 80-bit extended value to the nearest `f64` (ties to
/// even), for `%Lf`-style conversions.
pub fn extended_to_f64(bytes: [u8; 16]) -> f64 {
    let mantissa = u64::from_le_bytes(bytes[..8].try_into().unwrap_or([0; 8]));
    let sign_exp = u16::from_le_bytes([bytes[8], bytes[9]]);
    let negative = sign_exp & 0x8000 != 0;
    let exp = i32::from(sign_exp & 0x7fff);
    let magnitude = if exp == 0x7fff {
        if mantissa << 1 == 0 {
            f64::INFINITY
        } else {
            f64::NAN
        }
    } else if mantissa == 0 {
        0.0
    } else {
        // value = mantissa * 2^(exp - 16383 - 63); scale in two steps so
        // intermediate powers stay finite. The mantissa's conversion rounds
        // to 53 bits (ties to even) first; the scaling is exact unless the
        // result is subnormal.
        let mut value = mantissa as f64;
        let mut shift = exp - 16383 - 63;
        while shift > 0 {
            let step = shift.min(1000);
            value *= f64::from_bits(((1023 + step) as u64) << 52);
            shift -= step;
        }
        while shift < 0 {
            let step = (-shift).min(1000);
            value /= f64::from_bits(((1023 + step) as u64) << 52);
            shift += step;
        }
        value
    };
    if negative { -magnitude } else { magnitude }
}

/// Defines the C-variadic function `$name`, whose `$named` (1 to 5) named
/// arguments are all integers or pointers, as a trampoline that builds a
/// [`VaList`] and calls `$target` with the named arguments followed by
/// a pointer to it (glibc's `v*` signature).
///
/// The frame: a 176-byte register save area at `rsp`, the 24-byte
/// `va_list` after it, 16 bytes of padding to keep `rsp` 16-byte aligned
/// for the call. The stack arguments start just above the return address.
macro_rules! variadic {
    ($name:literal, $named:tt, $target:path) => {
        core::arch::global_asm!(
            concat!(".section .text.", $name, ",\"ax\",@progbits"),
            concat!(".globl ", $name),
            concat!(".type ", $name, ",@function"),
            concat!($name, ":"),
            "sub rsp, 216",
            "mov [rsp], rdi",
            "mov [rsp + 8], rsi",
            "mov [rsp + 16], rdx",
            "mov [rsp + 24], rcx",
            "mov [rsp + 32], r8",
            "mov [rsp + 40], r9",
            "test al, al",
            "je 2f",
            "movaps [rsp + 48], xmm0",
            "movaps [rsp + 64], xmm1",
            "movaps [rsp + 80], xmm2",
            "movaps [rsp + 96], xmm3",
            "movaps [rsp + 112], xmm4",
            "movaps [rsp + 128], xmm5",
            "movaps [rsp + 144], xmm6",
            "movaps [rsp + 160], xmm7",
            "2:",
            concat!("mov dword ptr [rsp + 176], ", $named, " * 8"),
            "mov dword ptr [rsp + 180], 48",
            "lea rax, [rsp + 224]",
            "mov [rsp + 184], rax",
            "mov [rsp + 192], rsp",
            "lea rax, [rsp + 176]",
            variadic!(@pass $named),
            "call {target}",
            "add rsp, 216",
            "ret",
            concat!(".size ", $name, ", . - ", $name),
            ".text",
            target = sym $target,
        );
    };
    (@pass 1) => { "mov rsi, rax" };
    (@pass 2) => { "mov rdx, rax" };
    (@pass 3) => { "mov rcx, rax" };
    (@pass 4) => { "mov r8, rax" };
    (@pass 5) => { "mov r9, rax" };
}

pub(crate) use variadic;
