//! Threads on the one vCPU.
//!
//! A thread runs until it waits (on a futex, a sleep or a join), yields,
//! exits, or uses up its time slice: while another thread could run (one is
//! ready, or sleeps until a deadline), the platform delivers a tick every
//! slice, and [`preempted`] moves the running thread to the back of the
//! queue, waking sleepers whose deadline passed. Ticks never land inside the
//! library OS's critical sections ([`crate::preempt`]); every function here
//! runs in one. When no thread can run, the vCPU idles in the monitor's
//! `Block` hypercall until the earliest deadline among the waiting threads,
//! or until stdin or the network has something for one; when every thread
//! waits without a deadline and for nothing the monitor can deliver, the
//! program is deadlocked, and that is reported as a crash.
//!
//! A switch saves the callee-saved registers, MXCSR and the x87 control
//! word (the ABI's callee-saved state), swaps stacks, and points `%fs` at
//! the next thread's thread pointer (its TLS block) with `wrfsbase`. A
//! preempted thread's other registers were saved by the upcall that brought
//! it here. Each thread keeps its own critical-section depth across a switch.
//!
//! Each thread stack's lowest page is a guard page, unmapped through the
//! platform's kernel call, so an overflow faults at once and the monitor
//! reports it, naming the thread. The kernel call runs in the CPU's
//! privileged mode, which is emulated on kvm_pvm hosts, so freed stacks are
//! kept, guards in place, for the next threads. A stack canary checked at
//! each switch remains for heaps mapped with large pages, where no guard
//! page can be made.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

use crate::heap::HEAP;
use crate::platform;
use crate::platform::preempt;
use crate::preempt::NoPreempt;
use crate::time::Instant;

/// The most threads that can exist at once.
pub const MAX_THREADS: usize = 1024;

/// The CPUs threads run on: the one vCPU (the C library's `sysconf`,
/// `sched_getaffinity` and `get_nprocs` all answer from here).
pub const CPUS: usize = 1;

/// Nanoseconds the vCPU has spent idle, waiting in the monitor because no
/// thread could run: the rest of the time since boot is the program's CPU
/// time.
static IDLE_NS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The CPU time the program has used: time since boot less time idle.
pub fn cpu_time() -> core::time::Duration {
    let since_boot = Instant::now().as_nanos_since_boot();
    let idle = IDLE_NS.load(core::sync::atomic::Ordering::Relaxed);
    core::time::Duration::from_nanos(since_boot.saturating_sub(idle))
}

/// The threads that exist now, the main one included (which exists
/// before the scheduler first records it).
pub fn thread_count() -> usize {
    // Like every reader of the scheduler, in a critical section: a tick
    // here would take its own reference to it.
    let _section = NoPreempt::new();
    sched().count.max(1)
}

/// The smallest stack a thread gets (glibc's `PTHREAD_STACK_MIN` on x86_64).
pub const MIN_STACK: usize = 16 * 1024;

/// Stacks are handed out in whole pages, 16-byte aligned at the top.
const STACK_ALIGN: usize = 4096;

/// The guard page at the bottom of each stack.
const GUARD: usize = 4096;

/// Freed stacks kept for reuse.
const STACK_CACHE: usize = 16;

/// Written at the lowest word of every thread stack and checked at each
/// switch: a thread that overran its stack is reported, not left to corrupt
/// the heap further.
const STACK_CANARY: u64 = 0x4b49_4c4e_5354_4b21; // "KILNSTK!"

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Ready,
    Running,
    /// Waiting for a wake on `key`, or for `deadline` (ns since boot).
    Waiting,
    Finished,
}

/// Why a waiting thread resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Another thread woke it.
    Woken,
    /// Its deadline passed.
    TimedOut,
}

/// A thread.
pub struct Thread {
    rsp: u64,
    tp: u64,
    state: State,
    id: u32,
    /// `None` for the main thread, whose stack the monitor set up.
    stack: Option<Stack>,
    key: usize,
    deadline: u64,
    wake: Wake,
    joiner: *mut Thread,
    detached: bool,
    result: usize,
    /// Its critical-section depth while it is switched out.
    preempt_depth: u32,
    /// Where its name is kept (NUL-terminated, at most 16 bytes), or null:
    /// the C library's record of the thread, for crash reports.
    name: *const u8,
}

