//! The tray's icons, drawn in code: no image files to install or find, and each state has
//! its own colour and shape, so it reads even for the colour-blind (a check, a cross, a
//! warning triangle, a reader with or without a card).
//!
//! Pixels are ARGB32 in network byte order (A, R, G, B per pixel, rows top to bottom), the
//! StatusNotifierItem `IconPixmap` format. Each pixel averages 4×4 samples, for smooth edges.

use super::state::TrayIcon;

/// The sizes drawn; panels pick the nearest to their height.
pub const SIZES: [u32; 6] = [16, 22, 24, 32, 48, 64];

/// One square ARGB32 image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pixmap {
    /// Width and height in pixels.
    pub size: u32,
    /// `size * size * 4` bytes: A, R, G, B for each pixel.
    pub argb: Vec<u8>,
}

type Rgb = [u8; 3];

const GREEN: Rgb = [0x2e, 0x7d, 0x32];
const RED: Rgb = [0xc6, 0x28, 0x28];
const AMBER: Rgb = [0xf9, 0xa8, 0x25];
const WHITE: Rgb = [0xff, 0xff, 0xff];
const INK: Rgb = [0x21, 0x21, 0x21];
const SLATE: Rgb = [0x60, 0x7d, 0x8b];
const PALE: Rgb = [0xb0, 0xbe, 0xc5];
const GREY: Rgb = [0x9e, 0x9e, 0x9e];
const DARK_GREY: Rgb = [0x42, 0x42, 0x42];

/// A shape in unit coordinates: (0, 0) is the top-left corner, (1, 1) the bottom-right.
#[derive(Debug, Clone, Copy)]
enum Shape {
    Circle {
        c: (f32, f32),
        r: f32,
    },
    /// A line segment of the given width with round ends.
    Stroke {
        a: (f32, f32),
        b: (f32, f32),
        w: f32,
    },
    RoundedRect {
        min: (f32, f32),
        max: (f32, f32),
        r: f32,
    },
    /// The border of a rounded rectangle, `w` wide, inside its bounds.
    RoundedFrame {
        min: (f32, f32),
        max: (f32, f32),
        r: f32,
        w: f32,
    },
    Triangle([(f32, f32); 3]),
}

impl Shape {
    fn contains(self, p: (f32, f32)) -> bool {
        match self {
            Shape::Circle { c, r } => dist(p, c) <= r,
            Shape::Stroke { a, b, w } => segment_dist(p, a, b) <= w / 2.0,
            Shape::RoundedRect { min, max, r } => rounded_rect_dist(p, min, max, r) <= 0.0,
            Shape::RoundedFrame { min, max, r, w } => {
                let d = rounded_rect_dist(p, min, max, r);
                d <= 0.0 && d > -w
            }
            Shape::Triangle([a, b, c]) => {
                let (d1, d2, d3) = (edge(p, a, b), edge(p, b, c), edge(p, c, a));
                let negative = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
                let positive = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
                !(negative && positive)
            }
        }
    }
}

fn dist(p: (f32, f32), q: (f32, f32)) -> f32 {
    ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt()
}

fn segment_dist(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    let ab = (b.0 - a.0, b.1 - a.1);
    let len2 = ab.0 * ab.0 + ab.1 * ab.1;
    let t = if len2 == 0.0 {
        0.0
    } else {
        (((p.0 - a.0) * ab.0 + (p.1 - a.1) * ab.1) / len2).clamp(0.0, 1.0)
    };
    dist(p, (a.0 + t * ab.0, a.1 + t * ab.1))
}

/// Signed distance to a rounded rectangle: negative inside.
fn rounded_rect_dist(p: (f32, f32), min: (f32, f32), max: (f32, f32), r: f32) -> f32 {
    let c = ((min.0 + max.0) / 2.0, (min.1 + max.1) / 2.0);
    let half = ((max.0 - min.0) / 2.0 - r, (max.1 - min.1) / 2.0 - r);
    let q = ((p.0 - c.0).abs() - half.0, (p.1 - c.1).abs() - half.1);
    let outside = (q.0.max(0.0).powi(2) + q.1.max(0.0).powi(2)).sqrt();
    outside + q.0.max(q.1).min(0.0) - r
}

