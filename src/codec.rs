//! Little-endian binary encoding shared by the on-storage formats (manifest, history archives,
//! WAL frames). Reads are bounds-checked and fail with [`Error::Corrupt`], never a panic, so a
//! damaged object is a typed error.

use crate::error::{Error, Result};

/// Appends fields to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Enc(pub Vec<u8>);

impl Enc {
    pub fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// A u32 length, then the bytes.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
    }
    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
}

/// Reads fields from a buffer; `what` names the object in error messages.
#[derive(Debug)]
pub(crate) struct Dec<'a> {
    buf: &'a [u8],
    pos: usize,
    what: &'a str,
}

impl<'a> Dec<'a> {
    pub fn new(buf: &'a [u8], what: &'a str) -> Self {
        Self { buf, pos: 0, what }
    }

    pub fn corrupt(&self, why: &str) -> Error {
        Error::Corrupt(format!("{}: {why} (at byte {})", self.what, self.pos))
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.corrupt("truncated"))?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.corrupt("truncated"))?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn string(&mut self) -> Result<String> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| self.corrupt("invalid UTF-8"))
    }
    /// A u32 count of items that each take at least `min_item` bytes, checked against what is
    /// left so a corrupt count cannot trigger a huge allocation.
    pub fn count(&mut self, min_item: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item.max(1)) > self.remaining() {
            return Err(self.corrupt("count exceeds the object"));
        }
        Ok(n)
    }
}

/// Seals `body` as `magic | version u16 | reserved u16 | body length u32 | body | crc32c u32`
/// (the checksum covers everything before it).
pub(crate) fn seal(magic: &[u8; 8], version: u16, body: &[u8]) -> Vec<u8> {
    let mut e = Enc(Vec::with_capacity(body.len() + 20));
    e.0.extend_from_slice(magic);
    e.u16(version);
    e.u16(0);
    e.u32(body.len() as u32);
    e.0.extend_from_slice(body);
    let crc = crc32c::crc32c(&e.0);
    e.u32(crc);
    e.0
}

/// Checks a [`seal`]ed object of format `version` and returns its body.
pub(crate) fn unseal<'a>(
    magic: &[u8; 8],
    version: u16,
    data: &'a [u8],
    what: &str,
) -> Result<&'a [u8]> {
    unseal_versions(magic, version..=version, data, what).map(|(_, body)| body)
}

/// Checks a [`seal`]ed object whose format is one of `versions`; returns the format and body.
pub(crate) fn unseal_versions<'a>(
    magic: &[u8; 8],
    versions: std::ops::RangeInclusive<u16>,
    data: &'a [u8],
    what: &str,
) -> Result<(u16, &'a [u8])> {
    let bad = |why: &str| Error::Corrupt(format!("{what}: {why}"));
    if data.len() < 20 {
        return Err(bad("too short"));
    }
    if data.get(..8) != Some(&magic[..]) {
        return Err(bad("bad magic (not an Anax object of this kind)"));
    }
    let mut d = Dec::new(data.get(8..).unwrap_or(&[]), what);
    let got_version = d.u16()?;
    if !versions.contains(&got_version) {
        return Err(bad(&format!(
            "format version {got_version}; this build reads versions {} to {}",
            versions.start(),
            versions.end()
        )));
    }
    let _reserved = d.u16()?;
    let len = d.u32()? as usize;
    let body_end = 16usize.checked_add(len).ok_or_else(|| bad("bad length"))?;
    if data.len() != body_end + 4 {
        return Err(bad("length does not match the object size"));
    }
    let body = data.get(16..body_end).ok_or_else(|| bad("truncated"))?;
    let stored = data
        .get(body_end..)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| bad("truncated checksum"))?;
    let computed = crc32c::crc32c(data.get(..body_end).unwrap_or(&[]));
    if stored != computed {
        return Err(bad("checksum mismatch"));
    }
    Ok((got_version, body))
}

/// A random u64 from the platform's CSPRNG (ids that must not collide across writers).
pub(crate) fn random_u64() -> Result<u64> {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).map_err(|e| Error::Internal(format!("no random source: {e}")))?;
    Ok(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_objects_round_trip_and_reject_damage() {
        let obj = seal(b"ANXTEST1", 3, b"hello");
        assert_eq!(unseal(b"ANXTEST1", 3, &obj, "t").unwrap(), b"hello");
        assert!(unseal(b"ANXTEST2", 3, &obj, "t").is_err());
        assert!(unseal(b"ANXTEST1", 4, &obj, "t").is_err());
        for i in 0..obj.len() {
            let mut bad = obj.clone();
            bad[i] ^= 0x40;
            assert!(unseal(b"ANXTEST1", 3, &bad, "t").is_err(), "flip at {i}");
            assert!(
                unseal(b"ANXTEST1", 3, &obj[..i], "t").is_err(),
                "cut at {i}"
            );
        }
    }

    #[test]
    fn decoder_rejects_huge_counts_and_truncation() {
        let mut e = Enc::default();
        e.u32(u32::MAX);
        let mut d = Dec::new(&e.0, "t");
        assert!(d.count(1).is_err());
        let mut d = Dec::new(&e.0, "t");
        assert!(d.bytes().is_err());
        let mut d = Dec::new(&[1, 2], "t");
        assert!(d.u64().is_err());
    }
}
