//! Profiles: the guest's stacks, sampled from the monitor.
//!
//! While a profile runs, each vCPU's thread has a timer that sends it
//! [`PROFILE_SIGNAL`] [`ProfileConfig::hz`] times per second while the
//! guest runs on it: the timer is stopped while the vCPU sleeps in `Block`,
//! so idle vCPUs are not sampled. (A timer on the thread's CPU clock would
//! do that by itself, but kvm_pvm does not count the guest's time as the
//! thread's: it saw about a third of it.) The signal is blocked in the thread except inside `KVM_RUN`
//! ([`crate::signals`]), so it only ever ends a `KVM_RUN` early. At that
//! exit the run loop reads the vCPU's registers and unwinds the guest's
//! stack with the crash reports' unwinder (the image's `.eh_frame`, with
//! frame pointers where it has none), and counts the stack. Each sample
//! costs one VM exit and one register read (~30 µs on kvm_pvm), so the
//! default of [`DEFAULT_HZ`] costs the guest well under 1%.
//!
//! Stacks are kept as raw addresses while the guest runs and symbolized
//! once, at the end ([`Profile::folded`]).
//!
//! A background instance can be profiled while it runs (`kiln profile`,
//! through its control socket, [`crate::control`]): there every vCPU has a
//! sampler from the boot, off until a [`LiveProfile`] turns it on, with
//! its stacks gathered in the live profile.

use std::collections::BTreeMap;
use std::io;
use std::mem::MaybeUninit;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use kvm_ioctls::VcpuFd;
use object::read::elf::ElfFile64;

use crate::crash::symbolize::Symbolizer;
use crate::crash::unwind::{Registers, Unwinder};
use crate::memory::GuestMemory;
use crate::signals::take_pending;

/// Samples per second of a vCPU's CPU time, unless told otherwise: not a
/// multiple of common timer rates, so samples do not fall in step with
/// the guest's own periodic work.
pub const DEFAULT_HZ: u32 = 99;

/// The deepest stack a sample keeps.
const MAX_FRAMES: usize = 128;

/// The signal the sampling timer sends; nothing else in the monitor uses it.
pub const PROFILE_SIGNAL: libc::c_int = libc::SIGPROF;

/// What to profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProfileConfig {
    /// Samples per second of each vCPU's CPU time (1 to 1000).
    pub hz: u32,
}

/// Stacks (innermost address first) and how often each was seen. Ordered
/// maps, not hash maps, here: a hash map's first use in a thread asks the
/// kernel for random keys, a system call the vCPU threads' seccomp filter
/// does not allow.
pub type Stacks = BTreeMap<Vec<u64>, u64>;

/// A profile of a running instance, turned on and off from its control
/// socket: the rate while on, and every vCPU's stacks.
#[derive(Debug, Default)]
pub struct LiveProfile {
    /// Samples per second while on; 0 while off.
    hz: AtomicU32,
    /// The stacks sampled since it was turned on.
    stacks: Mutex<Stacks>,
}

impl LiveProfile {
    /// Starts sampling at `hz` (1 to 1000), from no stacks. A vCPU that
    /// runs the guest without exits sees it at its next exit: the caller
    /// kicks them.
    pub fn start(&self, hz: u32) {
        crate::vcpus::lock(&self.stacks).clear();
        self.hz.store(hz.clamp(1, 1000), Ordering::SeqCst);
    }

    /// Stops sampling and returns what was sampled.
    pub fn stop(&self) -> Profile {
        self.hz.store(0, Ordering::SeqCst);
        Profile {
            stacks: std::mem::take(&mut *crate::vcpus::lock(&self.stacks)),
        }
    }

    fn rate(&self) -> Option<u32> {
        Some(self.hz.load(Ordering::SeqCst)).filter(|&hz| hz > 0)
    }
}

