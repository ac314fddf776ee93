//! The responder's stateless cookie: the server random, derived from a rotating secret.
//!
//! ```text
//! server random = HMAC-SHA256(cookie secret, "kcpq v1 cookie" || ip(16) || port(2)
//!                             || key id(4) || client random(32))
//! ```
//!
//! The IP is written as 16 bytes (IPv4 mapped into IPv6), the port big-endian. The server keeps
//! nothing after answering an Initiation: when the Finish comes back it recomputes the value from
//! the Finish's own fields and the sender's address and compares in constant time. So a cookie is
//! bound to the client's address:port, its random and its key id; a retransmitted Initiation gets
//! the identical Cookie; and nobody without the secret can produce a valid one.
//!
//! The secret of each period is derived from one master secret (32 bytes from the caller-seeded
//! CSPRNG, or given by the caller so that the workers of one server share it) and the period's
//! number, counted from `Instant::ZERO`:
//!
//! ```text
//! secret(period) = HMAC-SHA256(master, "kcpq v1 cookie secret" || period as u64 LE)
//! ```
//!
//! It changes every [`COOKIE_ROTATION`] (configurable in the responder configuration) and the
//! previous period's secret stays valid, so a cookie lives between one and two periods. Because
//! the secret depends only on the master and the clock, responders that share both (the workers
//! of one server, on one clock) issue and accept the same cookies whichever of them a handshake
//! datagram reaches.

use std::net::SocketAddr;
use std::time::Duration;

use hmac::Mac;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::Instant;
use crate::crypto::key::KeyId;
use crate::crypto::schedule::{HmacSha256, hmac};
use crate::crypto::wire::RANDOM_LEN;

/// Default cookie secret rotation period.
pub const COOKIE_ROTATION: Duration = Duration::from_secs(120);

const LABEL: &[u8] = b"kcpq v1 cookie";
const SECRET_LABEL: &[u8] = b"kcpq v1 cookie secret";

/// The master secret cookie secrets are derived from.
pub(crate) type CookieMaster = Zeroizing<[u8; 32]>;

pub(crate) struct CookieJar {
    master: HmacSha256,
    /// The current period's number and secret.
    current: (u64, HmacSha256),
    /// The previous period's secret.
    previous: HmacSha256,
    period: Duration,
}

impl CookieJar {
    pub(crate) fn new(master: &CookieMaster, now: Instant, period: Duration) -> Self {
        let master = hmac(&master[..]);
        let number = period_number(now, period);
        CookieJar {
            current: (number, secret_for(&master, number)),
            previous: secret_for(&master, number.wrapping_sub(1)),
            master,
            period,
        }
    }

    /// Moves to the period `now` falls in, if it is a new one.
    pub(crate) fn rotate(&mut self, now: Instant) {
        let number = period_number(now, self.period);
        if number == self.current.0 {
            return;
        }
        let previous = if number == self.current.0.wrapping_add(1) {
            self.current.1.clone()
        } else {
            secret_for(&self.master, number.wrapping_sub(1))
        };
        self.current = (number, secret_for(&self.master, number));
        self.previous = previous;
    }

    /// The server random for this client under the current secret.
    pub(crate) fn server_random(
        &self,
        from: SocketAddr,
        key_id: KeyId,
        client_random: &[u8; RANDOM_LEN],
    ) -> [u8; RANDOM_LEN] {
        derive(&self.current.1, from, key_id, client_random)
    }

    /// Whether `server_random` is what the current or previous secret gives for these inputs.
    pub(crate) fn verify(
        &self,
        from: SocketAddr,
        key_id: KeyId,
        client_random: &[u8; RANDOM_LEN],
        server_random: &[u8; RANDOM_LEN],
    ) -> bool {
        let current = derive(&self.current.1, from, key_id, client_random).ct_eq(server_random);
        let previous = derive(&self.previous, from, key_id, client_random).ct_eq(server_random);
        (current | previous).into()
    }
}

fn period_number(now: Instant, period: Duration) -> u64 {
    let period = period.as_micros().max(1);
    u64::try_from(u128::from(now.as_micros()) / period).unwrap_or(u64::MAX)
}

