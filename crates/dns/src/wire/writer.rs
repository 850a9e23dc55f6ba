//! A bounded message writer with name compression (RFC 1035 §4.1.4).
//!
//! Writes go into a caller-owned buffer and fail with [`Full`] past the limit, so sections can
//! be rolled back to a [`Checkpoint`] for truncation. The compression table holds the
//! lowercase suffixes already written and their offsets; a suffix is reused only on an exact
//! byte match, which is a case-insensitive match because every name given to the writer is
//! lowercase (the question's own bytes keep the client's case and are only pointed to).

use smallvec::SmallVec;

/// The write did not fit within the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// A position to roll back to.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint {
    len: usize,
    entries: usize,
}

/// How many name suffixes the compression table remembers.
const TABLE: usize = 48;

/// Writes a DNS message into a buffer.
pub struct Writer<'b, 'n> {
    buf: &'b mut [u8],
    len: usize,
    limit: usize,
    /// (offset, lowercase suffix) of names written; inline and never zero-filled.
    table: SmallVec<[(u16, &'n [u8]); TABLE]>,
}

impl<'b, 'n> Writer<'b, 'n> {
    /// A writer that will write at most `limit` bytes into `buf`.
    pub fn new(buf: &'b mut [u8], limit: usize) -> Self {
        let limit = limit.min(buf.len());
        Writer { buf, len: 0, limit, table: SmallVec::new() }
    }

    /// Bytes written so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Changes the limit (e.g. to release room reserved for the OPT record).
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.min(self.buf.len());
    }

    /// The current position, to roll back to.
    #[inline]
    pub fn checkpoint(&self) -> Checkpoint {
        Checkpoint { len: self.len, entries: self.table.len() }
    }

    /// Forgets everything written after `cp`.
    #[inline]
    pub fn rollback(&mut self, cp: Checkpoint) {
        self.len = cp.len;
        self.table.truncate(cp.entries);
    }

    /// Appends bytes.
    #[inline]
    pub fn bytes(&mut self, b: &[u8]) -> Result<(), Full> {
        let end = self.len + b.len();
        if end > self.limit {
            return Err(Full);
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        Ok(())
    }

    /// Appends a big-endian u16.
    #[inline]
    pub fn u16(&mut self, v: u16) -> Result<(), Full> {
        self.bytes(&v.to_be_bytes())
    }

    /// Overwrites a big-endian u16 at `at` (already written).
    #[inline]
    pub fn patch_u16(&mut self, at: usize, v: u16) {
        self.buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Records that the lowercase name `name` was written at `offset`, so later names can point
    /// to it and to each of its suffixes.
    pub fn remember(&mut self, mut offset: usize, name: &'n [u8]) {
        let mut pos = 0;
        while pos < name.len() && name[pos] != 0 && offset < 0x4000 && self.table.len() < TABLE {
            self.table.push((offset as u16, &name[pos..]));
            let step = usize::from(name[pos]) + 1;
            pos += step;
            offset += step;
        }
    }

    #[inline]
    fn lookup(&self, suffix: &[u8]) -> Option<u16> {
        self.table.iter().find(|(_, s)| *s == suffix).map(|(o, _)| *o)
    }

    /// Writes a pointer to `offset`.
    #[inline]
    pub fn pointer(&mut self, offset: u16) -> Result<(), Full> {
        self.u16(0xC000 | offset)
    }

    /// Writes a lowercase uncompressed name, compressing it against earlier names.
    pub fn name(&mut self, name: &'n [u8]) -> Result<(), Full> {
        let mut pos = 0;
        while pos < name.len() {
            let len = usize::from(name[pos]);
            if len == 0 {
                break;
            }
            let suffix = &name[pos..];
            if let Some(off) = self.lookup(suffix) {
                return self.pointer(off);
            }
            let at = self.len;
            self.bytes(&name[pos..pos + 1 + len])?;
            if at < 0x4000 && self.table.len() < TABLE {
                self.table.push((at as u16, suffix));
            }
            pos += 1 + len;
        }
        self.bytes(&[0])
    }

    /// The bytes written.
    pub fn finish(self) -> usize {
        self.len
    }

    /// The buffer written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_suffixes_and_rolls_back() {
        let mut buf = [0u8; 512];
        let mut w = Writer::new(&mut buf, 512);
        w.bytes(&[0; 12]).expect("fits");
        let q = b"\x03www\x07example\x04test\x00";
        w.bytes(q).expect("fits");
        w.remember(12, q);
        let cp = w.checkpoint();
        w.name(b"\x04mail\x07example\x04test\x00").expect("fits");
        // "mail" literally, then a pointer to "example.test" at 12 + 4.
        assert_eq!(&w.written()[30..], b"\x04mail\xc0\x10");
        w.name(b"\x04mail\x07example\x04test\x00").expect("fits");
        assert_eq!(&w.written()[37..], b"\xc0\x1e", "the whole name is now a pointer");
        w.rollback(cp);
        assert_eq!(w.len(), 30);
        w.name(b"\x04mail\x07example\x04test\x00").expect("fits");
        assert_eq!(&w.written()[30..], b"\x04mail\xc0\x10", "rolled-back names are forgotten");
        w.name(b"\x00").expect("fits");
        assert_eq!(w.written()[w.len() - 1], 0);
    }

    #[test]
    fn respects_the_limit() {
        let mut buf = [0u8; 64];
        let mut w = Writer::new(&mut buf, 10);
        assert_eq!(w.bytes(&[1; 10]), Ok(()));
        assert_eq!(w.bytes(&[1]), Err(Full));
        w.set_limit(12);
        assert_eq!(w.u16(7), Ok(()));
        assert_eq!(w.len(), 12);
    }
}
