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
//! The secret (32 bytes from the caller-seeded CSPRNG) rotates every [`COOKIE_ROTATION`] (configurable in the
//! responder configuration); the previous secret stays valid for one more
//! period, so a cookie lives between one and two periods (the time bucket). A responder that jumps
//! forward by two periods or more forgets both.

use std::net::SocketAddr;
use std::time::Duration;

use hmac::Mac;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::Instant;
use crate::crypto::key::KeyId;
use crate::crypto::schedule::{HmacSha256, hmac};
use crate::crypto::wire::RANDOM_LEN;
use crate::rng::Rng;

/// Default cookie secret rotation period.
pub const COOKIE_ROTATION: Duration = Duration::from_secs(120);

const LABEL: &[u8] = b"kcpq v1 cookie";

pub(crate) struct CookieJar {
    current: HmacSha256,
    previous: Option<HmacSha256>,
    rotated_at: Instant,
    period: Duration,
}

impl CookieJar {
    pub(crate) fn new(rng: &mut Rng, now: Instant, period: Duration) -> Self {
        CookieJar {
            current: fresh(rng),
            previous: None,
            rotated_at: now,
            period,
        }
    }

    /// Rotates the secret if a period has passed.
    pub(crate) fn rotate(&mut self, rng: &mut Rng, now: Instant) {
        let age = now.saturating_duration_since(self.rotated_at);
        if age < self.period {
            return;
        }
        let old = std::mem::replace(&mut self.current, fresh(rng));
        self.previous = (age < self.period.saturating_mul(2)).then_some(old);
        self.rotated_at = now;
    }

    /// The server random for this client under the current secret.
    pub(crate) fn server_random(
        &self,
        from: SocketAddr,
        key_id: KeyId,
        client_random: &[u8; RANDOM_LEN],
    ) -> [u8; RANDOM_LEN] {
        derive(&self.current, from, key_id, client_random)
    }

    /// Whether `server_random` is what the current or previous secret gives for these inputs.
    pub(crate) fn verify(
        &self,
        from: SocketAddr,
        key_id: KeyId,
        client_random: &[u8; RANDOM_LEN],
        server_random: &[u8; RANDOM_LEN],
    ) -> bool {
        let mut ok = derive(&self.current, from, key_id, client_random).ct_eq(server_random);
        if let Some(prev) = &self.previous {
            ok |= derive(prev, from, key_id, client_random).ct_eq(server_random);
        }
        ok.into()
    }
}

fn fresh(rng: &mut Rng) -> HmacSha256 {
    let secret = Zeroizing::new(rng.bytes::<32>());
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

    #[test]
    fn bound_to_address_port_key_and_random() {
        let mut rng = Rng::from_seed([1; 32]);
        let jar = CookieJar::new(&mut rng, Instant::ZERO, COOKIE_ROTATION);
        let a = addr("127.0.0.1:5000");
        let k = KeyId([1; 4]);
        let sr = jar.server_random(a, k, &[2; 32]);
        assert_eq!(sr, jar.server_random(a, k, &[2; 32]), "deterministic");
        assert!(jar.verify(a, k, &[2; 32], &sr));
        assert!(!jar.verify(addr("127.0.0.1:5001"), k, &[2; 32], &sr));
        assert!(!jar.verify(addr("127.0.0.2:5000"), k, &[2; 32], &sr));
        assert!(!jar.verify(a, KeyId([2; 4]), &[2; 32], &sr));
        assert!(!jar.verify(a, k, &[3; 32], &sr));
        let other = CookieJar::new(&mut Rng::from_seed([2; 32]), Instant::ZERO, COOKIE_ROTATION);
        assert!(!other.verify(a, k, &[2; 32], &sr), "another secret");
    }

    #[test]
    fn rotation_keeps_one_previous_secret() {
        let mut rng = Rng::from_seed([1; 32]);
        let mut jar = CookieJar::new(&mut rng, Instant::ZERO, COOKIE_ROTATION);
        let a = addr("[::1]:9");
        let k = KeyId([1; 4]);
        let sr = jar.server_random(a, k, &[2; 32]);
        jar.rotate(
            &mut rng,
            Instant::ZERO + COOKIE_ROTATION - Duration::from_micros(1),
        );
        assert_eq!(jar.server_random(a, k, &[2; 32]), sr, "not yet rotated");
        jar.rotate(&mut rng, Instant::ZERO + COOKIE_ROTATION);
        assert_ne!(jar.server_random(a, k, &[2; 32]), sr);
        assert!(
            jar.verify(a, k, &[2; 32], &sr),
            "previous secret still valid"
        );
        jar.rotate(&mut rng, Instant::ZERO + COOKIE_ROTATION * 2);
        assert!(
            !jar.verify(a, k, &[2; 32], &sr),
            "two periods later it is gone"
        );
        let sr2 = jar.server_random(a, k, &[2; 32]);
        jar.rotate(&mut rng, Instant::ZERO + COOKIE_ROTATION * 5);
        assert!(
            !jar.verify(a, k, &[2; 32], &sr2),
            "a long jump forgets both"
        );
    }
}
