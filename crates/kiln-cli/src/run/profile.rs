//! `kiln run --profile FILE.svg`: the sampled stacks as a flame graph
//! (drawn by `inferno`), with the folded stacks beside it for other tools.
//!
//! The files are created before the boot and written by a thread started
//! then: the thread that ran the guest's boot vCPU is under the monitor's
//! seccomp filter, which allows writes to stdout and stderr only.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::thread::JoinHandle;

use kiln_monitor::profile::Profile;

use crate::exit_code::{Failure, USAGE};

/// The profile's two files, created before the boot: the monitor's thread
/// may create no file once its seccomp filter is on.
pub struct Outputs {
    svg: (PathBuf, File),
    folded: (PathBuf, File),
}

impl Outputs {
    /// Creates `svg` and the folded stacks' file beside it (`.folded` for
    /// its extension).
    pub fn create(svg: &Path) -> Result<Self, Failure> {
        let open = |path: PathBuf| {
            File::create(&path)
                .map(|file| (path.clone(), file))
                .map_err(|e| Failure::new(USAGE, format!("cannot write {}: {e}", path.display())))
        };
        Ok(Self {
            svg: open(svg.to_path_buf())?,
            folded: open(svg.with_extension("folded"))?,
        })
    }

    /// Starts the thread that will write the profile titled `title`.
    pub fn spawn(self, title: String) -> Writer {
        let (jobs, job) = channel::<(Vec<String>, u64)>();
        let thread = std::thread::spawn(move || match job.recv() {
            Ok((lines, samples)) => self.write(&lines, samples, &title),
            Err(_) => Ok(()),
        });
        Writer { jobs, thread }
    }

    /// Writes the folded stacks `lines` (`samples` in all) and the flame
    /// graph, and says where on stderr.
    fn write(self, lines: &[String], samples: u64, title: &str) -> Result<(), String> {
        let (svg, svg_file) = self.svg;
        let (folded, folded_file) = self.folded;
        let mut out = BufWriter::new(folded_file);
        lines
            .iter()
            .try_for_each(|line| writeln!(out, "{line}"))
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write {}: {e}", folded.display()))?;
        if lines.is_empty() {
            return Err(format!(
                "no samples: the guest used too little CPU time to sample (no flame graph in {})",
                svg.display()
            ));
        }
        let mut options = inferno::flamegraph::Options::default();
        options.title = title.to_owned();
        options.count_name = "samples".into();
        inferno::flamegraph::from_lines(
            &mut options,
            lines.iter().map(String::as_str),
            BufWriter::new(svg_file),
        )
        .map_err(|e| format!("cannot draw the flame graph {}: {e}", svg.display()))?;
        tell!(
            "kiln: profile of {samples} samples written to {} (folded stacks: {})",
            svg.display(),
            folded.display()
        );
        Ok(())
    }
}

/// The thread that writes a profile's files.
pub struct Writer {
    jobs: Sender<(Vec<String>, u64)>,
    thread: JoinHandle<Result<(), String>>,
}

impl Writer {
    /// Symbolizes `profile` from `image` and has the files written.
    pub fn finish(self, profile: &Profile, image: &[u8]) -> Result<(), String> {
        self.finish_folded(profile.folded(image), profile.samples())
    }

    /// Has the files of folded stacks `lines` (`samples` in all) written.
    pub fn finish_folded(self, lines: Vec<String>, samples: u64) -> Result<(), String> {
        // The thread waits for this; it cannot have gone.
        let _ = self.jobs.send((lines, samples));
        self.thread
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}
