//! Just enough of the zip format to find one member of a wheel: the end of
//! central directory record (plain and zip64), central directory entries and
//! local headers. Reading is split from IO so the same code serves HTTP range
//! requests and local wheel files.

/// One central-directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// 0 = stored, 8 = deflate.
    pub method: u16,
    pub crc32: u32,
    pub compressed_size: u64,
    pub size: u64,
    pub local_header_offset: u64,
}

/// Where the central directory lies in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
/// Fixed size of a local file header before the name and extra field.
pub const LOCAL_HEADER_LEN: u64 = 30;
/// Tail length that holds the end records of any archive with a short comment.
pub const TAIL_LEN: u64 = 64 * 1024;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Locate the central directory from the last bytes of an archive.
/// `tail` holds the archive bytes `[total_len - tail.len(), total_len)`.
pub fn find_directory(tail: &[u8], total_len: u64) -> Result<Directory, String> {
    if tail.len() < 22 {
        return Err(format!(
            "{} bytes is too short for a zip archive",
            tail.len()
        ));
    }
    let eocd = (0..=tail.len() - 22)
        .rev()
        .find(|&i| u32_at(tail, i) == Some(EOCD_SIG))
        .ok_or("no end-of-central-directory record: not a zip archive")?;
    let bad = || "truncated end-of-central-directory record".to_string();
    let entries = u16_at(tail, eocd + 10).ok_or_else(bad)? as u64;
    let size = u32_at(tail, eocd + 12).ok_or_else(bad)? as u64;
    let offset = u32_at(tail, eocd + 16).ok_or_else(bad)? as u64;
    if entries != 0xFFFF && size != 0xFFFF_FFFF && offset != 0xFFFF_FFFF {
        return Ok(Directory {
            offset,
            size,
            entries,
        });
    }
    // Zip64: a locator sits right before the classic record and points at the
    // zip64 end record, which must also lie inside the tail.
    let loc = eocd
        .checked_sub(20)
        .filter(|&l| u32_at(tail, l) == Some(ZIP64_LOCATOR_SIG))
        .ok_or("zip64 archive without a zip64 locator")?;
    let z64_abs = u64_at(tail, loc + 8).ok_or_else(bad)?;
    let tail_start = total_len - tail.len() as u64;
    let z64 = z64_abs
        .checked_sub(tail_start)
        .map(|v| v as usize)
        .filter(|&z| u32_at(tail, z) == Some(ZIP64_EOCD_SIG))
        .ok_or("zip64 end record lies outside the fetched tail")?;
    Ok(Directory {
        entries: u64_at(tail, z64 + 32).ok_or_else(bad)?,
        size: u64_at(tail, z64 + 40).ok_or_else(bad)?,
        offset: u64_at(tail, z64 + 48).ok_or_else(bad)?,
    })
}

/// Parse the central directory bytes into entries.
pub fn parse_directory(cd: &[u8]) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 46 <= cd.len() {
        if u32_at(cd, at) != Some(CENTRAL_SIG) {
            break;
        }
        let bad = || format!("truncated central directory entry at byte {at}");
        let method = u16_at(cd, at + 10).ok_or_else(bad)?;
        let crc32 = u32_at(cd, at + 16).ok_or_else(bad)?;
        let mut compressed_size = u32_at(cd, at + 20).ok_or_else(bad)? as u64;
        let mut size = u32_at(cd, at + 24).ok_or_else(bad)? as u64;
        let name_len = u16_at(cd, at + 28).ok_or_else(bad)? as usize;
        let extra_len = u16_at(cd, at + 30).ok_or_else(bad)? as usize;
        let comment_len = u16_at(cd, at + 32).ok_or_else(bad)? as usize;
        let mut local_header_offset = u32_at(cd, at + 42).ok_or_else(bad)? as u64;
        let name_bytes = cd.get(at + 46..at + 46 + name_len).ok_or_else(bad)?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let extra = cd
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or_else(bad)?;
        // Zip64 extended information: only the fields saturated in the fixed
        // part are present, in this order.
        let mut e = 0usize;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e).unwrap_or(0);
            let len = u16_at(extra, e + 2).unwrap_or(0) as usize;
            if id == 0x0001 {
                let mut f = e + 4;
                for field in [&mut size, &mut compressed_size, &mut local_header_offset] {
                    if *field == 0xFFFF_FFFF {
                        *field = u64_at(extra, f).ok_or_else(bad)?;
                        f += 8;
                    }
                }
            }
            e += 4 + len;
        }
        out.push(Entry {
            name,
            method,
            crc32,
            compressed_size,
            size,
            local_header_offset,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// Length of a local header (fixed part, name and extra field), from its first 30 bytes.
pub fn local_header_len(header: &[u8]) -> Result<u64, String> {
    if u32_at(header, 0) != Some(LOCAL_SIG) {
        return Err("member's local header has a bad signature".into());
    }
    let name_len = u16_at(header, 26).ok_or("truncated local header")? as u64;
    let extra_len = u16_at(header, 28).ok_or("truncated local header")? as u64;
    Ok(LOCAL_HEADER_LEN + name_len + extra_len)
}

/// A zip archive in memory with members stored or deflated (for tests and
/// fixtures; wheels themselves are never written by mmsafe).
pub fn build_archive(members: &[(&str, &[u8], bool)]) -> Result<Vec<u8>, std::io::Error> {
    use std::io::Write;
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, deflate) in members {
        let (method, body) = if *deflate {
            let mut enc =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(data)?;
            (8u16, enc.finish()?)
        } else {
            (0u16, data.to_vec())
        };
        let crc = crc32(data);
        let offset = out.len() as u32;
        out.extend_from_slice(&LOCAL_SIG.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0]);
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&body);
        central.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0, 0, 0, 0]);
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&(body.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&EOCD_SIG.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_members_of_a_built_archive() {
        let zip = build_archive(&[
            ("a/x.txt", b"hello", false),
            ("a/y.bin", &[7u8; 1000], true),
        ])
        .unwrap();
        let tail_start = zip.len().saturating_sub(TAIL_LEN as usize);
        let dir = find_directory(&zip[tail_start..], zip.len() as u64).unwrap();
        assert_eq!(dir.entries, 2);
        let cd = &zip[dir.offset as usize..(dir.offset + dir.size) as usize];
        let entries = parse_directory(cd).unwrap();
        assert_eq!(entries[1].name, "a/y.bin");
        assert_eq!(entries[1].method, 8);
        assert_eq!(entries[1].size, 1000);
        let lh = entries[0].local_header_offset as usize;
        assert_eq!(local_header_len(&zip[lh..lh + 30]).unwrap(), 30 + 7);
    }

    #[test]
    fn rejects_non_zip() {
        assert!(find_directory(&[0u8; 100], 100).is_err());
    }
}
