//! `/p11Image.bmp`: a JSON text packed into the pixels of a 24-bit BMP, for pages that read it
//! through a canvas (`crossOrigin = "anonymous"`) where XHR is not allowed.
//!
//! The image is always [`WIDTH`]×1: every answer, a card's or a refusal's, has the same size,
//! so the size tells a page nothing. All the text is in that one row (pixel row 0), three
//! characters per pixel, the first in blue, then green, then red: pages read
//! `String.fromCharCode(data[i+2], data[i+1], data[i])` from the canvas's RGBA data and stop
//! at the first pixel whose blue is 0. The last pixel of the text is padded with spaces (JSON
//! ignores them; a 0 in its green or red would become a NUL inside the text), the rest is 0.

/// The image's width: the pixels one probe reads (a default-size, 300-pixel canvas).
pub const WIDTH: usize = 300;

/// Packs `text` (at most `3 × WIDTH` bytes; longer text is cut) into a BMP file.
pub fn pack(text: &[u8]) -> Vec<u8> {
    let row_bytes = (WIDTH * 3).div_ceil(4) * 4;
    let file_size = 54 + row_bytes;
    let mut out = Vec::with_capacity(file_size);
    out.extend_from_slice(b"BM");
    out.extend_from_slice(&(file_size as u32).to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&54u32.to_le_bytes());
    out.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    out.extend_from_slice(&(WIDTH as i32).to_le_bytes());
    out.extend_from_slice(&1i32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // planes
    out.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    out.extend_from_slice(&0u32.to_le_bytes()); // no compression
    out.extend_from_slice(&(row_bytes as u32).to_le_bytes());
    out.extend_from_slice(&2835u32.to_le_bytes()); // 72 dpi
    out.extend_from_slice(&2835u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut row = vec![0u8; row_bytes];
    let n = text.len().min(WIDTH * 3);
    row[..n].copy_from_slice(&text[..n]);
    // Pad the text's last pixel with spaces.
    for b in row.iter_mut().take(n.div_ceil(3) * 3).skip(n) {
        *b = b' ';
    }
    out.extend_from_slice(&row);
    out
}

/// Reads the text back as a page does: row 0 (the top row as drawn), pixel by pixel, blue,
/// green, red, until a pixel whose blue is 0, within the first `pixels` pixels.
pub fn unpack(bmp: &[u8], pixels: usize) -> Option<Vec<u8>> {
    let u32_at = |i: usize| {
        bmp.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let offset = u32_at(10)? as usize;
    let width = u32_at(18)? as usize;
    let height = i32::from_le_bytes(u32_at(22)?.to_le_bytes());
    let row_bytes = (width * 3).div_ceil(4) * 4;
    // Bottom-up (positive height): the top row is stored last.
    let top = if height > 0 { height as usize - 1 } else { 0 };
    let row = bmp.get(offset + top * row_bytes..offset + top * row_bytes + width * 3)?;
    let mut text = Vec::new();
    for px in row.chunks(3).take(pixels) {
        if px[0] == 0 {
            break;
        }
        text.extend_from_slice(px);
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_image_has_the_same_size_and_the_text_reads_back() {
        let empty = pack(b"");
        for text in ["{", "{}", "{\"a\"", "{\"ret_code\":0}", &"x".repeat(900)] {
            let bmp = pack(text.as_bytes());
            assert_eq!(bmp.len(), empty.len());
            assert_eq!(&bmp[..2], b"BM");
            assert_eq!(
                u32::from_le_bytes([bmp[2], bmp[3], bmp[4], bmp[5]]) as usize,
                bmp.len()
            );
            let back = unpack(&bmp, WIDTH).unwrap();
            // Padded with spaces to a whole pixel.
            assert_eq!(String::from_utf8(back).unwrap().trim_end(), text);
        }
        assert!(unpack(&pack(b""), WIDTH).unwrap().is_empty());
    }

    #[test]
    fn first_pixel_holds_the_first_bytes_in_bgr_order() {
        let bmp = pack(b"ABCDE");
        assert_eq!(&bmp[54..60], b"ABCDE ");
        assert_eq!(bmp[60], 0, "the next pixel ends the text");
    }
}
