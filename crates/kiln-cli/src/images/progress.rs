//! Transfer progress on stderr: a line per blob, redrawn in place on a
//! terminal, printed once when done otherwise (logs stay readable).

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use kiln_oci::registry::Progress;

use crate::guest_build::human_size;

/// How often a terminal line is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

/// Shows the progress of one push or pull.
pub struct Reporter {
    verb: &'static str,
    terminal: bool,
    last_draw: Option<Instant>,
}

impl Reporter {
    /// A reporter for blobs that are `verb` ("pushed", "pulled").
    pub fn new(verb: &'static str) -> Self {
        Self {
            verb,
            terminal: std::io::stderr().is_terminal(),
            last_draw: None,
        }
    }

    /// Shows one event.
    pub fn show(&mut self, event: Progress) {
        match event {
            Progress::Exists { digest, size } => {
                tell!(
                    "{}: already there ({})",
                    short(&digest.to_string()),
                    human_size(size)
                );
            }
            Progress::Moved { digest, done, size } => {
                let finished = done >= size;
                let due = self.last_draw.is_none_or(|at| at.elapsed() >= REDRAW);
                let text = digest.to_string();
                let name = short(&text);
                if self.terminal && (due || finished) {
                    self.last_draw = Some(Instant::now());
                    tell_raw!(
                        "\r\x1b[K{name}: {} of {}",
                        human_size(done),
                        human_size(size)
                    );
                    if finished {
                        tell!(", {}", self.verb);
                    }
                } else if finished {
                    tell!("{name}: {} {}", self.verb, human_size(size));
                }
            }
        }
    }
}

/// A digest's first 12 hex digits, as Docker shows them.
pub fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}
