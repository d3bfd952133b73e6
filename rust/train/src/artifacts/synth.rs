//! A SYNTHETIC artifact data set, because no public set has labelled brightfield artifacts:
//! real transmitted-light tiles, half of them with artifacts composited on (dark dust specks,
//! thin curved fibres, bubble rings, smeared debris; random size, contrast and focus blur).
//! Seeded: the same tiles and seed give the same set. Training may only see each tile's
//! image-level label; the composited masks are ground truth for evaluation only.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::FloatPlane;
use crate::targets::filters::gaussian;

/// The kinds of artifact composited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactKind {
    /// A small dark speck, sharp or out of focus.
    Dust,
    /// A thin dark curved fibre.
    Fibre,
    /// A bubble: a dark ring with a bright inner halo.
    Bubble,
    /// A smeared, textured clump of debris.
    Debris,
}

impl ArtifactKind {
    /// Every kind, in a fixed order.
    pub const ALL: [ArtifactKind; 4] = [
        ArtifactKind::Dust,
        ArtifactKind::Fibre,
        ArtifactKind::Bubble,
        ArtifactKind::Debris,
    ];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ArtifactKind::Dust => "dust",
            ArtifactKind::Fibre => "fibre",
            ArtifactKind::Bubble => "bubble",
            ArtifactKind::Debris => "debris",
        }
    }
}

/// How the set is made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthConfig {
    /// Seed of every random choice.
    pub seed: u64,
    /// Share of tiles that get artifacts.
    pub fraction: f64,
    /// Artifacts per artifact tile, at most (at least 1).
    pub max_per_tile: usize,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            fraction: 0.5,
            max_per_tile: 3,
        }
    }
}

/// One tile of the set.
#[derive(Debug, Clone)]
pub struct SynthTile {
    /// Name of the source tile.
    pub name: String,
    /// The image (raw intensities, artifacts composited).
    pub image: FloatPlane,
    /// Ground truth (1 = artifact pixel): for evaluation only.
    pub mask: Vec<u8>,
    /// The artifacts composited (empty: a clean tile).
    pub kinds: Vec<ArtifactKind>,
}

impl SynthTile {
    /// The image-level label training may see.
    pub fn has_artifact(&self) -> bool {
        !self.kinds.is_empty()
    }
}

