//! Threads on every vCPU.
//!
//! A thread runs until it waits (on a futex, a sleep or a join), yields,
//! exits, or uses up its time slice: while another thread could run (one is
//! ready, or sleeps until a deadline), the platform delivers a tick every
//! slice, and [`preempted`] moves the running thread to the back of its
//! vCPU's queue. Ticks never land inside the library OS's critical sections
//! ([`crate::preempt`]); every function here runs in one.
//!
//! *Queues.* Each vCPU has its own queue of ready threads. A thread that
//! becomes ready goes to an idle vCPU if there is one (which is woken with
//! the platform's `wake_vcpu`), else to the queue of the vCPU that made it
//! ready, whose next tick rotates it in. A vCPU whose queue is empty steals
//! the oldest thread of another's before it idles. The other vCPUs start
//! when the program first starts a thread, so a single-threaded program
//! never pays for them.
//!
//! *Idling.* Each vCPU has an idle context of its own: a vCPU with nothing
//! to run switches to it, and it blocks in the monitor until the earliest
//! deadline among the waiting threads, a wake from another vCPU, or traffic
//! for stdin or the network. When every thread waits without a deadline and
//! for nothing the monitor can deliver, the program is deadlocked, and that
//! is reported as a crash.
//!
//! *One lock.* The scheduler's state is behind one spinlock, held with
//! preemption disabled. A switch happens with the lock held, and the thread
//! switched to releases it ([`finish_switch`]), so no other vCPU can pick
//! up a thread whose registers are not yet saved; `on_cpu` marks a thread
//! whose stack is in use. Two vCPUs contend for it rarely (a switch or a
//! wake holds it for well under a microsecond); per-queue locks would
//! matter only with many more vCPUs than Kiln's hosts have.
//!
//! *No lost wakes.* A thread that must look at a condition and then sleep
//! (a futex word, a pipe, a socket) announces its wait first
//! ([`prepare_wait`]), looks, and then either sleeps ([`commit_wait`]) or
//! cancels ([`cancel_wait`]). A wake that comes in between finds it
//! waiting and marks it ready, so the sleep returns at once. [`wait_if`]
//! does the same for a condition that needs no other lock.
//!
//! A switch saves the callee-saved registers, MXCSR and the x87 control
//! word (the ABI's callee-saved state), swaps stacks, and points `%fs` at
//! the next thread's thread pointer (its TLS block) with `wrfsbase`. A
//! preempted thread's other registers were saved by the upcall that brought
//! it here. Each thread keeps its own critical-section depth across a switch.
//!
//! Each thread stack's lowest page is a guard page, unmapped through the
//! platform's kernel call, so an overflow faults at once and the monitor
//! reports it, naming the thread. The kernel call invalidates the page's
//! translation only on its own vCPU, so a thread's first run on each other
//! vCPU repeats it there: a translation cached there while the page was
//! ordinary heap would otherwise let an overflow through. The kernel call
//! runs in the CPU's privileged mode, which is emulated on kvm_pvm hosts,
//! so freed stacks are kept, guards in place, for the next threads. A stack
//! canary checked at each switch remains for heaps mapped with large pages,
//! where no guard page can be made.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kiln_abi::boot::MAX_VCPUS;

use crate::clock::Instant;
use crate::heap::HEAP;
use crate::platform;
use crate::platform::preempt;
use crate::preempt::NoPreempt;

/// What the scheduler learns from the network stack when a vCPU would idle.
pub struct Idle {
    /// Sockets may have changed and their waiters were woken: schedule
    /// them instead of blocking.
    pub woke: bool,
    /// When the stack next needs polling (ns since boot), or `u64::MAX`.
    pub deadline: u64,
    /// Sockets exist on a device, so traffic can end a wait without a
    /// deadline (on the loopback alone only the program's own calls can).
    pub present: bool,
}

/// Nothing to do: no socket has been created.
impl Default for Idle {
    fn default() -> Self {
        Self {
            woke: false,
            deadline: u64::MAX,
            present: false,
        }
    }
}

/// What the layers above the scheduler do for an idle vCPU, and how the
/// program ends when its last thread does. The scheduler sits below files,
/// sockets and the process, so they hand it these (the `idle` module) instead
/// of it calling up into them.
pub struct IdleHooks {
    /// Polls the network stack, waking the waiters of sockets that changed.
    pub poll: fn() -> Idle,
    /// Whether received frames wait for the stack: a cheap look.
    pub frames_waiting: fn() -> bool,
    /// Whether sockets exist on a network device, so a wait without a
    /// deadline can end by traffic while a thread computes.
    pub network_present: fn() -> bool,
    /// Whether a thread waits for stdin (a `Block` then waits for it too).
    pub stdin_watched: fn() -> bool,
    /// Stdin became readable while the vCPU blocked.
    pub stdin_ready: fn(),
    /// Hands buffered output on before the vCPU blocks.
    pub flush: fn(),
    /// Hands every output on, before a deadlock is reported.
    pub flush_all: fn(),
    /// Ends the program with a status.
    pub exit: fn(i32) -> !,
}

/// What an idle vCPU does with nothing above the scheduler (a program
/// without files or sockets): nothing to flush (the monitor empties the
/// console's ring itself).
static BARE: IdleHooks = IdleHooks {
    poll: Idle::default,
    frames_waiting: || false,
    network_present: || false,
    stdin_watched: || false,
    stdin_ready: || {},
    flush: || {},
    flush_all: || {},
    exit: platform::exit,
};

/// The hooks in place: [`BARE`] until [`set_idle_hooks`].
static HOOKS: core::sync::atomic::AtomicPtr<IdleHooks> =
    core::sync::atomic::AtomicPtr::new(ptr::null_mut());

/// Puts the layers' idle hooks in place (once, at start-up).
pub fn set_idle_hooks(hooks: &'static IdleHooks) {
    HOOKS.store(ptr::from_ref(hooks).cast_mut(), Ordering::Release);
}

