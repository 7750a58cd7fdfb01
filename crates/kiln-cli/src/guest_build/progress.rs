//! Progress of a quiet build (`kiln run DIR`, `kiln serve DIR`), where
//! cargo's own lines would mix with the guest's output: kiln reports the
//! crates cargo compiles (not those it finds fresh) from cargo's JSON
//! messages. On a terminal that is one status line, rewritten and erased at
//! the end; otherwise a plain line per crate. An up-to-date build says
//! nothing.

use std::cell::Cell;
use std::io::IsTerminal as _;

/// A quiet build's progress report.
pub struct Progress {
    bin: String,
    terminal: bool,
    compiled: Cell<usize>,
}

impl Progress {
    /// Starts reporting the build of `bin`.
    pub fn start(bin: &str) -> Self {
        let terminal = std::io::stderr().is_terminal();
        if terminal {
            tell_raw!("kiln: building {bin}...\r");
        }
        Self {
            bin: bin.to_string(),
            terminal,
            compiled: Cell::new(0),
        }
    }

    /// Cargo compiled `name`.
    pub fn compiled(&self, name: &str) {
        let count = self.compiled.get() + 1;
        self.compiled.set(count);
        if self.terminal {
            let crates = if count == 1 { "crate" } else { "crates" };
            tell_raw!(
                "\x1b[2K\rkiln: building {}: {count} {crates} compiled ({name})...\r",
                self.bin
            );
        } else {
            tell!("kiln: building {}: compiled {name}", self.bin);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.terminal {
            tell_raw!("\x1b[2K\r");
        }
    }
}
