//! `kiln symbolize IMAGE < console.log`: the crash reports a guest printed
//! on a serial console (booted through PVH on QEMU or Firecracker) as the
//! Kiln monitor would have written them, symbolized from the image.
//! Every other line passes through unchanged.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use kiln_monitor::crash::serial::SerialCrash;

use crate::Outcome;
use crate::exit_code::{Failure, IMAGE};

/// Reads the image file `kiln symbolize` and `run --hypervisor` name.
pub fn read_image(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path)
        .map_err(|e| Failure::new(IMAGE, format!("cannot read {}: {e}", path.display())))
}

/// Copies `console` to `out`, with each crash report symbolized into
/// `reports` instead; returns the status of the last crash seen.
pub fn filter(
    console: impl BufRead,
    image: &[u8],
    out: &mut dyn Write,
    reports: &mut dyn Write,
) -> Option<u8> {
    filter_lines(console, image, out, reports, &mut |_| true)
}

/// [`filter`], leaving out the other lines `keep` refuses (it sees each
/// line without its line ending).
pub fn filter_lines(
    console: impl BufRead,
    image: &[u8],
    out: &mut dyn Write,
    reports: &mut dyn Write,
    keep: &mut dyn FnMut(&str) -> bool,
) -> Option<u8> {
    let mut crash = SerialCrash::default();
    let mut status = None;
    for line in console.split(b'\n') {
        let Ok(line) = line else { break };
        let text = String::from_utf8_lossy(&line);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        if !crash.feed(text) {
            if !keep(text) {
                continue;
            }
            let _ = out.write_all(&line);
            let _ = out.write_all(b"\n");
            let _ = out.flush();
        } else if let Some(finished) = crash.finish(text, image) {
            let _ = write!(reports, "{}", finished.report);
            status = Some(finished.status);
        }
    }
    status
}

/// `kiln symbolize IMAGE`.
pub fn symbolize(image: &Path) -> Outcome {
    let bytes = read_image(image)?;
    let (mut stdout, mut reports) = (std::io::stdout(), std::io::stdout());
    filter(std::io::stdin().lock(), &bytes, &mut stdout, &mut reports);
    Ok(ExitCode::SUCCESS)
}