fn hooks() -> &'static IdleHooks {
    let hooks = HOOKS.load(Ordering::Acquire);
    if hooks.is_null() {
        &BARE
    } else {
        // SAFETY: only `set_idle_hooks` stores here, a `&'static`.
        unsafe { &*hooks }
    }
}

/// The most threads that can exist at once.
pub const MAX_THREADS: usize = 1024;

/// The CPUs threads run on: the VM's vCPUs (the C library's `sysconf`,
/// `sched_getaffinity` and `get_nprocs` all answer from here).
pub fn cpus() -> usize {
    platform::vcpu_count()
}

/// Nanoseconds the vCPUs have spent idle, waiting in the monitor because no
/// thread could run: the rest of their time since they started is the
/// program's CPU time.
static IDLE_NS: AtomicU64 = AtomicU64::new(0);

/// When each vCPU but the boot one started, plus one (ns since boot; 0:
/// not started). Counted from zero so the static is in `.bss`.
static STARTED_NS: [AtomicU64; MAX_VCPUS] = [const { AtomicU64::new(0) }; MAX_VCPUS];

/// The CPU time the program has used: the vCPUs' time since they started
/// less their time idle.
pub fn cpu_time() -> core::time::Duration {
    let now = Instant::now().as_nanos_since_boot();
    let busy: u64 = STARTED_NS
        .iter()
        .enumerate()
        .map(|(cpu, started)| match started.load(Ordering::Relaxed) {
            _ if cpu == 0 => now,
            0 => 0,
            started => now.saturating_sub(started - 1),
        })
        .sum();
    let idle = IDLE_NS.load(Ordering::Relaxed);
    core::time::Duration::from_nanos(busy.saturating_sub(idle))
}

/// The threads that exist now, the main one included (which exists
/// before the scheduler first records it).
pub fn thread_count() -> usize {
    let _section = NoPreempt::new();
    let s = lock();
    let count = s.count.max(1);
    unlock(s);
    count
}

/// The smallest stack a thread gets (glibc's `PTHREAD_STACK_MIN` on x86_64).
pub const MIN_STACK: usize = 16 * 1024;

/// Stacks are handed out in whole pages, 16-byte aligned at the top.
const STACK_ALIGN: usize = 4096;

/// The guard page at the bottom of each stack.
const GUARD: usize = 4096;

/// Freed stacks kept for reuse.
const STACK_CACHE: usize = 16;

/// The stack of a vCPU's idle context: the idle loop, the network poll
/// and console flushes run on it.
const IDLE_STACK: usize = 64 * 1024;

/// How long an idle vCPU looks for work before it blocks in the monitor,
/// while another vCPU runs threads (which may wake one for it): a wake
/// found by looking costs the waker no exit and the woken thread no host
/// wake-up (~70 us together on kvm_pvm hosts). Short, because looking
/// burns a host CPU that, with more vCPUs than free host CPUs, another
/// vCPU or the host's own work needs: 200 us (Linux's `haltpoll` default,
/// for hosts with CPUs to spare) cost tokio's HTTP serving on our 2-core
/// hosts ~10% of its throughput beside its load generator. With every vCPU
/// idle the wake can only come from outside (a timer, the network, stdin),
/// which the monitor delivers, so an idle vCPU then blocks at once.
const IDLE_POLL_NS: u64 = 50_000;

/// Threads in run queues, readable without the lock by idle vCPUs that
/// look for work.
static QUEUED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Written at the lowest word of every thread stack and checked at each
/// switch: a thread that overran its stack is reported, not left to corrupt
/// the heap further.
const STACK_CANARY: u64 = 0x4b49_4c4e_5354_4b21; // "KILNSTK!"

/// What a thread is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Spawned, not started yet.
    New,
    /// Ready to run: in a queue, or (`on_cpu`) woken before it slept.
    Ready,
    Running,
    /// Waiting for a wake on `key`, or for `deadline` (ns since boot).
    Waiting,
    Finished,
    /// A vCPU's idle context: never queued, never in the thread table.
    Idle,
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
    /// The next thread in its run queue.
    next: *mut Thread,
    /// Whether it is in a run queue.
    queued: bool,
    /// Its stack is in use on vCPU `cpu`: no other vCPU may switch to it.
    on_cpu: bool,
    /// The vCPU it last ran on.
    cpu: u32,
}

impl Thread {
    /// The thread's usable stack, above its guard page: lowest address and
    /// size (`None` for the main thread, whose stack the monitor set up).
    pub fn stack(&self) -> Option<(usize, usize)> {
        self.stack
            .map(|s| (s.usable() as usize, s.size - s.guard_size()))
    }

