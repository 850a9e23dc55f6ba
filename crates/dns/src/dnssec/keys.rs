//! Zone signing keys: generation, the DNSKEY a key publishes, its key tag and the DS a parent
//! holds for it.
//!
//! Two algorithms (RFC 8624 §3.1 lists both as MUST for signing): 13, ECDSA P-256 with
//! SHA-256 (RFC 6605), and 15, Ed25519 (RFC 8080). Private keys are PKCS#8 documents, the form
//! `ring` generates and reads; the store keeps them, nothing else does.

use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};

/// A DNSSEC signing algorithm Turnout signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// 13: ECDSA on curve P-256 with SHA-256 (RFC 6605).
    #[serde(rename = "ECDSAP256SHA256")]
    EcdsaP256Sha256,
    /// 15: Ed25519 (RFC 8080).
    #[serde(rename = "ED25519")]
    Ed25519,
}

impl Algorithm {
    /// The algorithm number (RFC 4034 Appendix A.1, IANA registry).
    pub fn number(self) -> u8 {
        match self {
            Algorithm::EcdsaP256Sha256 => 13,
            Algorithm::Ed25519 => 15,
        }
    }

    /// The algorithm for a number, if Turnout signs with it.
    pub fn from_number(n: u8) -> Option<Algorithm> {
        match n {
            13 => Some(Algorithm::EcdsaP256Sha256),
            15 => Some(Algorithm::Ed25519),
            _ => None,
        }
    }

    /// The mnemonic (as in zone files and the IANA registry).
    pub fn mnemonic(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
            Algorithm::Ed25519 => "ED25519",
        }
    }

    /// Parses a number or a mnemonic (any case).
    pub fn parse(s: &str) -> Option<Algorithm> {
        if let Ok(n) = s.parse::<u8>() {
            return Algorithm::from_number(n);
        }
        [Algorithm::EcdsaP256Sha256, Algorithm::Ed25519]
            .into_iter()
            .find(|a| a.mnemonic().eq_ignore_ascii_case(s))
    }

    /// The largest signature, in bytes.
    pub fn signature_len(self) -> usize {
        64 // both: r || s (RFC 6605 §4), or R || S (RFC 8032 §5.1.6)
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.number(), self.mnemonic())
    }
}

/// DNSKEY flags: Zone Key (RFC 4034 §2.1.1).
pub const FLAG_ZONE: u16 = 0x0100;
/// DNSKEY flags: Secure Entry Point, set on a key signing key (RFC 4034 §2.1.1).
pub const FLAG_SEP: u16 = 0x0001;

/// Why a key cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The private key is not a PKCS#8 document of this algorithm.
    #[error("the private key is not a valid {0} key")]
    Invalid(&'static str),
    /// The system's random generator failed.
    #[error("no randomness to generate a key")]
    Random,
}

/// Generates a private key of `alg`, as a PKCS#8 document.
pub fn generate(alg: Algorithm) -> Result<Vec<u8>, KeyError> {
    let rng = SystemRandom::new();
    let doc = match alg {
        Algorithm::EcdsaP256Sha256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Random)?
        }
        Algorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyError::Random)?,
    };
    Ok(doc.as_ref().to_vec())
}

enum Pair {
    Ecdsa(EcdsaKeyPair, SystemRandom),
    Ed25519(Ed25519KeyPair),
}