/// What a sampler samples for.
enum Target<'a> {
    /// `kiln run --profile`: all the time, into its own stacks.
    Run(ProfileConfig),
    /// A background instance: while the live profile is on, into it.
    Live(&'a LiveProfile),
}

/// One vCPU thread's sampler.
pub struct Sampler<'a> {
    timer: libc::timer_t,
    target: Target<'a>,
    /// The rate the timer runs at, while armed.
    armed: Option<u32>,
    unwinder: Option<Unwinder<'a>>,
    stacks: Stacks,
}

impl<'a> Sampler<'a> {
    /// Starts the timer of the calling thread, the vCPU's. Call on that
    /// thread after [`crate::signals::confine_to_kvm_run`] and before
    /// seccomp (it creates and arms the timer).
    pub fn new(config: ProfileConfig, image: &'a [u8]) -> io::Result<Self> {
        Self::create(Target::Run(config), image)
    }

    /// A sampler of the calling thread, the vCPU's, that samples while
    /// `live` is on (its timer is created now, before seccomp).
    pub fn live(live: &'a LiveProfile, image: &'a [u8]) -> io::Result<Self> {
        Self::create(Target::Live(live), image)
    }

    fn create(target: Target<'a>, image: &'a [u8]) -> io::Result<Self> {
        // SAFETY: a zeroed sigevent is a valid value to fill in.
        let mut event: libc::sigevent = unsafe { std::mem::zeroed() };
        event.sigev_notify = libc::SIGEV_THREAD_ID;
        event.sigev_signo = PROFILE_SIGNAL;
        // SAFETY: gettid has no preconditions.
        event.sigev_notify_thread_id = unsafe { libc::gettid() };
        let mut timer = MaybeUninit::<libc::timer_t>::uninit();
        // SAFETY: `event` is initialised and `timer` receives the new id.
        let created =
            unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, timer.as_mut_ptr()) };
        if created != 0 {
            return Err(io::Error::last_os_error());
        }
        let mut sampler = Self {
            // SAFETY: written by the successful `timer_create`.
            timer: unsafe { timer.assume_init() },
            target,
            armed: None,
            unwinder: ElfFile64::parse(image).ok().map(|elf| Unwinder::new(&elf)),
            stacks: Stacks::new(),
        };
        sampler.resume()?;
        Ok(sampler)
    }

    /// The rate to sample at now, if any.
    fn rate(&self) -> Option<u32> {
        match &self.target {
            Target::Run(config) => Some(config.hz.clamp(1, 1000)),
            Target::Live(live) => live.rate(),
        }
    }

    /// Before each `KVM_RUN`: the timer runs while there is a rate.
    pub fn resume(&mut self) -> io::Result<()> {
        let rate = self.rate();
        if rate != self.armed {
            self.set_armed(rate)?;
        }
        Ok(())
    }

    /// The vCPU is about to sleep in `Block`: the timer stops, and a
    /// sample it asked for meanwhile is dropped.
    pub fn pause(&mut self) -> io::Result<()> {
        if self.armed.is_some() {
            self.set_armed(None)?;
            take_signal();
        }
        Ok(())
    }

    fn set_armed(&mut self, rate: Option<u32>) -> io::Result<()> {
        let period = libc::timespec {
            tv_sec: 0,
            tv_nsec: rate.map_or(0, |hz| 1_000_000_000 / libc::c_long::from(hz)),
        };
        let value = libc::itimerspec {
            it_interval: period,
            it_value: period,
        };
        // SAFETY: a valid timer and itimerspec; the old value is not requested.
        if unsafe { libc::timer_settime(self.timer, 0, &value, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = rate;
        Ok(())
    }

    /// After `KVM_RUN` returned `EINTR`: takes a sample if the timer asked
    /// for one.
    pub fn sample(&mut self, vcpu: &VcpuFd, memory: &GuestMemory) {
        if !take_signal() {
            return;
        }
        // A live profile turned off since: the next `resume` stops the timer.
        if self.rate().is_none() {
            return;
        }
        let (Some(unwinder), Ok(regs)) = (&mut self.unwinder, vcpu.get_regs()) else {
            return;
        };
        let stack = unwinder.unwind(&Registers::from(&regs), memory, MAX_FRAMES);
        match &self.target {
            Target::Run(_) => *self.stacks.entry(stack).or_insert(0) += 1,
            Target::Live(live) => *crate::vcpus::lock(&live.stacks).entry(stack).or_insert(0) += 1,
        }
    }

    /// The stacks sampled so far.
    pub fn into_stacks(self) -> Stacks {
        std::mem::take(&mut { self }.stacks)
    }
}

impl Drop for Sampler<'_> {
    fn drop(&mut self) {
        // SAFETY: the timer this value created; deleting it also disarms it.
        unsafe { libc::timer_delete(self.timer) };
    }
}

