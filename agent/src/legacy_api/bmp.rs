//! `/p11Image.bmp`: the pkcs11info JSON packed into the pixels of a 24-bit BMP, for pages that
//! read it through a canvas (`crossOrigin = "anonymous"`) where XHR is not allowed.
//!
//! The bytes of the JSON fill the pixels in order as blue, green, red; the first zero byte
//! ends the text (the rest of the image is zeros). Rows are stored bottom-up as BMP requires,
//! so the text starts at the top-left pixel when drawn.

/// Packs `text` into a BMP file.
pub fn pack(text: &[u8]) -> Vec<u8> {
    // One more pixel than needed so the text is always followed by a zero byte.
    let pixels = text.len() / 3 + 1;
    let width = ((pixels as f64).sqrt().ceil() as usize).max(1);
    let height = pixels.div_ceil(width);
    let row_bytes = (width * 3).div_ceil(4) * 4;
    let image_size = row_bytes * height;
    let file_size = 54 + image_size;

    let mut out = Vec::with_capacity(file_size);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&(file_size as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    out.extend_from_slice(&(width as i32).to_le_bytes());
    out.extend_from_slice(&(height as i32).to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // planes
    out.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    out.extend_from_slice(&0u32.to_le_bytes()); // no compression
    out.extend_from_slice(&(image_size as u32).to_le_bytes());
    out.extend_from_slice(&2835u32.to_le_bytes()); // 72 dpi
    out.extend_from_slice(&2835u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());

    for row in (0..height).rev() {
        let mut line = vec![0u8; row_bytes];
        let start = row * width * 3;
        let end = (start + width * 3).min(text.len());
        if start < end {
            line[..end - start].copy_from_slice(&text[start..end]);
        }
        out.extend_from_slice(&line);
    }
    out
}

/// Reads the text back out, as a page's canvas code does (for tests and the self-test page).
pub fn unpack(bmp: &[u8]) -> Option<Vec<u8>> {
    let u32_at = |i: usize| {
        bmp.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let offset = u32_at(10)? as usize;
    let width = u32_at(18)? as usize;
    let height = u32_at(22)? as usize;
    let row_bytes = (width * 3).div_ceil(4) * 4;
    let mut text = Vec::new();
    for row in 0..height {
        let file_row = height - 1 - row;
        let line =
            bmp.get(offset + file_row * row_bytes..offset + file_row * row_bytes + width * 3)?;
        for &byte in line {
            if byte == 0 {
                return Some(text);
            }
            text.push(byte);
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_for_every_length_remainder() {
        for text in [
            "",
            "{",
            "{}",
            "{\"a\"",
            "{\"slots\":[{\"label\":\"自然人憑證\"}]}",
        ] {
            let bmp = pack(text.as_bytes());
            assert_eq!(&bmp[..2], b"BM");
            assert_eq!(
                u32::from_le_bytes([bmp[2], bmp[3], bmp[4], bmp[5]]) as usize,
                bmp.len()
            );
            assert_eq!(unpack(&bmp).unwrap(), text.as_bytes());
        }
    }

    #[test]
    fn first_pixel_holds_the_first_bytes_in_bgr_order() {
        let bmp = pack(b"ABCDEF");
        // 3 pixels -> 2x2; the top row is stored last.
        let top_row = &bmp[54 + 8..54 + 8 + 6];
        assert_eq!(top_row, b"ABCDEF");
    }
}
