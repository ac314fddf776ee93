//! The key schedule: every key KCPQ uses, derived with HKDF-SHA256 (RFC 5869) from the PSK.
//!
//! ```text
//! psk_prk        = HKDF-Extract(salt = "kcpq v1 psk", IKM = PSK)
//! K_handshake    = HKDF-Expand(psk_prk, "kcpq v1 handshake mac", 32)   handshake proofs
//! K_reset        = HKDF-Expand(psk_prk, "kcpq v1 reset", 32)           stateless reset tokens
//!
//! session_prk    = HKDF-Extract(salt = "kcpq v1 session" || client_random(32)
//!                                      || server_random(32) || session_id(8), IKM = PSK)
//! secret_c2s[0]  = HKDF-Expand(session_prk, "kcpq v1 c2s traffic", 32)
//! secret_s2c[0]  = HKDF-Expand(session_prk, "kcpq v1 s2c traffic", 32)
//!
//! for each direction and key phase n:
//! K_enc[n]       = HKDF-Expand(secret[n], "kcpq v1 enc", 32)    AES-256-CTR key
//! K_mac[n]       = HKDF-Expand(secret[n], "kcpq v1 mac", 32)    HMAC-SHA256 key
//! IV[n]          = HKDF-Expand(secret[n], "kcpq v1 iv", 4)      CTR IV prefix
//! secret[n + 1]  = HKDF-Expand(secret[n], "kcpq v1 ratchet", 32) one-way rekey ratchet
//! ```
//!
//! The cookie secret is not derived from the PSK: it is random (from the caller-seeded CSPRNG)
//! and rotates, so cookies are worthless to anyone but the responder that issued them.
//! The key id is `HMAC-SHA256(PSK, "kcpq v1 key id")[..4]` (see [`super::key`]).

use aes::Aes256Enc;
use ctr::CtrCore;
use ctr::flavors::Ctr32BE;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit};
use kcpq_mac::HmacKey;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::key::{Key, KeyId};
use super::wire::{RANDOM_LEN, SESSION_ID_LEN, SessionId};

/// HMAC-SHA256, the only MAC used.
pub(crate) type HmacSha256 = Hmac<Sha256>;
/// AES-256 in CTR mode with a 32-bit big-endian block counter in the last 4 IV bytes.
pub(crate) type Aes256Ctr32 = CtrCore<Aes256Enc, Ctr32BE>;

/// Length of every derived secret and key.
pub(crate) const SECRET_LEN: usize = 32;
/// Length of the per-direction CTR IV prefix.
pub(crate) const IV_LEN: usize = 4;

const PSK_SALT: &[u8] = b"kcpq v1 psk";
const SESSION_SALT: &[u8] = b"kcpq v1 session";
const LABEL_HANDSHAKE: &[u8] = b"kcpq v1 handshake mac";
const LABEL_RESET: &[u8] = b"kcpq v1 reset";
const LABEL_C2S: &[u8] = b"kcpq v1 c2s traffic";
const LABEL_S2C: &[u8] = b"kcpq v1 s2c traffic";
const LABEL_ENC: &[u8] = b"kcpq v1 enc";
const LABEL_MAC: &[u8] = b"kcpq v1 mac";
const LABEL_IV: &[u8] = b"kcpq v1 iv";
const LABEL_RATCHET: &[u8] = b"kcpq v1 ratchet";

/// Which end of a session this is. The initiator (client) sends c2s and receives s2c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that starts the handshake (the client).
    Initiator,
    /// The side that answers it (the server).
    Responder,
}