impl Thread {
    /// The thread's usable stack, above its guard page: lowest address and
    /// size (`None` for the main thread, whose stack the monitor set up).
    pub fn stack(&self) -> Option<(usize, usize)> {
        self.stack
            .map(|s| (s.usable() as usize, s.size - s.guard_size()))
    }
}

/// A thread stack, with a guard page of `guard_size` bytes (0 or one page)
/// at `base`. No `bool` field: `Option<Stack>`'s `None` is then the null
/// `base`, all zeros, so the scheduler's static stays in `.bss` rather than
/// in the image.
#[derive(Clone, Copy)]
struct Stack {
    base: NonNull<u8>,
    size: usize,
    guard_size: usize,
}

impl Stack {
    fn guard_size(&self) -> usize {
        self.guard_size
    }

    /// The lowest usable byte, above the guard page: where the canary lives.
    fn usable(&self) -> *mut u8 {
        self.base.as_ptr().wrapping_add(self.guard_size())
    }
}

struct Scheduler {
    threads: [*mut Thread; MAX_THREADS],
    count: usize,
    stacks: [Option<Stack>; STACK_CACHE],
    current: *mut Thread,
    /// Thread ids handed out so far (the next is one more): counted from
    /// zero so the scheduler's static is all zeros, in `.bss`, not the image.
    ids_issued: u32,
    /// Releases a finished thread's thread pointer (its TLS block).
    reaper: Option<fn(u64)>,
}

struct Global(UnsafeCell<Scheduler>);

// SAFETY: one vCPU, no interrupts, and every function that touches the
// scheduler runs with preemption disabled: it is only ever touched by the
// running thread, between switches.
unsafe impl Sync for Global {}

static SCHED: Global = Global(UnsafeCell::new(Scheduler {
    threads: [ptr::null_mut(); MAX_THREADS],
    count: 0,
    stacks: [None; STACK_CACHE],
    current: ptr::null_mut(),
    ids_issued: 0,
    reaper: None,
}));

#[allow(clippy::mut_from_ref)]
fn sched() -> &'static mut Scheduler {
    // SAFETY: see `Global`. Only one reference from here is live at a time:
    // callers stop using theirs before calling anything that takes its own
    // (`release`, `switch`), and none is used across a switch, since the
    // other threads take their own while this one is suspended.
    unsafe { &mut *SCHED.0.get() }
}

fn allocate<T>(value: T) -> *mut T {
    // Zero-sized layouts are undefined behaviour for `alloc`.
    const { assert!(size_of::<T>() > 0) };
    // SAFETY: a non-zero-sized layout (asserted above).
    let p = unsafe { HEAP.alloc(Layout::new::<T>()) }.cast::<T>();
    if !p.is_null() {
        // SAFETY: fresh, suitably aligned memory.
        unsafe { p.write(value) };
    }
    p
}

fn read_fs_base() -> u64 {
    let base: u64;
    // SAFETY: reads this thread's %fs base; the monitor enables FSGSBASE
    // for images that use thread-local storage.
    unsafe {
        core::arch::asm!("rdfsbase {}", out(reg) base, options(nomem, nostack, preserves_flags))
    };
    base
}

/// The running thread (the main thread is registered on first use).
pub fn current() -> *mut Thread {
    let _section = NoPreempt::new();
    let s = sched();
    if s.current.is_null() {
        let main = allocate(Thread {
            rsp: 0,
            tp: read_fs_base(),
            state: State::Running,
            id: s.ids_issued + 1,
            stack: None,
            key: 0,
            deadline: u64::MAX,
            wake: Wake::Woken,
            joiner: ptr::null_mut(),
            detached: true,
            result: 0,
            preempt_depth: 0,
            name: ptr::null(),
        });
        if main.is_null() {
            platform::report_panic(b"kiln: no memory for the main thread");
        }
        s.ids_issued += 1;
        s.threads[0] = main;
        s.count = 1;
        s.current = main;
        platform::set_current_thread(1, ptr::null());
    }
    s.current
}