fn secret_for(master: &HmacSha256, number: u64) -> HmacSha256 {
    let mut mac = master.clone();
    mac.update(SECRET_LABEL);
    mac.update(&number.to_le_bytes());
    let mut secret = Zeroizing::new([0u8; 32]);
    secret.copy_from_slice(&mac.finalize().into_bytes());
    hmac(&secret[..])
}

fn derive(
    secret: &HmacSha256,
    from: SocketAddr,
    key_id: KeyId,
    client_random: &[u8; RANDOM_LEN],
) -> [u8; RANDOM_LEN] {
    let ip = match from {
        SocketAddr::V4(a) => a.ip().to_ipv6_mapped(),
        SocketAddr::V6(a) => *a.ip(),
    };
    let mut mac = secret.clone();
    mac.update(LABEL);
    mac.update(&ip.octets());
    mac.update(&from.port().to_be_bytes());
    mac.update(&key_id.0);
    mac.update(client_random);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn master(byte: u8) -> CookieMaster {
        Zeroizing::new([byte; 32])
    }

    #[test]
    fn bound_to_address_port_key_and_random() {
        let jar = CookieJar::new(&master(1), Instant::ZERO, COOKIE_ROTATION);
        let a = addr("127.0.0.1:5000");
        let k = KeyId([1; 4]);
        let sr = jar.server_random(a, k, &[2; 32]);
        assert_eq!(sr, jar.server_random(a, k, &[2; 32]), "deterministic");
        assert!(jar.verify(a, k, &[2; 32], &sr));
        assert!(!jar.verify(addr("127.0.0.1:5001"), k, &[2; 32], &sr));
        assert!(!jar.verify(addr("127.0.0.2:5000"), k, &[2; 32], &sr));
        assert!(!jar.verify(a, KeyId([2; 4]), &[2; 32], &sr));
        assert!(!jar.verify(a, k, &[3; 32], &sr));
        let other = CookieJar::new(&master(2), Instant::ZERO, COOKIE_ROTATION);
        assert!(!other.verify(a, k, &[2; 32], &sr), "another secret");
    }

    #[test]
    fn rotation_keeps_one_previous_secret() {
        let mut jar = CookieJar::new(&master(1), Instant::ZERO, COOKIE_ROTATION);
        let a = addr("[::1]:9");
        let k = KeyId([1; 4]);
        let sr = jar.server_random(a, k, &[2; 32]);
        jar.rotate(Instant::ZERO + COOKIE_ROTATION - Duration::from_micros(1));
        assert_eq!(jar.server_random(a, k, &[2; 32]), sr, "not yet rotated");
        jar.rotate(Instant::ZERO + COOKIE_ROTATION);
        assert_ne!(jar.server_random(a, k, &[2; 32]), sr);
        assert!(
            jar.verify(a, k, &[2; 32], &sr),
            "previous secret still valid"
        );
        jar.rotate(Instant::ZERO + COOKIE_ROTATION * 2);
        assert!(
            !jar.verify(a, k, &[2; 32], &sr),
            "two periods later it is gone"
        );
        let sr2 = jar.server_random(a, k, &[2; 32]);
        jar.rotate(Instant::ZERO + COOKIE_ROTATION * 5);
        assert!(
            !jar.verify(a, k, &[2; 32], &sr2),
            "a long jump forgets both"
        );
    }

    #[test]
    fn jars_sharing_a_master_agree_whenever_they_rotate() {
        let a = addr("10.0.0.7:4000");
        let k = KeyId([1; 4]);
        let mut early = CookieJar::new(&master(9), Instant::ZERO, COOKIE_ROTATION);
        // Made later, in the third period, never having seen the first two.
        let late = CookieJar::new(
            &master(9),
            Instant::ZERO + COOKIE_ROTATION * 2,
            COOKIE_ROTATION,
        );
        early.rotate(Instant::ZERO + COOKIE_ROTATION);
        let issued = early.server_random(a, k, &[5; 32]);
        assert!(
            late.verify(a, k, &[5; 32], &issued),
            "the previous period's cookie"
        );
        early.rotate(Instant::ZERO + COOKIE_ROTATION * 2 + Duration::from_secs(1));
        assert_eq!(
            early.server_random(a, k, &[5; 32]),
            late.server_random(a, k, &[5; 32])
        );
    }
}