/// HMAC-SHA256 keyed with `key`.
pub(crate) fn hmac(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// HKDF-Expand from a 32-byte pseudorandom key.
pub(crate) fn expand(prk: &[u8; SECRET_LEN], info: &[u8], okm: &mut [u8]) {
    Hkdf::<Sha256>::from_prk(prk)
        .expect("a 32-byte PRK is the SHA-256 output size")
        .expand(info, okm)
        .expect("output lengths used here are far below the HKDF limit");
}

/// Keys derived from one PSK that do not depend on a session.
#[derive(Clone)]
pub(crate) struct PskSecrets {
    pub(crate) id: KeyId,
    /// Pre-keyed HMAC for handshake proofs.
    pub(crate) handshake_mac: HmacSha256,
    /// Pre-keyed HMAC for stateless reset tokens.
    pub(crate) reset_mac: HmacSha256,
    psk: Zeroizing<[u8; SECRET_LEN]>,
}

impl PskSecrets {
    pub(crate) fn new(key: &Key) -> Self {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(PSK_SALT), key.secret());
        let mut prk_bytes = Zeroizing::new([0u8; SECRET_LEN]);
        prk_bytes.copy_from_slice(&prk);
        let mut k_hs = Zeroizing::new([0u8; SECRET_LEN]);
        expand(&prk_bytes, LABEL_HANDSHAKE, &mut k_hs[..]);
        let mut k_reset = Zeroizing::new([0u8; SECRET_LEN]);
        expand(&prk_bytes, LABEL_RESET, &mut k_reset[..]);
        PskSecrets {
            id: key.id(),
            handshake_mac: hmac(&k_hs[..]),
            reset_mac: hmac(&k_reset[..]),
            psk: Zeroizing::new(*key.secret()),
        }
    }

    /// The initial traffic secrets `(c2s, s2c)` of a session.
    pub(crate) fn session_secrets(
        &self,
        client_random: &[u8; RANDOM_LEN],
        server_random: &[u8; RANDOM_LEN],
        session_id: SessionId,
    ) -> (TrafficSecret, TrafficSecret) {
        let mut salt = [0u8; SESSION_SALT.len() + 2 * RANDOM_LEN + SESSION_ID_LEN];
        let (label, rest) = salt.split_at_mut(SESSION_SALT.len());
        label.copy_from_slice(SESSION_SALT);
        rest[..RANDOM_LEN].copy_from_slice(client_random);
        rest[RANDOM_LEN..2 * RANDOM_LEN].copy_from_slice(server_random);
        rest[2 * RANDOM_LEN..].copy_from_slice(&session_id.0);
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&salt), &self.psk[..]);
        let mut prk_bytes = Zeroizing::new([0u8; SECRET_LEN]);
        prk_bytes.copy_from_slice(&prk);
        let mut c2s = TrafficSecret(Zeroizing::new([0u8; SECRET_LEN]));
        expand(&prk_bytes, LABEL_C2S, &mut c2s.0[..]);
        let mut s2c = TrafficSecret(Zeroizing::new([0u8; SECRET_LEN]));
        expand(&prk_bytes, LABEL_S2C, &mut s2c.0[..]);
        (c2s, s2c)
    }
}

/// The secret one direction's keys of one key phase come from.
pub(crate) struct TrafficSecret(Zeroizing<[u8; SECRET_LEN]>);

impl TrafficSecret {
    /// The next phase's secret (one-way: the old secret cannot be recomputed from it).
    pub(crate) fn ratchet(&self) -> TrafficSecret {
        let mut next = TrafficSecret(Zeroizing::new([0u8; SECRET_LEN]));
        expand(&self.0, LABEL_RATCHET, &mut next.0[..]);
        next
    }

    /// The encryption key, MAC key and IV of this phase.
    pub(crate) fn keys(&self) -> DirectionKeys {
        let mut enc = Zeroizing::new([0u8; SECRET_LEN]);
        expand(&self.0, LABEL_ENC, &mut enc[..]);
        let mut mac = Zeroizing::new([0u8; SECRET_LEN]);
        expand(&self.0, LABEL_MAC, &mut mac[..]);
        let mut iv = [0u8; IV_LEN];
        expand(&self.0, LABEL_IV, &mut iv);
        DirectionKeys {
            aes: <Aes256Enc as KeyInit>::new_from_slice(&enc[..])
                .expect("a 32-byte key is the AES-256 key size"),
            mac: HmacKey::new(&mac[..]),
            iv,
        }
    }
}

/// HKDF-Expand from a traffic secret, for tests that recompute keys independently.
#[cfg(test)]
pub(crate) fn expand_for_test(secret: &TrafficSecret, label: &[u8], okm: &mut [u8]) {
    expand(&secret.0, label, okm);
}