/// Consumes a pending profiling signal without waiting; true if there was one.
fn take_signal() -> bool {
    take_pending(PROFILE_SIGNAL)
}

/// A finished profile: every vCPU's stacks.
#[derive(Debug, Default)]
pub struct Profile {
    /// Stacks, innermost address first, with their counts.
    pub stacks: Stacks,
}

impl Profile {
    /// Adds one vCPU's stacks.
    pub fn add(&mut self, stacks: Stacks) {
        for (stack, count) in stacks {
            *self.stacks.entry(stack).or_insert(0) += count;
        }
    }

    /// Samples taken.
    pub fn samples(&self) -> u64 {
        self.stacks.values().sum()
    }

    /// The profile as folded stacks ("outer;...;inner COUNT", the format of
    /// Brendan Gregg's `stackcollapse` tools, which flame-graph tools
    /// read), symbolized from `image`, sorted. Inlined functions are
    /// frames of their own; an address without a symbol is shown in hex.
    pub fn folded(&self, image: &[u8]) -> Vec<String> {
        let symbolizer = Symbolizer::new(image);
        let mut names: BTreeMap<(u64, bool), Vec<String>> = BTreeMap::new();
        let mut folded: BTreeMap<String, u64> = BTreeMap::new();
        for (stack, count) in &self.stacks {
            let mut frames: Vec<String> = Vec::new();
            for (i, &pc) in stack.iter().enumerate() {
                let key = (pc, i > 0);
                let named = names.entry(key).or_insert_with(|| {
                    symbolizer
                        .symbolize(pc, i > 0)
                        .into_iter()
                        .map(|f| frame_name(f.function, pc))
                        .collect()
                });
                frames.extend(named.iter().cloned());
            }
            frames.reverse();
            *folded.entry(frames.join(";")).or_insert(0) += count;
        }
        folded
            .into_iter()
            .map(|(stack, count)| format!("{stack} {count}"))
            .collect()
    }
}

/// A frame's name in a folded stack: its function, or its address, with
/// the format's separators replaced (';' between frames, a newline
/// between stacks; a name may hold spaces: the count is after the last).
fn frame_name(function: Option<String>, pc: u64) -> String {
    function
        .unwrap_or_else(|| format!("{pc:#x}"))
        .chars()
        .map(|c| match c {
            ';' => ':',
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_names_cannot_break_the_folded_format() {
        assert_eq!(frame_name(Some("a;b c\nd".into()), 1), "a:b c_d");
        assert_eq!(frame_name(None, 0x1234), "0x1234");
    }

    #[test]
    fn profiles_add_up_across_vcpus() {
        let mut profile = Profile::default();
        profile.add(Stacks::from([(vec![1, 2], 3)]));
        profile.add(Stacks::from([(vec![1, 2], 2), (vec![5], 1)]));
        assert_eq!(profile.samples(), 6);
        assert_eq!(profile.stacks[&vec![1, 2]], 5);
        // Unknown addresses fold by address, outermost first.
        assert_eq!(profile.folded(b"not an ELF"), ["0x2;0x1 5", "0x5 1"]);
    }
}