fn edge(p: (f32, f32), a: (f32, f32), b: (f32, f32)) -> f32 {
    (p.0 - b.0) * (a.1 - b.1) - (a.0 - b.0) * (p.1 - b.1)
}

/// The layers of an icon, painted in order.
fn layers(icon: TrayIcon) -> Vec<(Shape, Rgb)> {
    use Shape::*;
    let disc = Circle {
        c: (0.5, 0.5),
        r: 0.47,
    };
    let reader_body = RoundedRect {
        min: (0.08, 0.42),
        max: (0.92, 0.90),
        r: 0.10,
    };
    let slot = Stroke {
        a: (0.26, 0.56),
        b: (0.74, 0.56),
        w: 0.08,
    };
    let triangle = Triangle([(0.5, 0.05), (0.97, 0.92), (0.03, 0.92)]);
    let bang = |colour| {
        vec![
            (
                Stroke {
                    a: (0.5, 0.36),
                    b: (0.5, 0.62),
                    w: 0.12,
                },
                colour,
            ),
            (
                Circle {
                    c: (0.5, 0.78),
                    r: 0.07,
                },
                colour,
            ),
        ]
    };
    match icon {
        TrayIcon::CardReady => vec![
            (disc, GREEN),
            (
                Stroke {
                    a: (0.27, 0.52),
                    b: (0.43, 0.68),
                    w: 0.12,
                },
                WHITE,
            ),
            (
                Stroke {
                    a: (0.43, 0.68),
                    b: (0.74, 0.35),
                    w: 0.12,
                },
                WHITE,
            ),
        ],
        TrayIcon::AgentError => vec![
            (disc, RED),
            (
                Stroke {
                    a: (0.32, 0.32),
                    b: (0.68, 0.68),
                    w: 0.12,
                },
                WHITE,
            ),
            (
                Stroke {
                    a: (0.68, 0.32),
                    b: (0.32, 0.68),
                    w: 0.12,
                },
                WHITE,
            ),
        ],
        TrayIcon::CertificateExpiring { expired: false } => {
            let mut l = vec![(triangle, AMBER)];
            l.extend(bang(INK));
            l
        }
        TrayIcon::CertificateExpiring { expired: true } => {
            let mut l = vec![(triangle, RED)];
            l.extend(bang(WHITE));
            l
        }
        TrayIcon::NoCard => vec![
            // The card that is missing, as an outline above the reader's slot.
            (
                RoundedFrame {
                    min: (0.28, 0.06),
                    max: (0.72, 0.50),
                    r: 0.05,
                    w: 0.07,
                },
                PALE,
            ),
            (reader_body, SLATE),
            (slot, INK),
        ],
        TrayIcon::NoReader => vec![
            (reader_body, GREY),
            (slot, WHITE),
            (
                Stroke {
                    a: (0.12, 0.14),
                    b: (0.88, 0.94),
                    w: 0.16,
                },
                WHITE,
            ),
            (
                Stroke {
                    a: (0.12, 0.14),
                    b: (0.88, 0.94),
                    w: 0.09,
                },
                DARK_GREY,
            ),
        ],
    }
}

