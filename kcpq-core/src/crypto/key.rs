//! Pre-shared keys: parsing from hex, the environment or a key file, key ids, and key generation.
//!
//! A key is 32 bytes written as 64 hexadecimal characters. A key file holds one key per line;
//! blank lines and lines starting with `#` are ignored, as is anything after a `#` on a key line.
//! The first key is the one a client connects with; a server accepts every key of the file, so an
//! operator rotates keys without downtime: add the new key on the servers, move the clients to it,
//! then drop the old one.
//!
//! Keys never print: [`Key`]'s `Debug` shows only its [`KeyId`], and the bytes are wiped when the
//! value is dropped. The key id is `HMAC-SHA256(key, "kcpq v1 key id")` truncated to
//! [`KEY_ID_LEN`] bytes: it names a key on the wire without revealing it.
//!
//! Reading a file or the environment is I/O, kept to [`KeySet::load_file`] and
//! [`KeySet::from_env`], two thin conveniences over the pure parsers [`KeySet::from_hex`] and
//! [`KeySet::parse_key_file`]. The handshake and packet state machines never touch them.

use std::fmt;
use std::path::Path;

use hmac::{KeyInit, Mac};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::schedule::HmacSha256;
use crate::rng::Rng;

/// Length of a pre-shared key in bytes (AES-256).
pub const KEY_LEN: usize = 32;
/// Length of a key id on the wire, in bytes.
pub const KEY_ID_LEN: usize = 4;
/// The environment variable holding the key as 64 hex characters (the name the original used).
pub const KEY_ENV_VAR: &str = "KCPQ_AES256_KEY_HEX";
/// Most keys a key set holds. A server checks a handshake against one key only (chosen by key
/// id), so this bound is about keeping files reviewable, not about cost.
pub const MAX_KEYS: usize = 64;

const KEY_ID_LABEL: &[u8] = b"kcpq v1 key id";

/// The public name of a key: a truncated HMAC of the key, carried in handshakes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A 256-bit pre-shared key. Never printed; wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key {
    bytes: [u8; KEY_LEN],
    #[zeroize(skip)]
    id: KeyId,
}