/// A stack of `size` bytes: a cached one, or a fresh one whose lowest page
/// becomes its guard (when the heap there is mapped with 4 KiB pages).
fn take_stack(s: &mut Scheduler, size: usize) -> Option<Stack> {
    if let Some(slot) = s
        .stacks
        .iter_mut()
        .find(|c| c.is_some_and(|c| c.size == size))
    {
        return slot.take();
    }
    let layout = Layout::from_size_align(size, STACK_ALIGN).ok()?;
    // SAFETY: a non-zero-sized layout.
    let base = NonNull::new(unsafe { HEAP.alloc(layout) })?;
    let guarded = platform::set_page_present(base.as_ptr() as u64, false);
    Some(Stack {
        base,
        size,
        guard_size: if guarded { GUARD } else { 0 },
    })
}

/// Keeps a stack for reuse, or returns it to the heap (guard page mapped
/// again first: the allocator writes into free memory).
fn put_stack(s: &mut Scheduler, stack: Stack) {
    if let Some(slot) = s.stacks.iter_mut().find(|c| c.is_none()) {
        *slot = Some(stack);
        return;
    }
    if stack.guard_size > 0 {
        platform::set_page_present(stack.base.as_ptr() as u64, true);
    }
    // SAFETY: allocated by `take_stack` with this size and alignment, and
    // no thread runs on it any more.
    unsafe {
        HEAP.dealloc(
            stack.base.as_ptr(),
            Layout::from_size_align_unchecked(stack.size, STACK_ALIGN),
        )
    };
}

/// Sets the function that releases a finished thread's thread pointer.
pub fn set_reaper(reaper: fn(u64)) {
    let _section = NoPreempt::new();
    sched().reaper = Some(reaper);
}

/// Starts a thread running `entry(arg)` on a fresh stack of `stack_size`
/// bytes, with `tp` as its thread pointer. `entry` must not return: it ends
/// with [`exit`]. Returns null when memory or thread slots run out.
pub fn spawn(
    entry: extern "C" fn(usize) -> !,
    arg: usize,
    stack_size: usize,
    tp: u64,
) -> *mut Thread {
    let _section = NoPreempt::new();
    current();
    let s = sched();
    if s.count == MAX_THREADS {
        return ptr::null_mut();
    }
    // A size too large to add the guard page and round up could never be
    // allocated: fail as when memory runs out, not with a wrapped-around size.
    let Some(size) = stack_size
        .max(MIN_STACK)
        .checked_add(GUARD)
        .and_then(|size| size.checked_next_multiple_of(STACK_ALIGN))
    else {
        return ptr::null_mut();
    };
    let Some(stack) = take_stack(s, size) else {
        return ptr::null_mut();
    };
    // The first switch to the thread restores MXCSR and the x87 control
    // word, pops six registers and returns into the trampoline, which calls
    // `entry(arg)` from r12 and r13. The two padding words leave rsp 16-byte
    // aligned at the trampoline's `call`, as the ABI requires.
    let top = stack.base.as_ptr() as u64 + stack.size as u64;
    let frame: [u64; 10] = [
        0x037f_0000_1f80,      // MXCSR 0x1f80 and x87 control word 0x037f: the defaults
        0,                     // r15
        0,                     // r14
        arg as u64,            // r13
        entry as usize as u64, // r12
        0,                     // rbx
        0,                     // rbp
        kiln_thread_start as unsafe extern "C" fn() as usize as u64, // return address
        0,
        0,
    ];
    let rsp = top - size_of_val(&frame) as u64;
    // SAFETY: the frame fills the top of the stack; the canary is its lowest
    // usable word, above the guard page.
    unsafe {
        ptr::copy_nonoverlapping(frame.as_ptr(), rsp as *mut u64, frame.len());
        stack.usable().cast::<u64>().write(STACK_CANARY);
    }
    let thread = allocate(Thread {
        rsp,
        tp,
        state: State::Ready,
        id: s.ids_issued + 1,
        stack: Some(stack),
        key: 0,
        deadline: u64::MAX,
        wake: Wake::Woken,
        joiner: ptr::null_mut(),
        detached: false,
        result: 0,
        preempt_depth: 0,
        name: ptr::null(),
    });
    if thread.is_null() {
        put_stack(s, stack);
        return ptr::null_mut();
    }
    s.ids_issued += 1;
    s.threads[s.count] = thread;
    s.count += 1;
    // From now on another thread can run: time slices start.
    preempt::set_handler(preempted);
    preempt::set_wanted(true);
    thread
}

