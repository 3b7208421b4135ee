//! Declared image dimensions, read from the header only: a small file can
//! declare a huge canvas (a decompression bomb), so the proxy refuses it
//! before any layer or the upstream decodes the pixels. Compressed PNG
//! metadata is measured here too: a tiny file can carry an ICC profile that
//! inflates to hundreds of MiB before the first pixel.

use std::io::{Cursor, Read as _};

/// `(width, height)` declared by a PNG, JPEG, GIF, WebP or BMP header.
/// `max_metadata` bounds what the PNG and JPEG readers may allocate for
/// metadata on the way to the header.
pub fn dimensions(bytes: &[u8], max_metadata: u64) -> Result<(u32, u32), String> {
    let u16le = |at: usize| -> Option<u32> {
        Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?) as u32)
    };
    let u24le = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 3)?;
        Some(b[0] as u32 | (b[1] as u32) << 8 | (b[2] as u32) << 16)
    };
    let i32le = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let truncated = || "image header is truncated".to_string();
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        let mut reader = image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("image header: {e}"))?;
        let mut limits = image::Limits::default();
        limits.max_alloc = Some(max_metadata);
        reader.limits(limits);
        return reader
            .into_dimensions()
            .map_err(|e| format!("image header: {e}"));
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Ok((
            u16le(6).ok_or_else(truncated)?,
            u16le(8).ok_or_else(truncated)?,
        ));
    }
    if bytes.starts_with(b"BM") {
        let header = i32le(14).ok_or_else(truncated)?;
        if header == 12 {
            return Ok((
                u16le(18).ok_or_else(truncated)?,
                u16le(20).ok_or_else(truncated)?,
            ));
        }
        let w = i32le(18).ok_or_else(truncated)?;
        let h = i32le(22).ok_or_else(truncated)?;
        // Negative height means top-down rows.
        return Ok((w.unsigned_abs(), h.unsigned_abs()));
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return match bytes.get(12..16) {
            Some(b"VP8X") => Ok((
                u24le(24).ok_or_else(truncated)? + 1,
                u24le(27).ok_or_else(truncated)? + 1,
            )),
            Some(b"VP8 ") => Ok((
                u16le(26).ok_or_else(truncated)? & 0x3FFF,
                u16le(28).ok_or_else(truncated)? & 0x3FFF,
            )),
            Some(b"VP8L") => {
                let b = i32le(21).ok_or_else(truncated)? as u32;
                Ok(((b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1))
            }
            _ => Err("unknown WebP chunk".to_string()),
        };
    }
    Err("not a PNG, JPEG, GIF, WebP or BMP image".to_string())
}

/// Bytes the compressed metadata chunks of a PNG (`iCCP`, `zTXt`, compressed
/// `iTXt`) inflate to, counted up to just over `cap` (so a bomb costs at most
/// `cap` bytes of inflating); 0 for other formats. A corrupt stream counts
/// what it produced: the decoder reports the corruption itself.
pub fn compressed_metadata(bytes: &[u8], cap: u64) -> u64 {
    if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return 0;
    }
    let mut total = 0u64;
    let mut at = 8usize;
    while let Some(head) = bytes.get(at..at + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        let Some(data) = bytes.get(at + 8..(at + 8).saturating_add(len)) else {
            break;
        };
        if let Some(z) = compressed_part(kind, data) {
            total += inflated_len(z, cap - total.min(cap) + 1);
            if total > cap {
                return total;
            }
        }
        if kind == b"IEND" {
            break;
        }
        at = at.saturating_add(12 + len);
    }
    total
}

/// The zlib stream of a compressed metadata chunk.
fn compressed_part<'a>(kind: &[u8], data: &'a [u8]) -> Option<&'a [u8]> {
    let after_name = |d: &'a [u8]| d.iter().position(|&b| b == 0).map(|i| &d[i + 1..]);
    match kind {
        // name \0 method zlib
        b"iCCP" | b"zTXt" => after_name(data)?.get(1..),
        // keyword \0 flag method language \0 translated \0 text
        b"iTXt" => {
            let rest = after_name(data)?;
            if rest.first() != Some(&1) {
                return None;
            }
            let rest = after_name(rest.get(2..)?)?;
            after_name(rest)
        }
        _ => None,
    }
}

fn inflated_len(z: &[u8], limit: u64) -> u64 {
    let mut d = flate2::read::ZlibDecoder::new(z).take(limit);
    let mut buf = [0u8; 64 * 1024];
    let mut n = 0u64;
    while let Ok(k) = d.read(&mut buf) {
        if k == 0 {
            break;
        }
        n += k as u64;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::{compressed_metadata, dimensions as dims};
    use std::io::Cursor;

    fn dimensions(b: &[u8]) -> Result<(u32, u32), String> {
        dims(b, 1 << 20)
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        image::RgbImage::new(w, h)
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn png_and_jpeg_headers() {
        assert_eq!(dimensions(&png(7, 3)).unwrap(), (7, 3));
        let mut jpg = Vec::new();
        image::RgbImage::new(9, 5)
            .write_to(&mut Cursor::new(&mut jpg), image::ImageFormat::Jpeg)
            .unwrap();
        assert_eq!(dimensions(&jpg).unwrap(), (9, 5));
    }

    #[test]
    fn gif_bmp_webp_headers() {
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&30000u16.to_le_bytes());
        gif.extend_from_slice(&20000u16.to_le_bytes());
        assert_eq!(dimensions(&gif).unwrap(), (30000, 20000));

        let mut bmp = b"BM".to_vec();
        bmp.resize(14, 0);
        bmp.extend_from_slice(&40i32.to_le_bytes());
        bmp.extend_from_slice(&640i32.to_le_bytes());
        bmp.extend_from_slice(&(-480i32).to_le_bytes());
        assert_eq!(dimensions(&bmp).unwrap(), (640, 480));

        let mut webp = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        webp.resize(24, 0);
        webp.extend_from_slice(&[0x2F, 0x75, 0x00, 0x1F, 0x4E, 0x00]); // 30000 x 20000
        assert_eq!(dimensions(&webp).unwrap(), (30000, 20000));
    }

    #[test]
    fn garbage_and_truncated_headers_are_errors() {
        assert!(dimensions(b"hello").is_err());
        assert!(dimensions(b"GIF89a\x01").is_err());
        assert!(dimensions(&[0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', 0, 0]).is_err());
    }

    #[test]
    fn compressed_metadata_is_measured_up_to_the_cap() {
        use std::io::Write as _;
        fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            out.extend_from_slice(&[0; 4]); // CRC is not checked here
        }
        let z = |n: usize| {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&vec![0u8; n]).unwrap();
            e.finish().unwrap()
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        chunk(&mut png, b"IHDR", &[0; 13]);
        let mut iccp = b"icc\0\0".to_vec();
        iccp.extend_from_slice(&z(3000));
        chunk(&mut png, b"iCCP", &iccp);
        let mut itxt = b"k\0\x01\0en\0k\0".to_vec();
        itxt.extend_from_slice(&z(500));
        chunk(&mut png, b"iTXt", &itxt);
        chunk(&mut png, b"IEND", &[]);
        assert_eq!(compressed_metadata(&png, 1 << 20), 3500);
        // Counting stops just past the cap.
        assert_eq!(compressed_metadata(&png, 1000), 1001);
        assert_eq!(compressed_metadata(b"GIF89a", 10), 0);
    }
}