impl Key {
    /// A key from raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&bytes)
            .expect("HMAC accepts keys of any length");
        mac.update(KEY_ID_LABEL);
        let tag = mac.finalize().into_bytes();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&tag[..KEY_ID_LEN]);
        Key {
            bytes,
            id: KeyId(id),
        }
    }

    /// Parses 64 hex characters (either case; surrounding whitespace is ignored).
    ///
    /// `origin` names where the text came from (an environment variable, a file and line) and
    /// appears in the error.
    pub fn from_hex(text: &str, origin: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let found = text.chars().count();
        if found != 2 * KEY_LEN {
            return Err(KeyError::WrongLength {
                origin: origin.to_owned(),
                found,
            });
        }
        let mut bytes = [0u8; KEY_LEN];
        let raw = text.as_bytes();
        for (i, out) in bytes.iter_mut().enumerate() {
            let hi = hex_value(raw[2 * i]);
            let lo = hex_value(raw[2 * i + 1]);
            match (hi, lo) {
                (Some(hi), Some(lo)) => *out = (hi << 4) | lo,
                (None, _) => return Err(not_hex(origin, 2 * i, &mut bytes)),
                (_, None) => return Err(not_hex(origin, 2 * i + 1, &mut bytes)),
            }
        }
        let key = Key::from_bytes(bytes);
        bytes.zeroize();
        Ok(key)
    }

    /// A fresh random key from the core's CSPRNG.
    pub fn generate(rng: &mut Rng) -> Self {
        let mut bytes = rng.bytes::<KEY_LEN>();
        let key = Key::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// The key's public id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The secret bytes, for the key schedule only.
    pub(crate) fn secret(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    fn to_hex(&self) -> String {
        let mut s = String::with_capacity(2 * KEY_LEN);
        for b in self.bytes {
            s.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
            s.push(char::from(HEX_DIGITS[usize::from(b & 0xf)]));
        }
        s
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn not_hex(origin: &str, position: usize, partial: &mut [u8; KEY_LEN]) -> KeyError {
    partial.zeroize();
    KeyError::NotHex {
        origin: origin.to_owned(),
        position,
    }
}

/// Why a key could not be loaded. Every message names the source and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not 64 characters long.
    #[error("{origin}: expected 64 hex characters (a 256-bit key), found {found} characters")]
    WrongLength {
        /// Where the key came from.
        origin: String,
        /// How many characters were found.
        found: usize,
    },
    /// A character is not a hex digit.
    #[error(
        "{origin}: expected 64 hex characters (0-9, a-f), found a non-hex character at position {position}"
    )]
    NotHex {
        /// Where the key came from.
        origin: String,
        /// Zero-based character position of the first bad character.
        position: usize,
    },
    /// The file could not be read.
    #[error("{origin}: cannot read the key file: {reason}")]
    Unreadable {
        /// The file.
        origin: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file or variable holds no key.
    #[error(
        "{origin}: no key found; expected one key per line, 64 hex characters each ('#' starts a comment)"
    )]
    Empty {
        /// Where the keys were looked for.
        origin: String,
    },
    /// The environment variable is not set.
    #[error("environment variable {var} is not set; expected 64 hex characters (a 256-bit key)")]
    EnvMissing {
        /// The variable's name.
        var: String,
    },
    /// More keys than [`MAX_KEYS`].
    #[error("{origin}: too many keys ({found}); at most {max} are allowed")]
    TooMany {
        /// Where the keys came from.
        origin: String,
        /// How many keys were found.
        found: usize,
        /// The limit, [`MAX_KEYS`].
        max: usize,
    },
    /// Two different keys share a key id (a 1 in 2^32 accident): replace one of them.
    #[error(
        "{origin}: two different keys have the same key id {id}; generate a new key for one of them"
    )]
    KeyIdCollision {
        /// Where the keys came from.
        origin: String,
        /// The shared id, in hex.
        id: String,
    },
}

/// The keys a node knows: the first connects, all are accepted.
#[derive(Clone)]
pub struct KeySet {
    keys: Vec<Key>,
}

impl KeySet {
    /// A set holding one key.
    pub fn single(key: Key) -> Self {
        KeySet { keys: vec![key] }
    }

    /// A set from keys in order (the first one connects). Duplicates are kept once.
    pub fn from_keys(keys: Vec<Key>, origin: &str) -> Result<Self, KeyError> {
        let mut out: Vec<Key> = Vec::with_capacity(keys.len());
        for key in keys {
            match out.iter().find(|k| k.id == key.id) {
                Some(existing) if existing.bytes == key.bytes => {}
                Some(_) => {
                    return Err(KeyError::KeyIdCollision {
                        origin: origin.to_owned(),
                        id: key.id.to_string(),
                    });
                }
                None => out.push(key),
            }
        }
        if out.is_empty() {
            return Err(KeyError::Empty {
                origin: origin.to_owned(),
            });
        }
        if out.len() > MAX_KEYS {
            return Err(KeyError::TooMany {
                origin: origin.to_owned(),
                found: out.len(),
                max: MAX_KEYS,
            });
        }
        Ok(KeySet { keys: out })
    }

    /// A set holding the one key written as 64 hex characters in `text`.
    pub fn from_hex(text: &str, origin: &str) -> Result<Self, KeyError> {
        if text.trim().is_empty() {
            return Err(KeyError::Empty {
                origin: origin.to_owned(),
            });
        }
        Ok(KeySet::single(Key::from_hex(text, origin)?))
    }