    fn new(state: State, id: u32, tp: u64, stack: Option<Stack>) -> Self {
        Self {
            rsp: 0,
            tp,
            state,
            id,
            stack,
            key: 0,
            deadline: u64::MAX,
            wake: Wake::Woken,
            joiner: ptr::null_mut(),
            detached: false,
            result: 0,
            preempt_depth: 0,
            name: ptr::null(),
            next: ptr::null_mut(),
            queued: false,
            on_cpu: false,
            cpu: 0,
        }
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
    /// The vCPUs on which the guard page's translation is known gone.
    guarded_on: u32,
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

/// A vCPU's queue of ready threads, linked through `Thread::next`.
#[derive(Clone, Copy)]
struct Queue {
    head: *mut Thread,
    tail: *mut Thread,
}

impl Queue {
    const EMPTY: Self = Self {
        head: ptr::null_mut(),
        tail: ptr::null_mut(),
    };

    /// # Safety
    /// `thread` is live and in no queue.
    unsafe fn push(&mut self, thread: *mut Thread) {
        QUEUED.fetch_add(1, Ordering::Relaxed);
        // SAFETY: per the caller; queued threads are live.
        unsafe {
            (*thread).next = ptr::null_mut();
            (*thread).queued = true;
            if self.tail.is_null() {
                self.head = thread;
            } else {
                (*self.tail).next = thread;
            }
        }
        self.tail = thread;
    }

    fn pop(&mut self) -> Option<*mut Thread> {
        let thread = self.head;
        if thread.is_null() {
            return None;
        }
        QUEUED.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: queued threads are live.
        unsafe {
            self.head = (*thread).next;
            (*thread).next = ptr::null_mut();
            (*thread).queued = false;
        }
        if self.head.is_null() {
            self.tail = ptr::null_mut();
        }
        Some(thread)
    }
}

struct Scheduler {
    threads: [*mut Thread; MAX_THREADS],
    count: usize,
    queues: [Queue; MAX_VCPUS],
    /// The thread each vCPU runs (its idle context while it idles).
    current: [*mut Thread; MAX_VCPUS],
    /// Each vCPU's idle context, made on its first idle.
    idle: [*mut Thread; MAX_VCPUS],
    /// The thread each vCPU is switching away from, for [`finish_switch`].
    previous: [*mut Thread; MAX_VCPUS],
    stacks: [Option<Stack>; STACK_CACHE],
    /// Thread ids handed out so far (the next is one more): counted from
    /// zero so the scheduler's static is all zeros, in `.bss`, not the image.
    ids_issued: u32,
    /// Releases a finished thread's thread pointer (its TLS block).
    reaper: Option<fn(u64)>,
    /// Makes a thread pointer for an idle context (0 when it cannot): the
    /// idle loop allocates (polling the network), and in a program on the
    /// C library every allocation finds its thread's record through `%fs`.
    maker: Option<fn() -> u64>,
    /// vCPUs idling in the monitor with nothing to run.
    idling: u32,
    /// vCPUs looking for work before they block (see [`IDLE_POLL_NS`]).
    polling: u32,
    /// vCPUs the program started besides the boot vCPU.
    started: u32,
    /// vCPUs that [`unlock`] must wake (work was queued for them).
    to_wake: u32,
    /// vCPUs that must arm their tick timer when they next unlock.
    to_arm: u32,
    /// Threads made ready so far: an idle vCPU that surveyed the threads,
    /// then let go of the lock, sees by it whether another vCPU woke one
    /// meanwhile.
    readied: u64,
}

struct Global {
    locked: AtomicBool,
    state: UnsafeCell<Scheduler>,
}

// SAFETY: the state is only reached through `lock`, which gives one vCPU at
// a time access, with preemption disabled.
unsafe impl Sync for Global {}

static SCHED: Global = Global {
    locked: AtomicBool::new(false),
    state: UnsafeCell::new(Scheduler {
        threads: [ptr::null_mut(); MAX_THREADS],
        count: 0,
        queues: [Queue::EMPTY; MAX_VCPUS],
        current: [ptr::null_mut(); MAX_VCPUS],
        idle: [ptr::null_mut(); MAX_VCPUS],
        previous: [ptr::null_mut(); MAX_VCPUS],
        stacks: [None; STACK_CACHE],
        ids_issued: 0,
        reaper: None,
        maker: None,
        idling: 0,
        polling: 0,
        started: 0,
        to_wake: 0,
        to_arm: 0,
        readied: 0,
    }),
};

/// Takes the scheduler's lock; the caller has preemption disabled and
/// gives the reference back to [`unlock`] (or hands the lock over through a
/// switch: see [`finish_switch`]).
#[allow(clippy::mut_from_ref)]
fn lock() -> &'static mut Scheduler {
    while SCHED
        .locked
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        let mut rounds = 0;
        while SCHED.locked.load(Ordering::Relaxed) {
            crate::preempt::spin_wait(&mut rounds);
        }
    }
    // SAFETY: the lock is held: no other vCPU uses the state until it is
    // released, and this vCPU's callers stop using their reference before
    // anything that takes its own (see `Global`).
    unsafe { &mut *SCHED.state.get() }
}

/// The state, for code that runs with the lock already held.
#[allow(clippy::mut_from_ref)]
fn locked() -> &'static mut Scheduler {
    // SAFETY: see `lock`; the caller holds the lock.
    unsafe { &mut *SCHED.state.get() }
}

