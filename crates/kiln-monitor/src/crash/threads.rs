//! The guest's switched-out threads, found through the thread table its
//! scheduler publishes (`kiln_abi::boot::ThreadTable`), for core files.
//!
//! Everything here comes from guest memory, which a hostile or broken guest
//! controls: every address goes through the memory's bounds checks, offset
//! arithmetic is checked, and the walk is bounded by [`MAX_THREADS`], so a
//! table full of lies yields wrong or no threads, never a monitor fault.

use kiln_abi::boot::{SWITCH_FRAME_WORDS, ThreadTable};

use super::unwind::Registers;
use crate::core_dump::CoreThread;
use crate::memory::GuestMemory;

/// The most threads read from the table, whatever it claims.
const MAX_THREADS: u64 = 4096;

/// The threads in `table` that are not running on a vCPU, with the
/// registers their last switch saved.
pub fn switched_out(memory: &GuestMemory, table: &ThreadTable) -> Vec<CoreThread> {
    let word = |addr: u64| memory.read_obj::<u64>(addr).ok();
    let count = word(table.count)
        .unwrap_or(0)
        .min(u64::from(table.capacity))
        .min(MAX_THREADS);
    (0..count)
        .filter_map(|i| word(table.records.checked_add(i * 8)?))
        .filter_map(|record| thread(memory, table, record))
        .collect()
}

/// One thread record, if it is switched out and its frame is readable.
fn thread(memory: &GuestMemory, table: &ThreadTable, record: u64) -> Option<CoreThread> {
    let field = |offset: u16| record.checked_add(u64::from(offset));
    let running: u8 = memory.read_obj(field(table.running_offset)?).ok()?;
    if running != 0 {
        return None;
    }
    let id: u32 = memory.read_obj(field(table.id_offset)?).ok()?;
    let saved_rsp: u64 = memory.read_obj(field(table.saved_rsp_offset)?).ok()?;
    let fs_base: u64 = memory.read_obj(field(table.thread_pointer_offset)?).ok()?;
    let frame: [u64; SWITCH_FRAME_WORDS as usize] = memory.read_obj(saved_rsp).ok()?;
    let name = match table.name_offset {
        0 => None,
        offset => memory
            .read_obj::<u64>(field(offset)?)
            .ok()
            .and_then(|at| name_at(memory, at)),
    };
    Some(CoreThread {
        id: u64::from(id),
        name,
        registers: Registers {
            r15: frame[1],
            r14: frame[2],
            r13: frame[3],
            r12: frame[4],
            rbx: frame[5],
            rbp: frame[6],
            rip: frame[7],
            rsp: saved_rsp.checked_add(SWITCH_FRAME_WORDS * 8)?,
            ..Registers::default()
        },
        fs_base,
    })
}

/// A thread's name at `address` in guest memory: at most
/// `THREAD_NAME_MAX` bytes up to a NUL (none if `address` is 0, unreadable
/// or the name empty; whoever prints it escapes it).
pub fn name_at(memory: &GuestMemory, address: u64) -> Option<String> {
    let mut bytes = [0u8; kiln_abi::boot::THREAD_NAME_MAX as usize];
    if address == 0 || memory.read_exact(address, &mut bytes).is_err() {
        return None;
    }
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Some(String::from_utf8_lossy(&bytes[..len]).into_owned()).filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: u64 = 0x1000;
    const COUNT: u64 = 0x2000;
    const RECORD: u64 = 0x3000;
    const STACK: u64 = 0x4000;
    const NAME: u64 = 0x5000;

    fn memory() -> GuestMemory {
        GuestMemory::new(2 << 20, 2 << 20).expect("guest memory")
    }

    fn table() -> ThreadTable {
        ThreadTable {
            records: TABLE,
            count: COUNT,
            capacity: 4,
            id_offset: 0,
            saved_rsp_offset: 8,
            thread_pointer_offset: 16,
            running_offset: 24,
            name_offset: 32,
            reserved: 0,
        }
    }

    #[test]
    fn a_switched_out_thread_gets_the_registers_its_switch_saved() {
        let memory = memory();
        memory
            .write_obj([RECORD, RECORD + 0x100], TABLE)
            .expect("inside guest memory");
        memory.write_obj(2u64, COUNT).expect("inside guest memory");
        // Thread 7, switched out, named; thread 8, running (left to its vCPU).
        memory
            .write_obj([7u64, STACK, 0x7000, 0, NAME], RECORD)
            .expect("inside guest memory");
        memory
            .write_obj(*b"worker\0", NAME)
            .expect("inside guest memory");
        memory
            .write_obj([8u64, STACK, 0x8000, 1, 0], RECORD + 0x100)
            .expect("inside guest memory");
        memory
            .write_obj([0u64, 15, 14, 13, 12, 0xb, 0xbb, 0x1234], STACK)
            .expect("inside guest memory");
        let threads = switched_out(&memory, &table());
        assert_eq!(threads.len(), 1);
        let t = &threads[0];
        assert_eq!((t.id, t.fs_base), (7, 0x7000));
        assert_eq!(t.name.as_deref(), Some("worker"));
        let r = &t.registers;
        assert_eq!((r.r15, r.r12, r.rbx, r.rbp), (15, 12, 0xb, 0xbb));
        assert_eq!((r.rip, r.rsp), (0x1234, STACK + 64));
    }

    #[test]
    fn a_lying_table_gives_no_threads_and_no_fault() {
        let memory = memory();
        for lie in [
            ThreadTable {
                count: u64::MAX - 3,
                ..table()
            },
            ThreadTable {
                records: u64::MAX - 8,
                capacity: u32::MAX,
                ..table()
            },
            ThreadTable {
                id_offset: u16::MAX,
                saved_rsp_offset: u16::MAX,
                ..table()
            },
        ] {
            memory
                .write_obj(u64::MAX, COUNT)
                .expect("inside guest memory");
            memory
                .write_obj([u64::MAX - 4, 0x1f_fff0], TABLE)
                .expect("inside guest memory");
            assert!(switched_out(&memory, &lie).len() <= 2);
        }
        // A record whose saved stack pointer is outside memory.
        memory
            .write_obj([RECORD, 0], TABLE)
            .expect("inside guest memory");
        memory.write_obj(1u64, COUNT).expect("inside guest memory");
        memory
            .write_obj([7u64, u64::MAX - 16, 0, 0], RECORD)
            .expect("inside guest memory");
        assert!(switched_out(&memory, &table()).is_empty());
    }
}
