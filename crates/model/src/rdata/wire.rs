//! A bounds-checked reader over uncompressed wire-format rdata.

use crate::name::{Name, NameError, wire_name_len};

pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub(crate) fn slice_from(&self, start: usize) -> &'a [u8] {
        &self.data[start..self.pos]
    }

    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.data.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// An uncompressed name (rdata in storage never holds compression pointers).
    pub(crate) fn name(&mut self) -> Result<Name, NameError> {
        let len = wire_name_len(&self.data[self.pos..]).ok_or(NameError::BadWire)?;
        let n = Name::from_wire(&self.data[self.pos..self.pos + len])?;
        self.pos += len;
        Ok(n)
    }

    pub(crate) fn char_string(&mut self) -> Result<&'a [u8], ()> {
        let len = self.u8().ok_or(())?;
        self.take(usize::from(len)).ok_or(())
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = &self.data[self.pos.min(self.data.len())..];
        self.pos = self.data.len();
        s
    }
}
