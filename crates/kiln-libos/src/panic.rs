//! The panic handler: report to the monitor, which prints the report with a
//! backtrace it unwinds from here.

use core::fmt::Write;
use core::panic::PanicInfo;

use crate::{console, platform};

/// Panic messages are formatted into a fixed buffer: the heap may be the
/// thing that failed.
struct Message {
    buf: [u8; 1024],
    len: usize,
}

impl Write for Message {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let take = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    console::flush();
    let mut message = Message {
        buf: [0; 1024],
        len: 0,
    };
    // `PanicInfo` displays as "panicked at FILE:LINE:COL:\nMESSAGE"; a
    // truncated message is still worth reporting.
    let _ = write!(message, "{info}");
    platform::report_panic(&message.buf[..message.len])
}
