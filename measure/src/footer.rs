//! The GUIDed table at the end of an OVMF image (edk2 `OvmfPkg/ResetVector/Ia16/ResetVectorVtf0.asm`),
//! which both the SEV and the TDX metadata hang from.
//!
//! Layout, read backwards from the end of the file: the last 32 bytes are the reset vector; just
//! before them the table's footer, `u16 size` then the footer GUID `96b582de-…-a366c55a082d`,
//! where `size` counts the whole table including these 18 bytes. Entries are laid out the same
//! way: `data ‖ u16 size ‖ GUID`, `size` counting the 18-byte trailer, walked from the last to the
//! first.

/// A GUID in its on-disk (mixed-endian) byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Guid([u8; 16]);

impl Guid {
    /// The GUID written `a-b-c-d` in the usual text form: the first three fields are stored
    /// little-endian, the last eight bytes as they are written.
    pub(crate) const fn new(a: u32, b: u16, c: u16, d: [u8; 8]) -> Self {
        let a = a.to_le_bytes();
        let b = b.to_le_bytes();
        let c = c.to_le_bytes();
        Self([
            a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5],
            d[6], d[7],
        ])
    }

    /// The on-disk bytes.
    pub(crate) const fn bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

/// `96b582de-1fb2-45f7-baea-a366c55a082d`: the table's own footer.
const TABLE_FOOTER: Guid = Guid::new(
    0x96b5_82de,
    0x1fb2,
    0x45f7,
    [0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d],
);

/// Bytes at the very end of the image after the table (the reset vector).
const RESET_VECTOR_LEN: usize = 32;
/// `u16 size ‖ GUID`.
const TRAILER_LEN: usize = 18;

/// The entries of an image's GUIDed footer table.
#[derive(Debug)]
pub(crate) struct FooterTable<'a> {
    entries: Vec<(Guid, &'a [u8])>,
}

impl<'a> FooterTable<'a> {
    /// Finds and walks the table. `Ok(None)` when the image has no table at all (its footer
    /// GUID is absent); `Err(reason)` when it has one that is malformed.
    pub(crate) fn parse(image: &'a [u8]) -> Result<Option<Self>, String> {
        let Some(end) = image.len().checked_sub(RESET_VECTOR_LEN) else {
            return Ok(None);
        };
        let Some(trailer) = end.checked_sub(TRAILER_LEN) else {
            return Ok(None);
        };
        if image.get(trailer + 2..end) != Some(&TABLE_FOOTER.bytes()[..]) {
            return Ok(None);
        }
        let size = usize::from(le16(image, trailer));
        let start = end
            .checked_sub(size)
            .filter(|_| size >= TRAILER_LEN)
            .ok_or_else(|| format!("the GUIDed footer table claims {size} bytes"))?;
        let mut entries = Vec::new();
        let mut cur = trailer;
        while cur > start {
            let at = cur
                .checked_sub(TRAILER_LEN)
                .filter(|&p| p >= start)
                .ok_or_else(|| format!("footer table entry ending at {cur:#x} is cut off"))?;
            let len = usize::from(le16(image, at));
            let data_start = cur
                .checked_sub(len)
                .filter(|&p| len >= TRAILER_LEN && p >= start)
                .ok_or_else(|| {
                    format!("footer table entry ending at {cur:#x} claims {len} bytes")
                })?;
            let mut guid = [0u8; 16];
            guid.copy_from_slice(&image[at + 2..cur]);
            entries.push((Guid(guid), &image[data_start..at]));
            cur = data_start;
        }
        Ok(Some(Self { entries }))
    }

    /// The data of the entry `guid`, if present.
    pub(crate) fn get(&self, guid: Guid) -> Option<&'a [u8]> {
        self.entries.iter().find(|(g, _)| *g == guid).map(|e| e.1)
    }
}

/// Little-endian u16 at `at`; the caller has checked the bounds.
fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// A bounds-checked little-endian reader over a byte slice.
pub(crate) fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// A bounds-checked little-endian u64.
pub(crate) fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// A bounds-checked little-endian u16.
pub(crate) fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an image of `len` bytes whose footer table holds `entries` (first is outermost).
    pub(crate) fn image_with_table(len: usize, entries: &[(Guid, Vec<u8>)]) -> Vec<u8> {
        let mut table = Vec::new();
        for (g, data) in entries {
            table.extend_from_slice(data);
            table.extend_from_slice(&u16::try_from(data.len() + 18).unwrap().to_le_bytes());
            table.extend_from_slice(g.bytes());
        }
        let size = table.len() + 18;
        table.extend_from_slice(&u16::try_from(size).unwrap().to_le_bytes());
        table.extend_from_slice(TABLE_FOOTER.bytes());
        let mut image = vec![0u8; len];
        let end = len - RESET_VECTOR_LEN;
        image[end - table.len()..end].copy_from_slice(&table);
        image
    }

    #[test]
    fn guid_is_mixed_endian() {
        assert_eq!(
            hex::encode(TABLE_FOOTER.bytes()),
            "de82b596b21ff745baeaa366c55a082d"
        );
    }

    #[test]
    fn walks_entries_and_rejects_bad_sizes() {
        let a = Guid::new(1, 2, 3, [4; 8]);
        let b = Guid::new(5, 6, 7, [8; 8]);
        let image = image_with_table(4096, &[(a, vec![1, 2, 3, 4]), (b, vec![9; 8])]);
        let t = FooterTable::parse(&image).unwrap().unwrap();
        assert_eq!(t.get(a), Some(&[1, 2, 3, 4][..]));
        assert_eq!(t.get(b), Some(&[9; 8][..]));
        assert!(FooterTable::parse(&[0u8; 4096]).unwrap().is_none());
        assert!(FooterTable::parse(&[0u8; 10]).unwrap().is_none());
        let mut bad = image.clone();
        let trailer = 4096 - 32 - 18;
        bad[trailer..trailer + 2].copy_from_slice(&5000u16.to_le_bytes());
        assert!(FooterTable::parse(&bad).is_err());
        let mut bad = image;
        // The last entry's size field (just before the table trailer).
        let at = trailer - 18;
        bad[at..at + 2].copy_from_slice(&3u16.to_le_bytes());
        assert!(FooterTable::parse(&bad).is_err());
    }
}
