//! Declared image dimensions, read from the header only: a small file can
//! declare a huge canvas (a decompression bomb), so the proxy refuses it
//! before any layer or the upstream decodes the pixels.

use std::io::Cursor;

/// `(width, height)` declared by a PNG, JPEG, GIF, WebP or BMP header.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
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
        return image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("image header: {e}"))?
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

#[cfg(test)]
mod tests {
    use super::dimensions;
    use std::io::Cursor;

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
}
