//! The gateway's ephemeral ports, from which the forwarder reaches the
//! guest: one per forwarded TCP connection or UDP flow, never two at once.

/// The IANA dynamic range, as Linux's `ip_local_port_range` ends.
const FIRST: u16 = 49152;
const COUNT: usize = (u16::MAX - FIRST) as usize + 1;

/// Which ports of one protocol are taken.
pub struct EphemeralPorts {
    taken: Vec<bool>,
    /// Where the search for a free port starts: ports are handed out in
    /// turn, so a port just released is not reused at once (the guest may
    /// still hold that connection's last segments).
    next: usize,
}

impl Default for EphemeralPorts {
    fn default() -> Self {
        Self {
            taken: vec![false; COUNT],
            next: 0,
        }
    }
}

impl EphemeralPorts {
    /// A free port, now taken; `None` when all are.
    pub fn take(&mut self) -> Option<u16> {
        for step in 0..COUNT {
            let index = (self.next + step) % COUNT;
            if !self.taken[index] {
                self.taken[index] = true;
                self.next = (index + 1) % COUNT;
                return Some(FIRST + index as u16);
            }
        }
        None
    }

    /// Gives `port` back.
    pub fn release(&mut self, port: u16) {
        if let Some(taken) = port
            .checked_sub(FIRST)
            .and_then(|index| self.taken.get_mut(usize::from(index)))
        {
            *taken = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_go_round_and_are_never_handed_out_twice() {
        let mut ports = EphemeralPorts::default();
        assert_eq!(ports.take(), Some(FIRST));
        assert_eq!(ports.take(), Some(FIRST + 1));
        ports.release(FIRST);
        assert_eq!(ports.take(), Some(FIRST + 2), "not the one just freed");
        let mut count = 2; // FIRST + 1 and FIRST + 2
        while ports.take().is_some() {
            count += 1;
        }
        assert_eq!(count, COUNT, "every port once");
        ports.release(FIRST + 1);
        ports.release(7);
        assert_eq!(ports.take(), Some(FIRST + 1));
        assert_eq!(ports.take(), None);
    }
}
