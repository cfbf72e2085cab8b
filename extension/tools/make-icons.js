// Writes icons/icon-{16,32,48,128}.png: a blue smart card with a gold chip. Drawn from
// shapes with 4x4 supersampling and encoded with Node's zlib, so no image tool is needed.
// Run: node tools/make-icons.js
import { deflateSync } from "node:zlib";
import { writeFileSync, mkdirSync } from "node:fs";

const CARD = [0x1f, 0x4e, 0x99];
const CHIP = [0xe8, 0xb8, 0x3a];
const LINE = [0x8a, 0x66, 0x14];

// Shapes in a 0..1 square, painted in order; later shapes cover earlier ones.
function colourAt(x, y) {
  let colour = null;
  if (inRoundRect(x, y, 0.04, 0.16, 0.96, 0.84, 0.1)) colour = CARD;
  if (inRoundRect(x, y, 0.16, 0.34, 0.46, 0.62, 0.05)) colour = CHIP;
  // Two contact lines across the chip, visible from 32 px up.
  if (colour === CHIP && (Math.abs(y - 0.44) < 0.012 || Math.abs(y - 0.52) < 0.012)) colour = LINE;
  return colour;
}

function inRoundRect(x, y, x0, y0, x1, y1, r) {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const cx = Math.min(Math.max(x, x0 + r), x1 - r);
  const cy = Math.min(Math.max(y, y0 + r), y1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

function render(size) {
  const ss = 4;
  const rows = [];
  for (let py = 0; py < size; py += 1) {
    const row = [0]; // PNG filter type 0 for this scanline
    for (let px = 0; px < size; px += 1) {
      let r = 0, g = 0, b = 0, a = 0;
      for (let sy = 0; sy < ss; sy += 1) {
        for (let sx = 0; sx < ss; sx += 1) {
          const c = colourAt((px + (sx + 0.5) / ss) / size, (py + (sy + 0.5) / ss) / size);
          if (c) { r += c[0]; g += c[1]; b += c[2]; a += 1; }
        }
      }
      // Straight (not premultiplied) alpha, as PNG wants.
      row.push(a ? Math.round(r / a) : 0, a ? Math.round(g / a) : 0, a ? Math.round(b / a) : 0,
        Math.round((a * 255) / (ss * ss)));
    }
    rows.push(Buffer.from(row));
  }
  return png(size, size, Buffer.concat(rows));
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const byte of buf) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function png(width, height, raw) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const out = new URL("../icons/", import.meta.url);
mkdirSync(out, { recursive: true });
for (const size of [16, 32, 48, 128]) {
  writeFileSync(new URL(`icon-${size}.png`, out), render(size));
}