/// Lets other ready threads run.
pub fn yield_now() {
    let _section = NoPreempt::new();
    let me = current();
    // SAFETY: the running thread's own record.
    unsafe { (*me).state = State::Ready };
    schedule();
}

/// Blocks the running thread until [`wake`] on `key` or `deadline` (ns
/// since boot; `u64::MAX` for none).
pub fn wait(key: usize, deadline: u64) -> Wake {
    let _section = NoPreempt::new();
    let me = current();
    // SAFETY: the running thread's own record.
    unsafe {
        (*me).state = State::Waiting;
        (*me).key = key;
        (*me).deadline = deadline;
    }
    schedule();
    // SAFETY: as above; `schedule` returns when this thread runs again.
    unsafe { (*me).wake }
}

/// Wakes up to `count` threads waiting on `key`; returns how many.
pub fn wake(key: usize, count: usize) -> usize {
    let _section = NoPreempt::new();
    let s = sched();
    let mut woken = 0;
    for &t in &s.threads[..s.count] {
        if woken == count {
            break;
        }
        // SAFETY: live thread records.
        unsafe {
            if (*t).state == State::Waiting && (*t).key == key {
                (*t).state = State::Ready;
                (*t).wake = Wake::Woken;
                woken += 1;
            }
        }
    }
    if woken > 0 {
        preempt::set_wanted(true);
    }
    woken
}

/// Idles the running thread until `deadline` (ns since boot).
pub fn sleep_until(deadline: u64) {
    while Instant::now().as_nanos_since_boot() < deadline {
        wait(0, deadline);
    }
}

/// Ends the running thread with `result`, which [`join`] returns.
pub fn exit(result: usize) -> ! {
    let _section = NoPreempt::new();
    let me = current();
    // SAFETY: the running thread's own record; its joiner, if any, is live.
    unsafe {
        (*me).result = result;
        (*me).state = State::Finished;
        let joiner = (*me).joiner;
        if !joiner.is_null() {
            (*joiner).state = State::Ready;
            (*joiner).wake = Wake::Woken;
        }
    }
    schedule();
    unreachable!("a finished thread is never scheduled again")
}

/// Waits for `thread` to finish, releases it, and returns its result.
///
/// # Safety
/// `thread` must come from [`spawn`], not be detached, and be joined once.
pub unsafe fn join(thread: *mut Thread) -> usize {
    let _section = NoPreempt::new();
    let me = current();
    // SAFETY: per the caller, `thread` is live until released below.
    unsafe {
        while (*thread).state != State::Finished {
            (*thread).joiner = me;
            wait(thread as usize, u64::MAX);
        }
        let result = (*thread).result;
        release(thread);
        result
    }
}

/// Says where `thread`'s name is kept, for crash reports.
///
/// # Safety
/// `thread` must come from [`spawn`]; `name` must stay readable for 16
/// bytes as long as the thread exists.
pub unsafe fn set_name_location(thread: *mut Thread, name: *const u8) {
    // SAFETY: per the caller, a live thread record.
    unsafe { (*thread).name = name };
}

/// Lets `thread` release itself when it finishes.
///
/// # Safety
/// `thread` must come from [`spawn`] and not be joined afterwards.
pub unsafe fn detach(thread: *mut Thread) {
    let _section = NoPreempt::new();
    // SAFETY: per the caller.
    unsafe {
        if (*thread).state == State::Finished {
            release(thread);
        } else {
            (*thread).detached = true;
        }
    }
}