/// Intensity scale of a tile for bright halos: its 1st to 99th percentile range (at least a
/// tenth of the 99th percentile, so flat tiles get visible halos too).
fn intensity_range(image: &FloatPlane) -> f32 {
    let mut v = image.data.clone();
    v.sort_by(f32::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let (lo, hi) = (at(0.01), at(0.99));
    (hi - lo).max(0.1 * hi.abs()).max(1e-3)
}

/// Paints `shape(x, y) -> coverage in [0, 1]` into a plane of the tile's size.
fn paint(w: usize, h: usize, shape: impl Fn(f64, f64) -> f64) -> FloatPlane {
    let data = (0..w * h)
        .map(|i| shape((i % w) as f64 + 0.5, (i / w) as f64 + 0.5).clamp(0.0, 1.0) as f32)
        .collect();
    FloatPlane::new(w, h, data)
}

/// Distance from `p` to the quadratic Bézier curve `a`-`c`-`b` (sampled).
fn distance_to_curve(p: (f64, f64), a: (f64, f64), c: (f64, f64), b: (f64, f64)) -> f64 {
    let mut best = f64::INFINITY;
    let n = 64;
    for k in 0..=n {
        let t = k as f64 / n as f64;
        let u = 1.0 - t;
        let x = u * u * a.0 + 2.0 * u * t * c.0 + t * t * b.0;
        let y = u * u * a.1 + 2.0 * u * t * c.1 + t * t * b.1;
        best = best.min(((p.0 - x).powi(2) + (p.1 - y).powi(2)).sqrt());
    }
    best
}

/// Smooth value noise in [0, 1] with features about `cell` pixels across.
fn value_noise(w: usize, h: usize, cell: f64, rng: &mut ChaCha8Rng) -> FloatPlane {
    let gw = (w as f64 / cell).ceil() as usize + 2;
    let gh = (h as f64 / cell).ceil() as usize + 2;
    let grid: Vec<f64> = (0..gw * gh).map(|_| rng.random::<f64>()).collect();
    paint(w, h, |x, y| {
        let (gx, gy) = (x / cell, y / cell);
        let (x0, y0) = (gx.floor() as usize, gy.floor() as usize);
        let (fx, fy) = (gx - x0 as f64, gy - y0 as f64);
        let g = |i: usize, j: usize| grid[j.min(gh - 1) * gw + i.min(gw - 1)];
        let top = g(x0, y0) * (1.0 - fx) + g(x0 + 1, y0) * fx;
        let bottom = g(x0, y0 + 1) * (1.0 - fx) + g(x0 + 1, y0 + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// One artifact: where it darkens (`dark`, coverage 0–1) and brightens (`bright`), and how
/// strongly, as fractions of the tile's intensity range.
struct Artifact {
    dark: FloatPlane,
    bright: Option<FloatPlane>,
    dark_strength: f32,
    bright_strength: f32,
}

fn make_artifact(kind: ArtifactKind, w: usize, h: usize, rng: &mut ChaCha8Rng) -> Artifact {
    let (wf, hf) = (w as f64, h as f64);
    let centre = (
        rng.random_range(0.1..0.9) * wf,
        rng.random_range(0.1..0.9) * hf,
    );
    let (shape, blur, strength, bright) = match kind {
        ArtifactKind::Dust => {
            let (rx, ry) = (rng.random_range(2.0..7.0), rng.random_range(2.0..7.0));
            let shape = paint(w, h, |x, y| {
                let d = ((x - centre.0) / rx).powi(2) + ((y - centre.1) / ry).powi(2);
                f64::from(u8::from(d <= 1.0))
            });
            (
                shape,
                rng.random_range(0.3..2.5),
                rng.random_range(0.25..0.7),
                None,
            )
        }
        ArtifactKind::Fibre => {
            let length = rng.random_range(0.35..0.9) * wf.min(hf);
            let angle = rng.random_range(0.0..std::f64::consts::PI);
            let (dx, dy) = (angle.cos() * length / 2.0, angle.sin() * length / 2.0);
            let a = (centre.0 - dx, centre.1 - dy);
            let b = (centre.0 + dx, centre.1 + dy);
            let bend = rng.random_range(-0.4..0.4) * length;
            let c = (centre.0 - angle.sin() * bend, centre.1 + angle.cos() * bend);
            let half = rng.random_range(0.8..1.8);
            let shape = paint(w, h, |x, y| {
                f64::from(u8::from(distance_to_curve((x, y), a, c, b) <= half))
            });
            (
                shape,
                rng.random_range(0.3..1.2),
                rng.random_range(0.2..0.5),
                None,
            )
        }
        ArtifactKind::Bubble => {
            let r = rng.random_range(7.0..0.3 * wf.min(hf));
            let t = rng.random_range(1.5..3.5);
            let ring = paint(w, h, |x, y| {
                let d = ((x - centre.0).powi(2) + (y - centre.1).powi(2)).sqrt();
                f64::from(u8::from((d - r).abs() <= t / 2.0))
            });
            let halo = paint(w, h, |x, y| {
                let d = ((x - centre.0).powi(2) + (y - centre.1).powi(2)).sqrt();
                f64::from(u8::from(d < r - t / 2.0 && d >= r - t / 2.0 - 2.0))
            });
            let strength = rng.random_range(0.2..0.45);
            (
                ring,
                rng.random_range(0.3..1.2),
                strength,
                Some((halo, 0.4 * strength)),
            )
        }
        ArtifactKind::Debris => {
            let blobs: Vec<((f64, f64), f64, f64)> = (0..rng.random_range(3..7))
                .map(|_| {
                    (
                        (
                            centre.0 + rng.random_range(-8.0..8.0),
                            centre.1 + rng.random_range(-8.0..8.0),
                        ),
                        rng.random_range(3.0..9.0),
                        rng.random_range(3.0..9.0),
                    )
                })
                .collect();
            let texture = value_noise(w, h, 3.0, rng);
            let shape = paint(w, h, |x, y| {
                let inside = blobs.iter().any(|&((cx, cy), rx, ry)| {
                    ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
                });
                if inside {
                    let i = (y as usize).min(h - 1) * w + (x as usize).min(w - 1);
                    0.55 + 0.45 * f64::from(texture.data[i])
                } else {
                    0.0
                }
            });
            (
                shape,
                rng.random_range(0.8..3.0),
                rng.random_range(0.25..0.6),
                None,
            )
        }
    };
    let (bright, bright_strength) = match bright {
        Some((halo, s)) => (Some(gaussian(&halo, blur)), s),
        None => (None, 0.0),
    };
    Artifact {
        dark: gaussian(&shape, blur),
        bright,
        dark_strength: strength as f32,
        bright_strength: bright_strength as f32,
    }
}

/// Composites `count` random artifacts onto `image`; returns the image, the truth mask and the
/// kinds. The truth is where an artifact changes the image by at least a quarter of its peak
/// effect (the visible body of a blurred artifact, not its faint tails).
pub fn composite(
    image: &FloatPlane,
    count: usize,
    rng: &mut ChaCha8Rng,
) -> (FloatPlane, Vec<u8>, Vec<ArtifactKind>) {
    let (w, h) = (image.width, image.height);
    let range = intensity_range(image);
    let mut out = image.data.clone();
    let mut mask = vec![0u8; w * h];
    let mut kinds = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = ArtifactKind::ALL[rng.random_range(0..ArtifactKind::ALL.len())];
        let a = make_artifact(kind, w, h, rng);
        let peak = a.dark.data.iter().copied().fold(0f32, f32::max).max(1e-6);
        for (i, v) in out.iter_mut().enumerate() {
            let dark = a.dark.data[i];
            let bright = a.bright.as_ref().map_or(0.0, |b| b.data[i]);
            // Dark artifacts absorb light: they transmit a fraction of it.
            *v *= 1.0 - a.dark_strength * dark;
            *v += a.bright_strength * bright * range;
            if dark >= 0.25 * peak || bright >= 0.25 {
                mask[i] = 1;
            }
        }
        kinds.push(kind);
    }
    (FloatPlane::new(w, h, out), mask, kinds)
}

/// Builds the set: `fraction` of the tiles (chosen at random) get 1 to `max_per_tile` artifacts.
pub fn synthesize(tiles: &[(String, FloatPlane)], config: &SynthConfig) -> Vec<SynthTile> {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let n = tiles.len();
    let with = ((n as f64) * config.fraction.clamp(0.0, 1.0)).round() as usize;
    // Which tiles get artifacts: a seeded shuffle of the indices.
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    let mut dirty = vec![false; n];
    for &i in &order[..with] {
        dirty[i] = true;
    }
    tiles
        .iter()
        .zip(dirty)
        .map(|((name, image), dirty)| {
            if dirty {
                let count = rng.random_range(1..=config.max_per_tile.max(1));
                let (image, mask, kinds) = composite(image, count, &mut rng);
                SynthTile {
                    name: name.clone(),
                    image,
                    mask,
                    kinds,
                }
            } else {
                SynthTile {
                    name: name.clone(),
                    image: image.clone(),
                    mask: vec![0; image.data.len()],
                    kinds: Vec::new(),
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn textured(w: usize, h: usize) -> FloatPlane {
        let data = (0..w * h)
            .map(|i| 1000.0 + 200.0 * (((i % w) as f32 * 0.3).sin() * ((i / w) as f32 * 0.2).cos()))
            .collect();
        FloatPlane::new(w, h, data)
    }

    fn tiles(n: usize) -> Vec<(String, FloatPlane)> {
        (0..n)
            .map(|i| (format!("tile{i}"), textured(96, 96)))
            .collect()
    }

    #[test]
    fn half_the_tiles_get_artifacts_and_clean_tiles_are_untouched() {
        let set = synthesize(&tiles(20), &SynthConfig::default());
        assert_eq!(set.iter().filter(|t| t.has_artifact()).count(), 10);
        let source = textured(96, 96);
        for t in &set {
            if t.has_artifact() {
                let covered = t.mask.iter().filter(|&&m| m == 1).count();
                assert!(covered > 5, "{}: {covered} artifact pixels", t.name);
                assert!(t.kinds.len() <= 3);
                // The image changed where the mask is, and darkened on average there.
                let (mut before, mut after) = (0.0, 0.0);
                for (i, &m) in t.mask.iter().enumerate() {
                    if m == 1 {
                        before += f64::from(source.data[i]);
                        after += f64::from(t.image.data[i]);
                    }
                }
                assert!(after != before, "{}", t.name);
            } else {
                assert_eq!(t.image, source);
                assert!(t.mask.iter().all(|&m| m == 0));
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_set_and_another_seed_another() {
        let a = synthesize(&tiles(8), &SynthConfig::default());
        let b = synthesize(&tiles(8), &SynthConfig::default());
        let c = synthesize(
            &tiles(8),
            &SynthConfig {
                seed: 2,
                ..SynthConfig::default()
            },
        );
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.image, y.image);
            assert_eq!(x.mask, y.mask);
        }
        assert!(a.iter().zip(&c).any(|(x, y)| x.mask != y.mask));
    }

    #[test]
    fn every_kind_darkens_its_body() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let image = FloatPlane::new(96, 96, vec![1000.0; 96 * 96]);
        for kind in ArtifactKind::ALL {
            for _ in 0..5 {
                let a = make_artifact(kind, 96, 96, &mut rng);
                let covered = a.dark.data.iter().filter(|&&v| v > 0.25).count();
                assert!(covered >= 4, "{kind:?} covers {covered} pixels");
                assert!(a.dark_strength >= 0.2, "{kind:?}");
            }
        }
        let (out, mask, _) = composite(&image, 2, &mut rng);
        let inside: Vec<f32> = (0..out.data.len())
            .filter(|&i| mask[i] == 1)
            .map(|i| out.data[i])
            .collect();
        assert!(!inside.is_empty());
        assert!(inside.iter().any(|&v| v < 990.0));
        assert!(inside.iter().all(|&v| v > 0.0));
    }
}