    /// Parses the contents of a key file; `origin` (usually the path) names it in errors.
    pub fn parse_key_file(contents: &str, origin: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        for (index, line) in contents.lines().enumerate() {
            let text = line.split('#').next().unwrap_or("").trim();
            if text.is_empty() {
                continue;
            }
            let line_origin = format!("{origin} line {}", index + 1);
            keys.push(Key::from_hex(text, &line_origin)?);
        }
        KeySet::from_keys(keys, origin)
    }

    /// Reads and parses a key file (a thin I/O convenience over [`KeySet::parse_key_file`]).
    pub fn load_file(path: &Path) -> Result<Self, KeyError> {
        let origin = path.display().to_string();
        let mut contents = std::fs::read_to_string(path).map_err(|e| KeyError::Unreadable {
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        let set = KeySet::parse_key_file(&contents, &origin);
        contents.zeroize();
        set
    }

    /// Reads the key from [`KEY_ENV_VAR`] (a thin I/O convenience over [`KeySet::from_hex`]).
    pub fn from_env() -> Result<Self, KeyError> {
        match std::env::var(KEY_ENV_VAR) {
            Ok(mut text) => {
                let set = KeySet::from_hex(&text, &format!("environment variable {KEY_ENV_VAR}"));
                text.zeroize();
                set
            }
            Err(_) => Err(KeyError::EnvMissing {
                var: KEY_ENV_VAR.to_owned(),
            }),
        }
    }

    /// The key a client connects with: the first one.
    pub fn primary(&self) -> &Key {
        &self.keys[0]
    }

    /// The key with id `id`, if the set holds it.
    pub fn find(&self, id: KeyId) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// All keys, the primary first.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// Number of keys (at least one).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a key set holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(Key::id))
            .finish()
    }
}

/// The text of a new key file holding one fresh key, with a header explaining the format.
pub fn generate_key_file(rng: &mut Rng) -> String {
    let key = Key::generate(rng);
    let mut hex = key.to_hex();
    let text = format!(
        "# KCPQ pre-shared key file (keep it secret: anyone holding a key can read and publish everything).\n\
         # One key per line, 64 hex characters (256 bits); '#' starts a comment.\n\
         # The first key is used to connect; every key listed is accepted. To rotate, add a new\n\
         # key on the servers, switch the clients to it, then remove the old one.\n\
         # key id {}\n\
         {hex}\n",
        key.id()
    );
    hex.zeroize();
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const HEX_B: &str = "FFEEDDCCBBAA99887766554433221100ffeeddccbbaa99887766554433221100";

    #[test]
    fn parses_hex_in_either_case() {
        let key = Key::from_hex(HEX_A, "test").expect("valid");
        let expected: [u8; 32] = std::array::from_fn(|i| i as u8);
        assert_eq!(key.secret(), &expected);
        let upper = Key::from_hex(&HEX_A.to_uppercase(), "test").expect("valid");
        assert_eq!(upper.id(), key.id());
        let b = Key::from_hex(&format!("  {HEX_B}\n"), "test").expect("valid");
        assert_eq!(b.secret()[0], 0xff);
        assert_eq!(b.secret()[31], 0x00);
    }

    #[test]
    fn errors_name_the_source_and_the_expectation() {
        let err = Key::from_hex("abcd", "environment variable KCPQ_AES256_KEY_HEX").unwrap_err();
        assert_eq!(
            err,
            KeyError::WrongLength {
                origin: "environment variable KCPQ_AES256_KEY_HEX".into(),
                found: 4
            }
        );
        assert_eq!(
            err.to_string(),
            "environment variable KCPQ_AES256_KEY_HEX: expected 64 hex characters (a 256-bit key), found 4 characters"
        );
        let mut bad = HEX_A.to_owned();
        bad.replace_range(10..11, "g");
        let err = Key::from_hex(&bad, "keys.txt line 2").unwrap_err();
        assert_eq!(
            err,
            KeyError::NotHex {
                origin: "keys.txt line 2".into(),
                position: 10
            }
        );
        assert!(
            err.to_string()
                .starts_with("keys.txt line 2: expected 64 hex characters")
        );
        // Multi-byte characters count as characters, not bytes, and are rejected without panic.
        let err = Key::from_hex(&"é".repeat(64), "x").unwrap_err();
        assert!(matches!(err, KeyError::NotHex { position: 0, .. }));
        assert_eq!(
            KeySet::from_hex("   ", "env").unwrap_err(),
            KeyError::Empty {
                origin: "env".into()
            }
        );
    }

    #[test]
    fn key_file_with_comments_and_rotation_order() {
        let text = format!("# header\n\n{HEX_B}  # new key\n   {HEX_A}\n#{HEX_A}\n{HEX_B}\n");
        let set = KeySet::parse_key_file(&text, "keys.txt").expect("valid");
        assert_eq!(set.len(), 2, "duplicate of the first key is kept once");
        let b = Key::from_hex(HEX_B, "t").unwrap();
        let a = Key::from_hex(HEX_A, "t").unwrap();
        assert_eq!(set.primary().id(), b.id());
        assert!(set.find(a.id()).is_some());
        assert!(set.find(KeyId([0; 4])).is_none() || a.id() == KeyId([0; 4]));
    }

    #[test]
    fn key_file_errors() {
        assert_eq!(
            KeySet::parse_key_file("# only a comment\n\n", "keys.txt").unwrap_err(),
            KeyError::Empty {
                origin: "keys.txt".into()
            }
        );
        let err = KeySet::parse_key_file(&format!("{HEX_A}\nnot-a-key\n"), "keys.txt").unwrap_err();
        assert_eq!(
            err,
            KeyError::WrongLength {
                origin: "keys.txt line 2".into(),
                found: 9
            }
        );
        let err = KeySet::load_file(Path::new("/nonexistent/kcpq/keys.txt")).unwrap_err();
        match err {
            KeyError::Unreadable { origin, reason } => {
                assert_eq!(origin, "/nonexistent/kcpq/keys.txt");
                assert!(!reason.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        let many: String = (0..=MAX_KEYS)
            .map(|i| format!("{:064x}\n", i + 1))
            .collect();
        assert!(matches!(
            KeySet::parse_key_file(&many, "k").unwrap_err(),
            KeyError::TooMany { found, .. } if found == MAX_KEYS + 1
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = Key::from_hex(HEX_B, "t").unwrap();
        let shown = format!("{key:?} {:?}", KeySet::single(key.clone()));
        assert!(!shown.to_lowercase().contains("ffeedd"), "{shown}");
        assert!(shown.contains(&key.id().to_string()), "{shown}");
    }

    #[test]
    fn key_id_is_a_truncated_hmac_of_the_key() {
        let key = Key::from_hex(HEX_A, "t").unwrap();
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key.secret()).unwrap();
        mac.update(b"kcpq v1 key id");
        assert_eq!(key.id().0[..], mac.finalize().into_bytes()[..4]);
        assert_ne!(key.id(), Key::from_hex(HEX_B, "t").unwrap().id());
    }

    #[test]
    fn generated_key_file_parses_back() {
        let mut rng = Rng::from_seed([9; 32]);
        let text = generate_key_file(&mut rng);
        assert!(text.starts_with("# KCPQ pre-shared key file"));
        let set = KeySet::parse_key_file(&text, "generated").expect("parses");
        assert_eq!(set.len(), 1);
        assert!(text.contains(&set.primary().id().to_string()));
        let other = KeySet::parse_key_file(&generate_key_file(&mut rng), "g2").unwrap();
        assert_ne!(other.primary().id(), set.primary().id());
    }

    #[test]
    fn zeroize_wipes_the_bytes() {
        let mut key = Key::from_hex(HEX_B, "t").unwrap();
        key.zeroize();
        assert_eq!(key.secret(), &[0u8; 32]);
    }
}