/// A key ready to sign: the private key, and the DNSKEY it publishes.
pub struct SigningKey {
    pair: Pair,
    alg: Algorithm,
    flags: u16,
    dnskey: Box<[u8]>,
    tag: u16,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the private key.
        f.debug_struct("SigningKey")
            .field("algorithm", &self.alg)
            .field("flags", &self.flags)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PKCS#8 private key of `alg`; `flags` are the DNSKEY's ([`FLAG_ZONE`], with
    /// [`FLAG_SEP`] for a key signing key).
    pub fn from_pkcs8(alg: Algorithm, flags: u16, pkcs8: &[u8]) -> Result<SigningKey, KeyError> {
        let (pair, public) = match alg {
            Algorithm::EcdsaP256Sha256 => {
                let rng = SystemRandom::new();
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                    .map_err(|_| KeyError::Invalid("ECDSAP256SHA256"))?;
                // The DNSKEY holds x || y, without the uncompressed-point prefix 0x04
                // (RFC 6605 §4).
                let public = pair.public_key().as_ref()[1..].to_vec();
                (Pair::Ecdsa(pair, rng), public)
            }
            Algorithm::Ed25519 => {
                let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8)
                    .map_err(|_| KeyError::Invalid("ED25519"))?;
                let public = pair.public_key().as_ref().to_vec();
                (Pair::Ed25519(pair), public)
            }
        };
        let dnskey = dnskey_rdata(flags, alg.number(), &public);
        let tag = key_tag(&dnskey);
        Ok(SigningKey { pair, alg, flags, dnskey: dnskey.into(), tag })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The DNSKEY flags.
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// The key tag (RFC 4034 Appendix B).
    pub fn tag(&self) -> u16 {
        self.tag
    }

    /// The DNSKEY RDATA this key publishes.
    pub fn dnskey(&self) -> &[u8] {
        &self.dnskey
    }

    /// Signs `data`.
    pub fn sign(&self, data: &[u8]) -> Vec<u8> {
        match &self.pair {
            Pair::Ecdsa(pair, rng) => match pair.sign(rng, data) {
                Ok(sig) => sig.as_ref().to_vec(),
                // Only a failing system random generator gets here; an empty signature then
                // fails validation rather than the process.
                Err(_) => Vec::new(),
            },
            Pair::Ed25519(pair) => pair.sign(data).as_ref().to_vec(),
        }
    }
}

/// DNSKEY RDATA: flags, protocol 3, algorithm, public key (RFC 4034 §2.1).
pub fn dnskey_rdata(flags: u16, alg: u8, public: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(4 + public.len());
    r.extend_from_slice(&flags.to_be_bytes());
    r.push(3);
    r.push(alg);
    r.extend_from_slice(public);
    r
}

/// The key tag of a DNSKEY RDATA (RFC 4034 Appendix B; algorithm 1 is never used here).
pub fn key_tag(dnskey: &[u8]) -> u16 {
    let mut ac: u32 = 0;
    for (i, b) in dnskey.iter().enumerate() {
        ac += if i & 1 == 1 { u32::from(*b) } else { u32::from(*b) << 8 };
    }
    ac += (ac >> 16) & 0xFFFF;
    (ac & 0xFFFF) as u16
}

/// Digest types of a DS (RFC 4509: 2 is SHA-256; RFC 6605 §2: 4 is SHA-384).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestType {
    /// 2: SHA-256, what RFC 8624 §3.3 says to publish.
    Sha256,
    /// 4: SHA-384.
    Sha384,
}

impl DigestType {
    /// The digest type number.
    pub fn number(self) -> u8 {
        match self {
            DigestType::Sha256 => 2,
            DigestType::Sha384 => 4,
        }
    }
}

/// DS RDATA for the DNSKEY RDATA `dnskey` at `owner` (uncompressed, lowercase wire form):
/// key tag, algorithm, digest type, digest of owner || DNSKEY RDATA (RFC 4034 §5.1.4).
pub fn ds_rdata(owner: &[u8], dnskey: &[u8], digest: DigestType) -> Vec<u8> {
    let alg = match digest {
        DigestType::Sha256 => &ring::digest::SHA256,
        DigestType::Sha384 => &ring::digest::SHA384,
    };
    let mut ctx = ring::digest::Context::new(alg);
    ctx.update(owner);
    ctx.update(dnskey);
    let d = ctx.finish();
    let mut r = Vec::with_capacity(4 + d.as_ref().len());
    r.extend_from_slice(&key_tag(dnskey).to_be_bytes());
    r.push(dnskey.get(3).copied().unwrap_or(0));
    r.push(digest.number());
    r.extend_from_slice(d.as_ref());
    r
}