/// Releases the lock, then wakes the vCPUs that were given work and arms
/// this vCPU's ticks if wanted (both exits to the monitor: never made with
/// the lock held).
fn unlock(s: &'static mut Scheduler) {
    let wake = core::mem::take(&mut s.to_wake);
    let cpu = platform::vcpu_index();
    let arm = s.to_arm & (1 << cpu) != 0;
    s.to_arm &= !(1 << cpu);
    SCHED.locked.store(false, Ordering::Release);
    for other in 0..MAX_VCPUS {
        if wake & (1 << other) != 0 {
            platform::wake_vcpu(other);
        }
    }
    if arm {
        preempt::set_wanted(true);
    }
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

/// The running thread, with the lock held (the main thread is registered
/// on first use).
fn current_locked(s: &mut Scheduler) -> *mut Thread {
    let cpu = platform::vcpu_index();
    if s.current[cpu].is_null() {
        // Only the boot vCPU runs before the scheduler's first use.
        let main = allocate(Thread::new(
            State::Running,
            s.ids_issued + 1,
            read_fs_base(),
            None,
        ));
        if main.is_null() {
            platform::report_panic(b"kiln: no memory for the main thread");
        }
        // SAFETY: the fresh record.
        unsafe {
            (*main).detached = true;
            (*main).on_cpu = true;
        }
        s.ids_issued += 1;
        s.threads[0] = main;
        s.count = 1;
        s.current[cpu] = main;
        platform::set_current_thread(1, ptr::null());
        publish_threads(s);
    }
    s.current[cpu]
}

/// Where a thread record keeps its name's address; 0 would say "no names".
const NAME_OFFSET: u16 = {
    let offset = core::mem::offset_of!(Thread, name);
    assert!(offset != 0 && offset <= u16::MAX as usize);
    offset as u16
};

/// Tells the monitor where the thread table is, for core files: a switched-
/// out thread's saved stack pointer points at the frame `kiln_switch`
/// pushes, which `kiln_abi::boot::ThreadTable` describes.
fn publish_threads(s: &Scheduler) {
    const _: () = assert!(size_of::<usize>() == 8 && size_of::<bool>() == 1);
    platform::publish_threads(kiln_abi::boot::ThreadTable {
        records: s.threads.as_ptr() as u64,
        count: &raw const s.count as u64,
        capacity: MAX_THREADS as u32,
        id_offset: core::mem::offset_of!(Thread, id) as u16,
        saved_rsp_offset: core::mem::offset_of!(Thread, rsp) as u16,
        thread_pointer_offset: core::mem::offset_of!(Thread, tp) as u16,
        running_offset: core::mem::offset_of!(Thread, on_cpu) as u16,
        name_offset: NAME_OFFSET,
        reserved: 0,
    });
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
        guarded_on: 1 << platform::vcpu_index(),
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

/// Sets the functions that make a thread pointer (a TLS block) for a
/// vCPU's idle context and release a finished thread's.
pub fn set_thread_pointers(make: fn() -> u64, release: fn(u64)) {
    let _section = NoPreempt::new();
    let s = lock();
    s.maker = Some(make);
    s.reaper = Some(release);
    unlock(s);
}

/// Makes a thread that will run `entry(arg)` on a fresh stack of
/// `stack_size` bytes, with `tp` as its thread pointer; it runs once
/// [`start`]ed. `entry` must not return: it ends with [`exit`]. Returns
/// null when memory or thread slots run out.
pub fn spawn(
    entry: extern "C" fn(usize) -> !,
    arg: usize,
    stack_size: usize,
    tp: u64,
) -> *mut Thread {
    let _section = NoPreempt::new();
    let s = lock();
    let thread = spawn_locked(s, entry, arg, stack_size, tp);
    unlock(s);
    thread
}

fn spawn_locked(
    s: &mut Scheduler,
    entry: extern "C" fn(usize) -> !,
    arg: usize,
    stack_size: usize,
    tp: u64,
) -> *mut Thread {
    current_locked(s);
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
    let thread = allocate(Thread::new(State::New, s.ids_issued + 1, tp, Some(stack)));
    if thread.is_null() {
        put_stack(s, stack);
        return ptr::null_mut();
    }
    // SAFETY: the fresh record; its stack is its own.
    unsafe {
        (*thread).rsp = initial_frame(&stack, entry as usize as u64, arg as u64);
        stack.usable().cast::<u64>().write(STACK_CANARY);
    }
    s.ids_issued += 1;
    s.threads[s.count] = thread;
    s.count += 1;
    thread
}

/// Writes the frame a first switch to a new context pops at the top of
/// `stack`, and returns the stack pointer to switch to: it restores MXCSR
/// and the x87 control word, pops six registers and returns into
/// `kiln_thread_start`, which calls `thread_begin(entry, arg)` from r12 and
/// r13. The two padding words leave rsp 16-byte aligned at that `call`, as
/// the ABI requires.
///
/// # Safety
/// `stack` is a fresh stack nothing else uses.
unsafe fn initial_frame(stack: &Stack, entry: u64, arg: u64) -> u64 {
    let top = stack.base.as_ptr() as u64 + stack.size as u64;
    let frame: [u64; 10] = [
        0x037f_0000_1f80, // MXCSR 0x1f80 and x87 control word 0x037f: the defaults
        0,                // r15
        0,                // r14
        arg,              // r13
        entry,            // r12
        0,                // rbx
        0,                // rbp
        kiln_thread_start as unsafe extern "C" fn() as usize as u64, // return address
        0,
        0,
    ];
    let rsp = top - size_of_val(&frame) as u64;
    // SAFETY: per the caller, the frame fills the top of a stack of ours.
    unsafe { ptr::copy_nonoverlapping(frame.as_ptr(), rsp as *mut u64, frame.len()) };
    rsp
}

/// Lets a thread from [`spawn`] run. The first thread started also starts
/// the VM's other vCPUs.
///
/// # Safety
/// `thread` must come from [`spawn`] and be started once.
pub unsafe fn start(thread: *mut Thread) {
    static VCPUS_STARTED: AtomicBool = AtomicBool::new(false);
    let _section = NoPreempt::new();
    let s = lock();
    // SAFETY: a live record from `spawn`, not started before.
    unsafe { make_ready(s, thread, Wake::Woken) };
    // From now on another thread can run: time slices start.
    preempt::set_handler(preempted);
    s.to_arm |= 1 << platform::vcpu_index();
    unlock(s);
    if !VCPUS_STARTED.swap(true, Ordering::Relaxed) {
        start_vcpus();
    }
}

/// Starts every vCPU but the boot one, each in its idle context.
fn start_vcpus() {
    for (cpu, started) in STARTED_NS.iter().enumerate().take(cpus()).skip(1) {
        let layout = Layout::from_size_align(IDLE_STACK, STACK_ALIGN).expect("a valid layout");
        // SAFETY: a non-zero-sized layout.
        let base = unsafe { HEAP.alloc(layout) };
        if base.is_null() {
            // Without memory for its stack the vCPU stays off: the
            // program runs on fewer, as it would with `--cpus` lower.
            return;
        }
        started.store(Instant::now().as_nanos_since_boot() + 1, Ordering::Relaxed);
        platform::start_vcpu(cpu, vcpu_main, base as u64 + IDLE_STACK as u64, cpu);
    }
}

/// A started vCPU's first Rust code: its boot stack becomes its idle context.
extern "C" fn vcpu_main(cpu: usize) -> ! {
    // Never dropped: the idle context always runs with preemption disabled.
    core::mem::forget(NoPreempt::new());
    let s = lock();
    let tp = s.maker.map_or(0, |make| make());
    let idle = allocate(Thread::new(State::Idle, 0, tp, None));
    if idle.is_null() {
        platform::report_panic(b"kiln: no memory for a vCPU's idle context");
    }
    if tp != 0 {
        // SAFETY: only sets this vCPU's %fs base; the monitor enables
        // FSGSBASE for images that use thread-local storage, the only ones
        // with a thread-pointer maker (the C library's).
        unsafe { core::arch::asm!("wrfsbase {}", in(reg) tp, options(nostack, preserves_flags)) };
    }
    // SAFETY: the fresh record.
    unsafe {
        (*idle).on_cpu = true;
        (*idle).cpu = cpu as u32;
    }
    s.idle[cpu] = idle;
    s.current[cpu] = idle;
    s.started |= 1 << cpu;
    platform::set_current_thread(0, ptr::null());
    idle_loop(cpu)
}

/// Marks `thread` (not running, or running but about to sleep) ready with
/// `why`, and finds it a vCPU: its own if it is still there, an idle one
/// (woken when the lock is released), else this vCPU's queue.
///
/// # Safety
/// `thread` is live; the lock is held.
unsafe fn make_ready(s: &mut Scheduler, thread: *mut Thread, why: Wake) {
    // SAFETY: per the caller.
    let t = unsafe { &mut *thread };
    t.state = State::Ready;
    t.wake = why;
    s.readied = s.readied.wrapping_add(1);
    let here = platform::vcpu_index();
    if t.on_cpu {
        // It announced a wait and has not slept yet, or is about to: it
        // sees it is ready on its own vCPU, which runs it (not idle).
        return;
    }
    // This vCPU when it idles itself (its idle context polled the network
    // stack, or a deadline passed): it runs the thread next, with no wake
    // and no move. Else a vCPU looking for work, which finds it without a
    // wake; one blocked in the monitor needs one.
    let polling = s.polling & !(1 << here);
    let idle = s.idling & !(1 << here);
    let running = s.current[here];
    // SAFETY: the running context's record is live.
    let here_idles = !running.is_null() && unsafe { (*running).state } == State::Idle;
    let target = if here_idles {
        here
    } else if (polling | idle) & (1 << t.cpu) != 0 {
        t.cpu as usize
    } else if polling != 0 {
        polling.trailing_zeros() as usize
    } else if idle != 0 {
        idle.trailing_zeros() as usize
    } else {
        here
    };
    // SAFETY: a ready thread that is in no queue (`queued` is false for
    // every state but Ready, and a Ready thread off its vCPU is queued once).
    unsafe { s.queues[target].push(thread) };
    if target == here {
        s.to_arm |= 1 << here;
    } else if s.idling & (1 << target) != 0 {
        s.idling &= !(1 << target);
        s.to_wake |= 1 << target;
    }
}

/// Lets other ready threads run.
pub fn yield_now() {
    let _section = NoPreempt::new();
    let s = lock();
    let me = current_locked(s);
    let cpu = platform::vcpu_index();
    // SAFETY: the running thread's own record, in no queue.
    unsafe {
        (*me).state = State::Ready;
        s.queues[cpu].push(me);
    }
    schedule(s, me);
    unlock(locked());
}

/// Announces that the running thread is about to wait for a wake on `key`
/// or `deadline` (ns since boot; `u64::MAX` for none): a wake from now on
/// counts. The caller then checks its condition and calls [`commit_wait`]
/// or [`cancel_wait`], with preemption disabled throughout (a tick in
/// between would make the waiting thread yield).
pub fn prepare_wait(key: usize, deadline: u64) {
    let _section = NoPreempt::new();
    let s = lock();
    let me = current_locked(s);
    mark_waiting(me, key, deadline);
    unlock(s);
}

/// Marks the running thread `me` as waiting for a wake on `key` or
/// `deadline`; it sleeps at its next [`schedule`]. The lock is held.
fn mark_waiting(me: *mut Thread, key: usize, deadline: u64) {
    // SAFETY: the running thread's own record, under the lock.
    unsafe {
        (*me).state = State::Waiting;
        (*me).key = key;
        (*me).deadline = deadline;
        (*me).wake = Wake::Woken;
    }
}

/// Sleeps after [`prepare_wait`] until woken or the deadline passes (at
/// once if a wake came since).
pub fn commit_wait() -> Wake {
    let _section = NoPreempt::new();
    let s = lock();
    let me = current_locked(s);
    schedule(s, me);
    // SAFETY: the running thread's own record; `schedule` returned when it
    // runs again, with the lock held.
    let why = unsafe { (*me).wake };
    unlock(locked());
    why
}

/// Takes back a [`prepare_wait`]: the condition was met after all. A wake
/// that came meanwhile is spent (the caller goes on to look again, as a
/// woken thread would).
pub fn cancel_wait() {
    let _section = NoPreempt::new();
    let s = lock();
    let me = current_locked(s);
    // SAFETY: the running thread's own record.
    unsafe { (*me).state = State::Running };
    unlock(s);
}

/// What one try of an operation that may have to wait came to.
pub enum Try<T> {
    /// It is done, with this result.
    Done(T),
    /// It must wait for a wake on `key` or `deadline` (ns since boot;
    /// `u64::MAX` for none), then try again.
    Wait {
        /// What its waker wakes.
        key: usize,
        /// When to try again regardless.
        deadline: u64,
    },
}

/// Tries `attempt` until it is done, sleeping between tries. A wake that
/// comes between a try and the sleep is not lost: after a try that must
/// wait, the thread announces its wait and tries once more before it
/// sleeps, so a wake before that second try is seen by it, and one after
/// finds the thread waiting.
pub fn until_done<T>(mut attempt: impl FnMut() -> Try<T>) -> T {
    let mut result = None;
    retry(&mut || match attempt() {
        Try::Done(done) => {
            result = Some(done);
            None
        }
        Try::Wait { key, deadline } => Some((key, deadline)),
    });
    result.expect("`retry` returns once an attempt is done")
}

/// [`until_done`]'s loop, once for every result type: `attempt` gives the
/// key and deadline to wait for, or `None` once it is done.
fn retry(attempt: &mut dyn FnMut() -> Option<(usize, u64)>) {
    while let Some((key, deadline)) = attempt() {
        let _section = NoPreempt::new();
        prepare_wait(key, deadline);
        if attempt().is_none() {
            cancel_wait();
            return;
        }
        commit_wait();
    }
}

/// Blocks the running thread until [`wake`] on `key` or `deadline` (ns
/// since boot; `u64::MAX` for none), if `still` holds when checked under
/// the scheduler's lock (which every [`wake`] takes). `still` must not
/// take the scheduler's lock (or any lock a waker holds while it wakes).
/// `None` if it did not hold.
pub fn wait_if(key: usize, deadline: u64, still: &dyn Fn() -> bool) -> Option<Wake> {
    let _section = NoPreempt::new();
    let s = lock();
    if !still() {
        unlock(s);
        return None;
    }
    let me = current_locked(s);
    mark_waiting(me, key, deadline);
    schedule(s, me);
    // SAFETY: as in `commit_wait`.
    let why = unsafe { (*me).wake };
    unlock(locked());
    Some(why)
}

/// Blocks the running thread until [`wake`] on `key` or `deadline` (ns
/// since boot; `u64::MAX` for none).
pub fn wait(key: usize, deadline: u64) -> Wake {
    wait_if(key, deadline, &|| true).unwrap_or(Wake::Woken)
}

/// Wakes up to `count` threads waiting on `key`; returns how many.
pub fn wake(key: usize, count: usize) -> usize {
    let _section = NoPreempt::new();
    let s = lock();
    let mut woken = 0;
    for i in 0..s.count {
        if woken == count {
            break;
        }
        let t = s.threads[i];
        // SAFETY: live thread records.
        unsafe {
            if (*t).state == State::Waiting && (*t).key == key {
                make_ready(s, t, Wake::Woken);
                woken += 1;
            }
        }
    }
    unlock(s);
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
    let s = lock();
    let me = current_locked(s);
    // SAFETY: the running thread's own record. Its joiner is woken once it
    // is off its vCPU (`finish_switch`): only then may its stack go.
    unsafe {
        (*me).result = result;
        (*me).state = State::Finished;
    }
    schedule(s, me);
    unreachable!("a finished thread is never scheduled again")
}

/// Waits for `thread` to finish, releases it, and returns its result.
///
/// # Safety
/// `thread` must come from [`spawn`], not be detached, and be joined once.
pub unsafe fn join(thread: *mut Thread) -> usize {
    let _section = NoPreempt::new();
    let s = lock();
    let me = current_locked(s);
    // SAFETY: per the caller, `thread` is live until released below; the
    // lock is held throughout, except inside `schedule`, which returns
    // with it held.
    unsafe {
        while (*thread).state != State::Finished || (*thread).on_cpu {
            (*thread).joiner = me;
            (*me).state = State::Waiting;
            (*me).key = thread as usize;
            (*me).deadline = u64::MAX;
            schedule(locked(), me);
        }
        let result = (*thread).result;
        release(locked(), thread);
        unlock(locked());
        result
    }
}

/// Says where `thread`'s name is kept, for crash reports.
///
/// # Safety
/// `thread` must come from [`spawn`]; `name` must stay readable for 16
/// bytes as long as the thread exists.
pub unsafe fn set_name_location(thread: *mut Thread, name: *const u8) {
    // SAFETY: per the caller, a live thread record; the name is read only
    // by switches to it, which come after `start`.
    unsafe { (*thread).name = name };
}

/// Lets `thread` release itself when it finishes.
///
/// # Safety
/// `thread` must come from [`spawn`] and not be joined afterwards.
pub unsafe fn detach(thread: *mut Thread) {
    let _section = NoPreempt::new();
    let s = lock();
    // SAFETY: per the caller.
    unsafe {
        if (*thread).state == State::Finished && !(*thread).on_cpu {
            release(s, thread);
        } else {
            (*thread).detached = true;
        }
    }
    unlock(locked());
}

/// Frees a finished thread's stack, record and thread pointer.
///
/// # Safety
/// `thread` is finished and off every vCPU; the lock is held.
unsafe fn release(s: &mut Scheduler, thread: *mut Thread) {
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

/// What a look over every thread found.
struct Survey {
    /// The earliest deadline of a waiting thread.
    earliest: u64,
    /// Some thread has not finished.
    live: bool,
    /// Some thread runs, is ready, or waits with a deadline: no deadlock.
    progress: bool,
}

/// Wakes the waiting threads whose deadline passed, releases finished
/// detached ones, and says what the rest are doing.
fn survey(s: &mut Scheduler) -> Survey {
    let now = Instant::now().as_nanos_since_boot();
    let mut found = Survey {
        earliest: u64::MAX,
        live: false,
        progress: false,
    };
    let mut i = 0;
    while i < s.count {
        let t = s.threads[i];
        // SAFETY: live thread records.
        unsafe {
            match (*t).state {
                State::Waiting if (*t).deadline <= now => {
                    make_ready(s, t, Wake::TimedOut);
                    found.live = true;
                    found.progress = true;
                }
                State::Waiting => {
                    found.live = true;
                    found.progress |= (*t).on_cpu || (*t).deadline != u64::MAX;
                    found.earliest = found.earliest.min((*t).deadline);
                }
                State::Finished if (*t).detached && !(*t).on_cpu => {
                    release(s, t);
                    // The last record moved into slot `i`: look at it next.
                    continue;
                }
                State::Finished | State::Idle => {}
                State::New | State::Ready | State::Running => {
                    found.live = true;
                    found.progress = true;
                }
            }
        }
        i += 1;
    }
    found
}

/// The next thread for vCPU `cpu`: from its own queue, else the oldest of
/// another vCPU's.
fn pick(s: &mut Scheduler, cpu: usize) -> Option<*mut Thread> {
    if let Some(next) = s.queues[cpu].pop() {
        return Some(next);
    }
    let cpus = cpus();
    (1..cpus).find_map(|i| s.queues[(cpu + i) % cpus].pop())
}

/// Gives vCPU `cpu` to the next thread that can run, `me` (the running
/// thread, whose state says whether it can) included; switches to the
/// vCPU's idle context when none can. Called and returns with the lock
/// held (returning when `me` runs again, maybe on another vCPU).
fn schedule(s: &'static mut Scheduler, me: *mut Thread) {
    let cpu = platform::vcpu_index();
    survey(s);
    // SAFETY: the running thread's own record.
    let (state, queued) = unsafe { ((*me).state, (*me).queued) };
    if state == State::Ready && !queued {
        // Woken after it announced its wait, before it slept.
        // SAFETY: as above.
        unsafe { (*me).state = State::Running };
        update_wanted(s, me);
        return;
    }
    let next = match pick(s, cpu) {
        Some(next) => next,
        None => idle_context(s, cpu),
    };
    if next == me {
        // SAFETY: as above.
        unsafe { (*me).state = State::Running };
        update_wanted(s, me);
        return;
    }
    switch(s, me, next);
}

/// vCPU `cpu`'s idle context, made on first use with a stack of its own.
fn idle_context(s: &mut Scheduler, cpu: usize) -> *mut Thread {
    if !s.idle[cpu].is_null() {
        return s.idle[cpu];
    }
    let layout = Layout::from_size_align(IDLE_STACK, STACK_ALIGN).expect("a valid layout");
    // SAFETY: a non-zero-sized layout.
    let base = NonNull::new(unsafe { HEAP.alloc(layout) });
    let tp = s.maker.map_or(0, |make| make());
    let idle = base.map_or(ptr::null_mut(), |base| {
        let stack = Stack {
            base,
            size: IDLE_STACK,
            guard_size: 0,
            guarded_on: 0,
        };
        let idle = allocate(Thread::new(State::Idle, 0, tp, None));
        if !idle.is_null() {
            // SAFETY: the fresh record and its fresh stack.
            unsafe {
                (*idle).rsp = initial_frame(&stack, idle_entry() as u64, cpu as u64);
                (*idle).preempt_depth = 1;
                (*idle).cpu = cpu as u32;
            }
        }
        idle
    });
    if idle.is_null() {
        platform::report_panic(b"kiln: no memory for a vCPU's idle context");
    }
    s.idle[cpu] = idle;
    idle
}

/// The address of [`idle_begin`], which [`thread_begin`] recognises.
fn idle_entry() -> usize {
    idle_begin as extern "C" fn(usize) -> ! as usize
}

/// The first code of an idle context made by [`idle_context`] (through
/// [`thread_begin`]).
extern "C" fn idle_begin(cpu: usize) -> ! {
    preempt::resume(1);
    idle_loop(cpu)
}

/// A vCPU with nothing to run: looks for a thread, and blocks in the
/// monitor until one may be ready. Entered with the lock held.
fn idle_loop(cpu: usize) -> ! {
    let me = locked().idle[cpu];
    // Whether this vCPU has looked for work since it last ran a thread.
    let mut polled = false;
    loop {
        let s = locked();
        let found = survey(s);
        if let Some(next) = pick(s, cpu) {
            switch(s, me, next);
            polled = false;
            continue;
        }
        preempt::set_wanted_quietly(false);
        // Nothing to run here: no ticks to arm.
        s.to_arm &= !(1 << cpu);
        if !found.live {
            // Every thread has ended, the main one included (it may end
            // first, through `pthread_exit`): the program ends as if it had
            // called `exit(0)`, as POSIX specifies (after the lock is
            // released: flushing output may wake pollers).
            unlock(s);
            (hooks().exit)(0);
        }
        let others_busy = (s.started | 1) & !(s.idling | s.polling | (1 << cpu)) != 0;
        let hooks = hooks();
        let network = (hooks.network_present)();
        if others_busy && !polled {
            polled = true;
            s.polling |= 1 << cpu;
            unlock(s);
            let now = Instant::now().as_nanos_since_boot();
            let until = found.earliest.min(now.saturating_add(IDLE_POLL_NS));
            let mut rounds = 0u32;
            while QUEUED.load(Ordering::Relaxed) == 0
                && Instant::now().as_nanos_since_boot() < until
            {
                rounds = rounds.wrapping_add(1);
                if network && rounds.is_multiple_of(64) && (hooks.frames_waiting)() {
                    (hooks.poll)();
                    break;
                }
                core::hint::spin_loop();
            }
            lock().polling &= !(1 << cpu);
            continue;
        }
        // Frames wake the last vCPU to idle only: while another runs
        // threads, it takes them in at its exits and socket calls.
        let last = (s.started | 1) & !(s.idling | s.polling | (1 << cpu)) == 0;
        s.idling |= 1 << cpu;
        let readied = s.readied;
        unlock(s);
        idle_once(&found, readied, last);
        polled = false;
        let s = lock();
        s.idling &= !(1 << cpu);
    }
}

/// One wait of an idle vCPU in the monitor, until the earliest deadline
/// `found` (by the survey taken when [`Scheduler::readied`] was `readied`)
/// or traffic (frames only for the `last` vCPU to idle). Reports a
/// deadlock when nothing could ever end it.
fn idle_once(found: &Survey, readied: u64, last: bool) {
    let hooks = hooks();
    // The network first: traffic that arrived may wake a thread, and
    // smoltcp's timers (retransmits, delayed ACKs) bound the block. With
    // a device, a wait without a deadline is not a deadlock: `Block`
    // also returns when a frame arrives.
    let network = (hooks.poll)();
    if network.woke {
        return;
    }
    let earliest = found.earliest.min(network.deadline);
    // A thread waiting for stdin: the monitor wakes the vCPU when it is
    // readable, so that wait is no deadlock either.
    let stdin = (hooks.stdin_watched)();
    if !found.progress && earliest == u64::MAX && !network.present && !stdin {
        if !still_deadlocked(readied) {
            return;
        }
        (hooks.flush_all)();
        platform::report_panic(b"deadlock: every thread is waiting, none with a timeout");
    }
    (hooks.flush)();
    let idle_from = Instant::now();
    use kiln_abi::hypercall::wait::{NETWORK, STDIN};
    let wait = if stdin { STDIN } else { 0 } | if last { NETWORK } else { 0 };
    if platform::block(earliest, wait) & STDIN != 0 {
        (hooks.stdin_ready)();
    }
    let idle = Instant::now().duration_since(idle_from).as_nanos() as u64;
    IDLE_NS.fetch_add(idle, Ordering::Relaxed);
}

/// Whether every thread still waits without a deadline and none was made
/// ready since the survey that counted `readied`: that survey was taken
/// before the lock was let go and the stack polled, and meanwhile another
/// vCPU may have woken a thread (its own poll of the stack brought the
/// frames a blocked `connect` and `accept` waited for), which went on to
/// wait again with a deadline.
fn still_deadlocked(readied: u64) -> bool {
    let s = lock();
    let found = survey(s);
    let stuck = s.readied == readied && !found.progress && found.earliest == u64::MAX;
    unlock(s);
    stuck
}

/// Sets this vCPU's ticks: wanted while another thread is ready, or waits
/// for something that can happen while `running` computes (a deadline, or
/// traffic from a network device once sockets exist; on the loopback alone
/// a waiter is woken by a running thread's own call).
fn update_wanted(s: &mut Scheduler, running: *mut Thread) {
    let network = (hooks().network_present)();
    let wanted = s.threads[..s.count].iter().any(|&t| {
        // SAFETY: live thread records.
        t != running
            && unsafe {
                ((*t).state == State::Ready && (*t).queued)
                    || ((*t).state == State::Waiting && ((*t).deadline != u64::MAX || network))
            }
    });
    if preempt::set_wanted_quietly(wanted) {
        s.to_arm |= 1 << platform::vcpu_index();
    }
}

/// The running thread's time slice is over (the platform's tick, with
/// preemption disabled): lets the other ready threads run first, among them
/// those the network stack wakes for traffic that arrived meanwhile (it is
/// otherwise polled only when a vCPU idles, or by socket calls).
fn preempted() {
    (hooks().poll)();
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

/// Switches vCPU `cpu` from `from` (the running context) to `to`, with the
/// lock held; returns, with the lock held, when `from` runs again.
fn switch(s: &'static mut Scheduler, from: *mut Thread, to: *mut Thread) {
    let cpu = platform::vcpu_index();
    // SAFETY: both are live records; `to` was suspended by `switch` or
    // prepared by `initial_frame`, so its stack holds the frame
    // kiln_switch pops, and it is on no vCPU (queued threads and idle
    // contexts never are).
    unsafe {
        let canary = (*from).stack.map(|s| s.usable().cast::<u64>());
        if canary.is_some_and(|c| c.read() != STACK_CANARY) {
            report_overflow((*from).id);
        }
        let idle = (*to).state == State::Idle;
        if !idle {
            (*to).state = State::Running;
        }
        (*to).on_cpu = true;
        (*to).cpu = cpu as u32;
        if let Some(stack) = (*to).stack.as_mut()
            && stack.guard_size > 0
            && stack.guarded_on & (1 << cpu) == 0
        {
            platform::set_page_present(stack.base.as_ptr() as u64, false);
            stack.guarded_on |= 1 << cpu;
        }
        s.current[cpu] = to;
        s.previous[cpu] = from;
        platform::set_current_thread(u64::from((*to).id), (*to).name);
        if idle {
            preempt::set_wanted_quietly(false);
        } else {
            update_wanted(s, to);
        }
        (*from).preempt_depth = preempt::depth();
        kiln_switch(&raw mut (*from).rsp, (*to).rsp, (*to).tp);
        // Running again, maybe on another vCPU, inside the switch of
        // whichever context gave way to this one.
        finish_switch();
        preempt::resume((*from).preempt_depth);
    }
}

/// The first thing a context does when switched to: the context it
/// replaced is now off this vCPU, its registers saved, so other vCPUs may
/// run it, and if it finished, its joiner may free its stack.
fn finish_switch() {
    let s = locked();
    let cpu = platform::vcpu_index();
    let previous = core::mem::replace(&mut s.previous[cpu], ptr::null_mut());
    if previous.is_null() {
        return;
    }
    // SAFETY: a live record (a finished one is released only once off its
    // vCPU, which is now); its joiner waits for it, so is live.
    unsafe {
        (*previous).on_cpu = false;
        let joiner = (*previous).joiner;
        if (*previous).state == State::Finished
            && !joiner.is_null()
            && (*joiner).state == State::Waiting
            && (*joiner).key == previous as usize
        {
            make_ready(s, joiner, Wake::Woken);
        }
    }
}

/// A new context's first Rust code, called by `kiln_thread_start` with the
/// lock held (handed over by the switch to it). A thread starts outside any
/// critical section (the context that switched to it was in one); an idle
/// context stays in one for good.
extern "C" fn thread_begin(entry: extern "C" fn(usize) -> !, arg: usize) -> ! {
    finish_switch();
    if entry as usize == idle_entry() {
        idle_begin(arg)
    }
    unlock(locked());
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