/// Frees a finished thread's stack, record and thread pointer.
///
/// # Safety
/// `thread` is finished and not the running thread.
unsafe fn release(thread: *mut Thread) {
    let s = sched();
    if let Some(i) = s.threads[..s.count].iter().position(|t| *t == thread) {
        s.threads[i] = s.threads[s.count - 1];
        s.count -= 1;
    }
    // SAFETY: per the caller: nothing runs on the stack or uses the record.
    unsafe {
        if let Some(reaper) = s.reaper {
            reaper((*thread).tp);
        }
        // The main thread has no stack of ours: the monitor set its stack up.
        if let Some(stack) = (*thread).stack {
            put_stack(s, stack);
        }
        HEAP.dealloc(thread.cast(), Layout::new::<Thread>());
    }
}

/// Switches to the next thread that can run, idling the vCPU until one can.
fn schedule() {
    let me = sched().current;
    loop {
        // Taken afresh each round: `release` below takes its own.
        let s = sched();
        let now = Instant::now().as_nanos_since_boot();
        let mut earliest = u64::MAX;
        let mut waiting = false;
        let mut detached_finished = ptr::null_mut();
        for &t in &s.threads[..s.count] {
            // SAFETY: live thread records.
            unsafe {
                match (*t).state {
                    State::Waiting if (*t).deadline <= now => {
                        (*t).state = State::Ready;
                        (*t).wake = Wake::TimedOut;
                    }
                    State::Waiting => {
                        waiting = true;
                        earliest = earliest.min((*t).deadline);
                    }
                    State::Finished if (*t).detached && t != me => detached_finished = t,
                    _ => {}
                }
            }
        }
        if !detached_finished.is_null() {
            // SAFETY: finished, detached and not running.
            unsafe { release(detached_finished) };
            continue;
        }
        let start = s.threads[..s.count]
            .iter()
            .position(|t| *t == me)
            .unwrap_or(0);
        let next = (1..=s.count)
            .map(|i| s.threads[(start + i) % s.count])
            // SAFETY: live thread records.
            .find(|t| unsafe { (**t).state } == State::Ready);
        if let Some(next) = next {
            preempt::set_wanted(others_could_run(s, next));
            if next != me {
                switch(me, next);
            } else {
                // SAFETY: the running thread's own record.
                unsafe { (*me).state = State::Running };
            }
            return;
        }
        if !waiting {
            // Every thread has ended, the main one included (it may end
            // first, through `pthread_exit`): the program ends as if it had
            // called `exit(0)`, as POSIX specifies.
            crate::process::exit(0);
        }
        // The network first: traffic that arrived may wake a thread, and
        // smoltcp's timers (retransmits, delayed ACKs) bound the block. With
        // a device, a wait without a deadline is not a deadlock: `Block`
        // also returns when a frame arrives.
        #[cfg(feature = "net")]
        let network = {
            let idle = crate::fd::socket_hooks()
                .map(|net| (net.idle)())
                .unwrap_or_default();
            if idle.woke {
                continue;
            }
            earliest = earliest.min(idle.deadline);
            idle.present
        };
        #[cfg(not(feature = "net"))]
        let network = false;
        // A thread waiting for stdin: the monitor wakes the vCPU when it is
        // readable, so that wait is no deadlock either.
        #[cfg(feature = "fs")]
        let stdin = crate::fs::stdin_watched();
        #[cfg(not(feature = "fs"))]
        let stdin = false;
        if earliest == u64::MAX && !network && !stdin {
            crate::process::flush_output();
            platform::report_panic(b"deadlock: every thread is waiting, none with a timeout");
        }
        crate::console::flush();
        #[cfg(feature = "fs")]
        crate::fs::flush();
        let idle_from = Instant::now();
        #[cfg(feature = "fs")]
        {
            use kiln_abi::hypercall::wait::STDIN;
            let wait = if stdin { STDIN } else { 0 };
            if platform::block(earliest, wait) & STDIN != 0 {
                crate::fs::stdin_ready();
            }
        }
        #[cfg(not(feature = "fs"))]
        platform::block_until(earliest);
        let idle = Instant::now().duration_since(idle_from).as_nanos() as u64;
        IDLE_NS.fetch_add(idle, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether a thread other than `running` is ready, or waits for something
/// that can happen while `running` computes (a deadline, or traffic from a
/// network device once sockets exist; on the loopback alone a waiter is
/// woken by the running thread's own call): then time slices are worth
/// their ticks.
fn others_could_run(s: &Scheduler, running: *mut Thread) -> bool {
    #[cfg(feature = "net")]
    let network = crate::fd::socket_hooks().is_some() && crate::fd::network_device_present();
    #[cfg(not(feature = "net"))]
    let network = false;
    s.threads[..s.count].iter().any(|&t| {
        // SAFETY: live thread records.
        t != running
            && unsafe {
                (*t).state == State::Ready
                    || ((*t).state == State::Waiting && ((*t).deadline != u64::MAX || network))
            }
    })
}

/// The running thread's time slice is over (the platform's tick, with
/// preemption disabled): lets the other ready threads run first, among them
/// those the network stack wakes for traffic that arrived meanwhile (it is
/// otherwise polled only when no thread can run, or by socket calls).
fn preempted() {
    #[cfg(feature = "net")]
    if let Some(net) = crate::fd::socket_hooks() {
        (net.idle)();
    }
    yield_now();
}

/// Reports a thread that ran past the end of its stack.
fn report_overflow(id: u32) -> ! {
    use core::fmt::Write;
    let mut message = crate::fixed_text::FixedText::<96>::new();
    let _ = write!(
        message,
        "stack overflow in thread {id} (its stack canary was overwritten)"
    );
    platform::report_panic(message.as_bytes())
}

fn switch(from: *mut Thread, to: *mut Thread) {
    // SAFETY: both are live thread records; `to` was suspended by `switch`
    // or prepared by `spawn`, so its stack holds the frame kiln_switch pops.
    unsafe {
        let canary = (*from).stack.map(|s| s.usable().cast::<u64>());
        if canary.is_some_and(|c| c.read() != STACK_CANARY) {
            report_overflow((*from).id);
        }
        (*to).state = State::Running;
        // Not kept in a binding: other threads take the scheduler while this
        // one is suspended in `kiln_switch`.
        sched().current = to;
        platform::set_current_thread(u64::from((*to).id), (*to).name);
        (*from).preempt_depth = preempt::depth();
        kiln_switch(&raw mut (*from).rsp, (*to).rsp, (*to).tp);
        // Running again, inside the switch of whichever thread gave way.
        preempt::resume((*from).preempt_depth);
    }
}

/// A new thread's first Rust code, called by `kiln_thread_start`: it starts
/// outside any critical section (the thread that switched to it was in one).
extern "C" fn thread_begin(entry: extern "C" fn(usize) -> !, arg: usize) -> ! {
    preempt::resume(0);
    entry(arg)
}

// SAFETY: both are defined in the `global_asm!` below with these
// signatures and the C calling convention; `kiln_thread_start` is never
// called, only its address is used, as a new thread's return address.
unsafe extern "C" {
    /// Saves the callee-saved state on the current stack, stores the stack
    /// pointer at `save`, then restores the thread suspended at `rsp`.
    fn kiln_switch(save: *mut u64, rsp: u64, tp: u64);
    /// A new thread's first instruction: calls `thread_begin(entry, arg)`
    /// with `entry` and `arg` from r12 and r13.
    fn kiln_thread_start();
}

core::arch::global_asm!(
    ".pushsection .text.kiln_switch,\"ax\",@progbits",
    ".globl kiln_switch",
    "kiln_switch:",
    "push rbp",
    "push rbx",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 8",
    "stmxcsr [rsp]",
    "fnstcw [rsp + 4]",
    "mov [rdi], rsp",
    "mov rsp, rsi",
    "wrfsbase rdx",
    "ldmxcsr [rsp]",
    "fldcw [rsp + 4]",
    "add rsp, 8",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop rbx",
    "pop rbp",
    "ret",
    ".globl kiln_thread_start",
    "kiln_thread_start:",
    ".cfi_startproc",
    ".cfi_undefined rip",
    "xor ebp, ebp",
    "mov rdi, r12",
    "mov rsi, r13",
    "call {begin}",
    "ud2",
    ".cfi_endproc",
    ".popsection",
    begin = sym thread_begin,
);
