//! The responder's bounded table of half-open sessions: clients that proved the key (a valid
//! Finish) and whose first data packet has not arrived yet.
//!
//! Bounds (defaults in [`super::ResponderConfig`]): a global count, a count per client
//! address:port (not per IP: a benchmark opens 10 000 sessions from 127.0.0.1, each from its own
//! port), and a lifetime. When a bound is reached a new entry is refused and counted; existing
//! entries are never evicted for a newcomer. Only key holders can create entries at all (the
//! Finish must carry a valid proof), so refusing is the policy that keeps in-progress
//! handshakes intact. All maps are ordered (`BTreeMap`), so behaviour never depends on a hasher.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use super::messages::{ACCEPT_LEN, Hello, PROOF_LEN};
use crate::Instant;
use crate::crypto::packet::PacketProtection;
use crate::crypto::wire::{RANDOM_LEN, SessionId};

/// One half-open session.
pub(crate) struct HalfOpen {
    pub(crate) peer: SocketAddr,
    pub(crate) hello: Hello,
    pub(crate) client_proof: [u8; PROOF_LEN],
    /// The Accept sent, resent unchanged for a retransmitted Finish.
    pub(crate) accept: [u8; ACCEPT_LEN],
    pub(crate) expires: Instant,
    pub(crate) protection: PacketProtection,
}

/// Why an entry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    Global,
    PerAddress,
}

pub(crate) struct HalfOpenTable {
    by_id: BTreeMap<SessionId, HalfOpen>,
    by_client: BTreeMap<(SocketAddr, [u8; RANDOM_LEN]), SessionId>,
    by_expiry: BTreeSet<(Instant, SessionId)>,
    max_total: usize,
    max_per_addr: usize,
}

impl HalfOpenTable {
    pub(crate) fn new(max_total: usize, max_per_addr: usize) -> Self {
        HalfOpenTable {
            by_id: BTreeMap::new(),
            by_client: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            max_total,
            max_per_addr,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn contains(&self, id: SessionId) -> bool {
        self.by_id.contains_key(&id)
    }

    pub(crate) fn find_by_client(
        &self,
        peer: SocketAddr,
        client_random: &[u8; RANDOM_LEN],
    ) -> Option<&HalfOpen> {
        self.by_client
            .get(&(peer, *client_random))
            .and_then(|id| self.by_id.get(id))
    }

    fn count_for(&self, peer: SocketAddr) -> usize {
        self.by_client
            .range((peer, [0; RANDOM_LEN])..=(peer, [0xff; RANDOM_LEN]))
            .count()
    }

    /// Whether one more entry from `peer` fits.
    pub(crate) fn check_room(&self, peer: SocketAddr) -> Result<(), Full> {
        if self.by_id.len() >= self.max_total {
            return Err(Full::Global);
        }
        if self.count_for(peer) >= self.max_per_addr {
            return Err(Full::PerAddress);
        }
        Ok(())
    }

    /// Inserts an entry; the caller checked room with [`HalfOpenTable::check_room`] and chose a
    /// session id not in the table.
    pub(crate) fn insert(&mut self, id: SessionId, entry: HalfOpen) {
        debug_assert!(self.check_room(entry.peer).is_ok() && !self.contains(id));
        self.by_client
            .insert((entry.peer, entry.hello.client_random), id);
        self.by_expiry.insert((entry.expires, id));
        self.by_id.insert(id, entry);
    }

    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut HalfOpen> {
        self.by_id.get_mut(&id)
    }

    pub(crate) fn remove(&mut self, id: SessionId) -> Option<HalfOpen> {
        let entry = self.by_id.remove(&id)?;
        self.by_client
            .remove(&(entry.peer, entry.hello.client_random));
        self.by_expiry.remove(&(entry.expires, id));
        Some(entry)
    }

    /// Removes every entry whose lifetime ended at or before `now`; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> usize {
        let mut removed = 0;
        while let Some(&(expires, id)) = self.by_expiry.first() {
            if expires > now {
                break;
            }
            self.remove(id);
            removed += 1;
        }
        removed
    }

    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.by_expiry.first().map(|&(t, _)| t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::key::{Key, KeyId};
    use crate::crypto::packet::ProtectionConfig;
    use crate::crypto::schedule::Role;
    use std::time::Duration;

    fn entry(peer: &str, random: u8, expires_ms: u64) -> HalfOpen {
        HalfOpen {
            peer: peer.parse().unwrap(),
            hello: Hello {
                key_id: KeyId([0; 4]),
                client_random: [random; 32],
                server_random: [0; 32],
            },
            client_proof: [0; 32],
            accept: [0; ACCEPT_LEN],
            expires: Instant::from_millis(expires_ms),
            protection: PacketProtection::from_handshake(
                Role::Responder,
                &Key::from_bytes([1; 32]),
                &[random; 32],
                &[0; 32],
                SessionId([random; 8]),
                ProtectionConfig::default(),
            ),
        }
    }

    #[test]
    fn bounds_per_address_and_global_then_expiry() {
        let mut t = HalfOpenTable::new(5, 2);
        let a = "127.0.0.1:1000";
        t.insert(SessionId([1; 8]), entry(a, 1, 100));
        t.insert(SessionId([2; 8]), entry(a, 2, 50));
        assert_eq!(t.check_room(a.parse().unwrap()), Err(Full::PerAddress));
        assert_eq!(
            t.check_room("127.0.0.1:1001".parse().unwrap()),
            Ok(()),
            "per port, not per IP"
        );
        for (i, port) in (3..6).zip(2000..) {
            let peer = format!("127.0.0.1:{port}");
            t.check_room(peer.parse().unwrap()).unwrap();
            t.insert(SessionId([i; 8]), entry(&peer, i, 200));
        }
        assert_eq!(
            t.check_room("10.0.0.1:1".parse().unwrap()),
            Err(Full::Global)
        );
        assert!(t.find_by_client(a.parse().unwrap(), &[2; 32]).is_some());
        assert_eq!(t.next_expiry(), Some(Instant::from_millis(50)));
        assert_eq!(t.expire(Instant::from_millis(49)), 0);
        assert_eq!(t.expire(Instant::from_millis(50)), 1);
        assert!(t.find_by_client(a.parse().unwrap(), &[2; 32]).is_none());
        assert_eq!(t.check_room(a.parse().unwrap()), Ok(()));
        assert!(t.remove(SessionId([1; 8])).is_some());
        assert!(t.remove(SessionId([1; 8])).is_none());
        assert_eq!(
            t.expire(Instant::from_millis(0) + Duration::from_secs(1)),
            3
        );
        assert_eq!(t.len(), 0);
        assert_eq!(t.next_expiry(), None);
    }
}
