//! A fixed-length set of piece indices, stored as the wire's big-endian bit order (BEP 3).
//! Pure data, used on its holder's thread: the reactor thread inside the engine, the caller's
//! thread when a torrent is added or its resume state planned.

/// Which pieces someone has. Bit 0 is the high bit of byte 0, as on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Bitfield {
    bytes: Vec<u8>,
    len: u32,
    ones: u32,
}

/// Why a received bitfield was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitfieldError {
    /// The byte count is not `ceil(pieces / 8)`.
    WrongSize {
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A bit past the last piece is set.
    SpareBitsSet,
}

impl Bitfield {
    /// An empty set for `len` pieces.
    pub fn new(len: u32) -> Bitfield {
        Bitfield {
            bytes: vec![0; (len as usize).div_ceil(8)],
            len,
            ones: 0,
        }
    }

    /// A full set for `len` pieces.
    pub fn full(len: u32) -> Bitfield {
        let mut b = Bitfield::new(len);
        for i in 0..len {
            b.set(i);
        }
        b
    }

    /// Parses wire bytes for a torrent of `len` pieces, refusing a wrong size or spare bits.
    pub fn from_bytes(bytes: &[u8], len: u32) -> Result<Bitfield, BitfieldError> {
        let expected = (len as usize).div_ceil(8);
        if bytes.len() != expected {
            return Err(BitfieldError::WrongSize {
                expected,
                got: bytes.len(),
            });
        }
        let spare = (expected * 8) as u32 - len;
        if spare > 0 && bytes[expected - 1] & ((1u8 << spare) - 1) != 0 {
            return Err(BitfieldError::SpareBitsSet);
        }
        let ones = bytes.iter().map(|b| b.count_ones()).sum();
        Ok(Bitfield {
            bytes: bytes.to_vec(),
            len,
            ones,
        })
    }

    /// Number of pieces the set covers.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when the set covers no pieces at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether piece `i` is in the set (false when out of range).
    pub fn get(&self, i: u32) -> bool {
        i < self.len && self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0
    }

    /// Adds piece `i`; returns true when it was not there before. Out-of-range indices are ignored.
    pub fn set(&mut self, i: u32) -> bool {
        if i >= self.len || self.get(i) {
            return false;
        }
        self.bytes[(i / 8) as usize] |= 0x80 >> (i % 8);
        self.ones += 1;
        true
    }

    /// Removes piece `i`; returns true when it was there.
    pub fn clear(&mut self, i: u32) -> bool {
        if !self.get(i) {
            return false;
        }
        self.bytes[(i / 8) as usize] &= !(0x80 >> (i % 8));
        self.ones -= 1;
        true
    }

    /// How many pieces are in the set.
    pub fn count(&self) -> u32 {
        self.ones
    }

    /// True when every piece is in the set.
    pub fn is_full(&self) -> bool {
        self.ones == self.len
    }

    /// The wire bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Indices in the set, ascending.
    pub fn iter_ones(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.len).filter(move |&i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_order_and_counts() {
        let mut b = Bitfield::new(10);
        assert!(b.set(0));
        assert!(b.set(9));
        assert!(!b.set(9));
        assert!(!b.set(10));
        assert_eq!(b.as_bytes(), &[0x80, 0x40]);
        assert_eq!(b.count(), 2);
        assert!(b.clear(0));
        assert_eq!(b.count(), 1);
        assert_eq!(b.iter_ones().collect::<Vec<_>>(), vec![9]);
    }

    #[test]
    fn parse_rejects_wrong_size_and_spare_bits() {
        assert_eq!(
            Bitfield::from_bytes(&[0xff], 10),
            Err(BitfieldError::WrongSize {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            Bitfield::from_bytes(&[0xff, 0xe0], 10),
            Err(BitfieldError::SpareBitsSet)
        );
        let ok = Bitfield::from_bytes(&[0xff, 0xc0], 10).unwrap();
        assert!(ok.is_full());
    }
}