/// Expanded keys of one direction and phase, cached so the hot path only clones them.
///
/// `Aes256Enc` and `HmacKey` wipe themselves on drop (the `zeroize` feature of `aes`;
/// `kcpq-mac` always). The MAC is `kcpq_mac`'s, which can tag several packets at once.
#[derive(Clone)]
pub(crate) struct DirectionKeys {
    pub(crate) aes: Aes256Enc,
    pub(crate) mac: HmacKey,
    pub(crate) iv: [u8; IV_LEN],
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::Mac;

    fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) {
        Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, okm)
            .unwrap();
    }

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 5869 appendix A, test cases 1-3 (HKDF-SHA256).
    #[test]
    fn hkdf_rfc5869_vectors() {
        struct Case {
            ikm: Vec<u8>,
            salt: Vec<u8>,
            info: Vec<u8>,
            prk: &'static str,
            okm: &'static str,
        }
        let cases = [
            Case {
                ikm: vec![0x0b; 22],
                salt: (0x00..=0x0c).collect(),
                info: (0xf0..=0xf9).collect(),
                prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
                okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf
                      34007208d5b887185865",
            },
            Case {
                ikm: (0x00..=0x4f).collect(),
                salt: (0x60..=0xaf).collect(),
                info: (0xb0..=0xff).collect(),
                prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
                okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c
                      59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71
                      cc30c58179ec3e87c14c01d5c1f3434f1d87",
            },
            Case {
                ikm: vec![0x0b; 22],
                salt: vec![],
                info: vec![],
                prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
                okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d
                      9d201395faa4b61a96c8",
            },
        ];
        for case in cases {
            let expected = unhex(case.okm);
            let mut okm = vec![0u8; expected.len()];
            hkdf(&case.salt, &case.ikm, &case.info, &mut okm);
            assert_eq!(okm, expected);
            // The two-step path used by the schedule (extract, then expand from the PRK).
            let (prk, _) = Hkdf::<Sha256>::extract(Some(&case.salt), &case.ikm);
            assert_eq!(prk[..], unhex(case.prk)[..]);
            let prk: [u8; 32] = prk.into();
            let mut okm2 = vec![0u8; expected.len()];
            expand(&prk, &case.info, &mut okm2);
            assert_eq!(okm2, expected);
        }
    }

    /// RFC 4231 section 4, test cases 1-7 (HMAC-SHA256; case 5 is the 128-bit truncation).
    #[test]
    fn hmac_rfc4231_vectors() {
        let long_key = vec![0xaa; 131];
        let cases: [(Vec<u8>, Vec<u8>, &str); 7] = [
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                (0x01..=0x19).collect(),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (vec![0x0c; 20], b"Test With Truncation".to_vec(), "a3b6167473100ee06e0c796c2955552b"),
            (
                long_key.clone(),
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                long_key,
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, expected) in cases {
            let expected = unhex(expected);
            let mut mac = hmac(&key);
            mac.update(&data);
            let tag = mac.clone().finalize().into_bytes();
            assert_eq!(tag[..expected.len()], expected[..]);
            // The constant-time truncated check the packet opener uses.
            assert!(mac.clone().verify_truncated_left(&expected[..16]).is_ok());
            let mut wrong = expected.clone();
            wrong[0] ^= 1;
            assert!(mac.verify_truncated_left(&wrong[..16]).is_err());
        }
    }

    #[test]
    fn directions_phases_and_sessions_get_distinct_keys() {
        let key = Key::from_bytes([7; 32]);
        let psk = PskSecrets::new(&key);
        let (c2s, s2c) = psk.session_secrets(&[1; 32], &[2; 32], SessionId([3; 8]));
        let (c2s_other, _) = psk.session_secrets(&[1; 32], &[2; 32], SessionId([4; 8]));
        let next = c2s.ratchet();
        let all = [&c2s.0, &s2c.0, &c2s_other.0, &next.0, &next.ratchet().0];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a[..], b[..]);
            }
        }
        // Same inputs, same secrets.
        let (again, _) = psk.session_secrets(&[1; 32], &[2; 32], SessionId([3; 8]));
        assert_eq!(again.0[..], c2s.0[..]);
        assert_ne!(c2s.keys().iv, s2c.keys().iv);
    }
}
