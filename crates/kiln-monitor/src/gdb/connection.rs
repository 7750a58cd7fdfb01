//! gdb's socket (TCP from `kiln run --gdb`, or a Unix socket from `kiln
//! debug`'s relay), buffered both ways, with reads that give up when the VM
//! ends (nothing would ever resume it otherwise).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;

use gdbstub::conn::{Connection, ConnectionExt};

use crate::clock::host_now_ns;
use crate::vcpus::VcpuSet;

/// How long a wait lasts before it looks whether the VM ended.
pub const POLL_NS: u64 = 100_000_000;

/// Why the connection failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// gdb closed it.
    #[error("gdb closed the connection")]
    Closed,
    /// The VM ended while gdb's session waited for input.
    #[error("the guest ended")]
    VmEnded,
    /// A socket error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// A stream gdb's protocol can run on.
pub trait Stream: Read + Write + AsRawFd {}

impl<S: Read + Write + AsRawFd> Stream for S {}

/// One gdb connection.
pub struct GdbConnection<'a, S> {
    stream: S,
    input: VecDeque<u8>,
    output: Vec<u8>,
    vcpus: &'a VcpuSet,
}

impl<'a, S: Stream> GdbConnection<'a, S> {
    /// Serves gdb on `stream` for the VM of `vcpus`.
    pub fn new(stream: S, vcpus: &'a VcpuSet) -> Self {
        Self {
            stream,
            input: VecDeque::new(),
            output: Vec::new(),
            vcpus,
        }
    }

    /// The socket's descriptor, for a wait on it and something else.
    pub fn fd(&self) -> std::os::fd::RawFd {
        self.stream.as_raw_fd()
    }

    /// Whether input is buffered already.
    pub fn has_input(&self) -> bool {
        !self.input.is_empty()
    }

    /// Reads what the socket holds into the buffer (after a wait said it
    /// is readable).
    pub fn fill(&mut self) -> Result<(), ConnectionError> {
        let mut chunk = [0u8; 4096];
        let n = loop {
            match Read::read(&mut self.stream, &mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return Err(ConnectionError::Closed);
        }
        self.input.extend(&chunk[..n]);
        Ok(())
    }

    /// The next buffered byte.
    pub fn take(&mut self) -> Option<u8> {
        self.input.pop_front()
    }

    /// Waits until input is buffered or the VM ends.
    fn wait_for_input(&mut self) -> Result<(), ConnectionError> {
        while self.input.is_empty() {
            let deadline = host_now_ns(libc::CLOCK_MONOTONIC) + POLL_NS;
            if crate::wait::until([Some(self.fd())], deadline)[0] {
                self.fill()?;
            } else if self.vcpus.stopping() {
                return Err(ConnectionError::VmEnded);
            }
        }
        Ok(())
    }
}

impl<S: Stream> Connection for GdbConnection<'_, S> {
    type Error = ConnectionError;

    fn write(&mut self, byte: u8) -> Result<(), ConnectionError> {
        self.output.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), ConnectionError> {
        self.output.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), ConnectionError> {
        let result = Write::write_all(&mut self.stream, &self.output);
        self.output.clear();
        Ok(result?)
    }
}

impl<S: Stream> ConnectionExt for GdbConnection<'_, S> {
    fn read(&mut self) -> Result<u8, ConnectionError> {
        self.wait_for_input()?;
        self.take().ok_or(ConnectionError::Closed)
    }

    fn peek(&mut self) -> Result<Option<u8>, ConnectionError> {
        self.wait_for_input()?;
        Ok(self.input.front().copied())
    }
}
