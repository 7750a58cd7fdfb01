//! The panic handler: report to the monitor, which prints the report with a
//! backtrace it unwinds from here.

use core::fmt::Write;
use core::panic::PanicInfo;

use crate::fixed_text::FixedText;
use crate::{platform, process};

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    process::flush_output();
    // A fixed buffer: the heap may be the thing that failed.
    let mut message = FixedText::<1024>::new();
    // `PanicInfo` displays as "panicked at FILE:LINE:COL:\nMESSAGE"; a
    // truncated message is still worth reporting.
    let _ = write!(message, "{info}");
    platform::report_panic(message.as_bytes())
}