/// Draws `icon` at `size` × `size` pixels.
pub fn draw(icon: TrayIcon, size: u32) -> Pixmap {
    const SAMPLES: u32 = 4;
    let layers = layers(icon);
    let n = size as f32;
    let mut argb = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            // Premultiplied sums over the samples, so edges blend without dark fringes.
            let (mut a, mut r, mut g, mut b) = (0u32, 0u32, 0u32, 0u32);
            for sy in 0..SAMPLES {
                for sx in 0..SAMPLES {
                    let p = (
                        (x as f32 + (sx as f32 + 0.5) / SAMPLES as f32) / n,
                        (y as f32 + (sy as f32 + 0.5) / SAMPLES as f32) / n,
                    );
                    if let Some((_, colour)) = layers.iter().rev().find(|(s, _)| s.contains(p)) {
                        a += 255;
                        r += u32::from(colour[0]) * 255;
                        g += u32::from(colour[1]) * 255;
                        b += u32::from(colour[2]) * 255;
                    }
                }
            }
            let count = SAMPLES * SAMPLES;
            let alpha = a / count;
            let straight = |sum: u32| sum.checked_div(a).map_or(0, |v| v.min(255) as u8);
            argb.extend_from_slice(&[alpha as u8, straight(r), straight(g), straight(b)]);
        }
    }
    Pixmap { size, argb }
}

/// `icon` at every size in [`SIZES`].
pub fn draw_all_sizes(icon: TrayIcon) -> Vec<Pixmap> {
    SIZES.iter().map(|&s| draw(icon, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixel(p: &Pixmap, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * p.size + x) * 4) as usize;
        [p.argb[i], p.argb[i + 1], p.argb[i + 2], p.argb[i + 3]]
    }

    fn opaque(rgb: Rgb) -> [u8; 4] {
        [0xff, rgb[0], rgb[1], rgb[2]]
    }

    #[test]
    fn every_size_has_the_right_length_and_transparent_corners() {
        for icon in TrayIcon::ALL {
            for p in draw_all_sizes(icon) {
                assert_eq!(p.argb.len(), (p.size * p.size * 4) as usize);
                assert_eq!(pixel(&p, 0, 0)[0], 0, "{icon:?} {}px", p.size);
                assert_eq!(pixel(&p, p.size - 1, 0)[0], 0, "{icon:?} {}px", p.size);
            }
        }
    }

    #[test]
    fn each_state_has_its_colour_where_people_look() {
        let at = |icon, x, y| pixel(&draw(icon, 64), x, y);
        // Solid parts of each symbol, away from edges.
        assert_eq!(at(TrayIcon::CardReady, 10, 32), opaque(GREEN));
        assert_eq!(at(TrayIcon::CardReady, 31, 40), opaque(WHITE), "the check");
        assert_eq!(at(TrayIcon::AgentError, 10, 32), opaque(RED));
        assert_eq!(at(TrayIcon::AgentError, 32, 32), opaque(WHITE), "the cross");
        let warning = TrayIcon::CertificateExpiring { expired: false };
        assert_eq!(at(warning, 20, 52), opaque(AMBER));
        assert_eq!(at(warning, 32, 30), opaque(INK), "the exclamation mark");
        let expired = TrayIcon::CertificateExpiring { expired: true };
        assert_eq!(at(expired, 20, 52), opaque(RED));
        assert_eq!(at(expired, 32, 30), opaque(WHITE));
        assert_eq!(at(TrayIcon::NoCard, 10, 50), opaque(SLATE));
        assert_eq!(
            at(TrayIcon::NoCard, 20, 12),
            opaque(PALE),
            "the missing card"
        );
        assert_eq!(at(TrayIcon::NoReader, 10, 50), opaque(GREY));
        assert_eq!(
            at(TrayIcon::NoReader, 32, 34),
            opaque(DARK_GREY),
            "the slash"
        );
        // The card outline is hollow.
        assert_eq!(at(TrayIcon::NoCard, 32, 16)[0], 0);
    }

    #[test]
    fn no_two_states_look_alike() {
        for (i, a) in TrayIcon::ALL.iter().enumerate() {
            for b in &TrayIcon::ALL[i + 1..] {
                assert_ne!(draw(*a, 22), draw(*b, 22), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn edges_are_blended_not_jagged() {
        let p = draw(TrayIcon::CardReady, 32);
        let partial = p
            .argb
            .chunks(4)
            .filter(|px| px[0] > 0 && px[0] < 255)
            .count();
        assert!(partial > 20, "only {partial} blended edge pixels");
    }
}
