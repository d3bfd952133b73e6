//! Training data: normalised images with their targets and loss weights, and the random patches
//! (with augmentation) the trainer learns from.

use brightseg::image::{PixelData, Plane};
use brightseg::metrics::Coverage;
use brightseg::model::Preprocessing;
use brightseg::normalize::Normalizer;
use brightseg::objects::Labels;
use brightseg::{Error, Result};
use rand::Rng;

use crate::data::plane::{crop_labels, crop_rows, FloatPlane};
use crate::targets::filters::gaussian;

/// The input normalisation of every model we train, written into its description so inference
/// normalises exactly as training did: percentiles 1 and 99.8 of the whole plane to 0 and 1.
pub const NORMALIZATION: Preprocessing = Preprocessing::ScaleRange {
    min_percentile: NORMALIZATION_PERCENTILES.0,
    max_percentile: NORMALIZATION_PERCENTILES.1,
    eps: 1e-6,
};

/// The percentiles of [`NORMALIZATION`], for model descriptions.
pub const NORMALIZATION_PERCENTILES: (f64, f64) = (1.0, 99.8);

/// The input normalisation of the artifact models: percentiles 25 and 75 to 0 and 1. A dark
/// artifact covering a tenth of a tile barely moves them, so the tile's background keeps its
/// values whether or not an artifact is present (with 1/99.8 the artifact pulls the lower
/// percentile down and brightens the whole background, which a classifier learns instead of
/// the artifact itself).
pub const ARTIFACT_NORMALIZATION: Preprocessing = Preprocessing::ScaleRange {
    min_percentile: ARTIFACT_PERCENTILES.0,
    max_percentile: ARTIFACT_PERCENTILES.1,
    eps: 1e-6,
};

/// The percentiles of [`ARTIFACT_NORMALIZATION`], for model descriptions.
pub const ARTIFACT_PERCENTILES: (f64, f64) = (25.0, 75.0);

/// `plane` normalised as [`NORMALIZATION`] says, by the inference core's own code.
pub fn normalize(plane: &FloatPlane) -> FloatPlane {
    normalize_with(plane, NORMALIZATION)
}

/// `plane` normalised as `preprocessing` says, by the inference core's own code.
pub fn normalize_with(plane: &FloatPlane, preprocessing: Preprocessing) -> FloatPlane {
    let core_plane = match Plane::new(
        plane.width,
        plane.height,
        PixelData::F32(plane.data.clone()),
    ) {
        Ok(p) => p,
        Err(_) => return plane.clone(),
    };
    let normalizer = Normalizer::for_plane(&core_plane, &[preprocessing]);
    FloatPlane::new(
        plane.width,
        plane.height,
        plane.data.iter().map(|&v| normalizer.apply(v)).collect(),
    )
}

/// One training or validation image.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Where it came from (file, frame, region), for reports.
    pub name: String,
    /// Normalised input.
    pub image: FloatPlane,
    /// Binary target (1 = nucleus).
    pub target: Vec<f32>,
    /// Loss weight per pixel (0 = ignore).
    pub weight: Vec<f32>,
    /// Nucleus instances the validation scores against.
    pub truth: Labels,
    /// Where `truth` can be trusted, one flag per pixel; `None`: everywhere (every object is
    /// labelled). Validation scores predictions only where labels are known (see
    /// [`brightseg::metrics::Coverage`]).
    pub known: Option<Vec<bool>>,
    /// Which dataset (source of a sources file, from 0) it came from, for drawing patches and
    /// weighing validation evenly across datasets ([`PatchDraw::PerDataset`]).
    pub dataset: usize,
}

impl Sample {
    /// A sample from a normalised image and instance labels of the same size; `weight` defaults
    /// to 1 everywhere.
    pub fn new(
        name: impl Into<String>,
        image: FloatPlane,
        truth: Labels,
        weight: Option<Vec<f32>>,
    ) -> Result<Self> {
        let name = name.into();
        let n = image.width * image.height;
        if truth.width != image.width || truth.height != image.height {
            return Err(Error::image(format!(
                "{name}: targets are {}×{} but the image is {}×{}: the channels must come from \
                 the same field",
                truth.width, truth.height, image.width, image.height
            )));
        }
        let weight = weight.unwrap_or_else(|| vec![1.0; n]);
        if weight.len() != n {
            return Err(Error::image(format!(
                "{name}: weight map has the wrong size"
            )));
        }
        let target = truth
            .data
            .iter()
            .map(|&l| if l != 0 { 1.0 } else { 0.0 })
            .collect();
        Ok(Sample {
            name,
            image,
            target,
            weight,
            truth,
            known: None,
            dataset: 0,
        })
    }

    /// How much of the image `truth` covers, for scoring.
    pub fn coverage(&self) -> Coverage<'_> {
        match &self.known {
            Some(mask) => Coverage::Known(mask),
            None => Coverage::Complete,
        }
    }

    /// The part of the sample inside the `w × h` window at (`x0`, `y0`), labels renumbered.
    pub fn crop(&self, x0: usize, y0: usize, w: usize, h: usize, name: String) -> Sample {
        let (width, height) = (self.image.width, self.image.height);
        let pick = |v: &[f32]| crop_rows(v, width, height, x0, y0, w, h).0;
        Sample {
            name,
            image: self.image.crop(x0, y0, w, h),
            target: pick(&self.target),
            weight: pick(&self.weight),
            truth: crop_labels(&self.truth, x0, y0, w, h),
            known: self
                .known
                .as_ref()
                .map(|k| crop_rows(k, width, height, x0, y0, w, h).0),
            dataset: self.dataset,
        }
    }
}

/// How training patches are spread over the images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatchDraw {
    /// Images are drawn in proportion to their area, so a large dataset gets most patches.
    #[default]
    ByArea,
    /// Every dataset of a sources file gets the same share of patches (by area within it), and
    /// the validation score is the mean of the datasets' scores: a small dataset is learnt and
    /// counts as much as a large one.
    PerDataset,
}

impl PatchDraw {
    /// How much each sample counts, summing to 1: by area, or each dataset 1/datasets shared
    /// by area among its samples.
    pub fn shares(self, samples: &[Sample], size: impl Fn(&Sample) -> f64) -> Vec<f64> {
        let sizes: Vec<f64> = samples.iter().map(&size).collect();
        match self {
            PatchDraw::ByArea => {
                let total: f64 = sizes.iter().sum();
                sizes.iter().map(|s| s / total).collect()
            }
            PatchDraw::PerDataset => {
                let datasets = samples.iter().map(|s| s.dataset).max().map_or(0, |d| d + 1);
                let mut per_dataset = vec![0.0; datasets];
                for (s, size) in samples.iter().zip(&sizes) {
                    per_dataset[s.dataset] += size;
                }
                let present = per_dataset.iter().filter(|&&t| t > 0.0).count() as f64;
                samples
                    .iter()
                    .zip(&sizes)
                    .map(|(s, size)| size / per_dataset[s.dataset] / present)
                    .collect()
            }
        }
    }

    /// How much each validation sample counts in the score that picks the epoch, the threshold
    /// and the split depth: 1 each (a plain mean), or each dataset the same in all.
    fn validation_weights(self, val: &[Sample]) -> Vec<f64> {
        match self {
            PatchDraw::ByArea => vec![1.0; val.len()],
            PatchDraw::PerDataset => self.shares(val, |_| 1.0),
        }
    }

    /// The mean of `scores` (one per validation sample) under [`PatchDraw::validation_weights`].
    pub fn validation_mean(self, val: &[Sample], scores: impl IntoIterator<Item = f64>) -> f64 {
        let weights = self.validation_weights(val);
        let total: f64 = weights.iter().sum();
        let sum: f64 = weights.iter().zip(scores).map(|(w, s)| w * s).sum();
        if total > 0.0 {
            sum / total
        } else {
            0.0
        }
    }
}

/// Random changes applied to every training patch (recorded in training.json; a setting missing
/// from an older checkpoint takes its default).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Augmentation {
    /// Random horizontal and vertical flips.
    pub flips: bool,
    /// Random rotations by multiples of 90°.
    pub rotations: bool,
    /// Intensity jitter: gain in `1 ± intensity`, offset in `± intensity / 2`.
    pub intensity: f32,
    /// Gamma jitter: exponent in `[1 / (1 + gamma), 1 + gamma]`.
    pub gamma: f32,
    /// Scale jitter: patches cut at `1 ± scale` times their size and resampled.
    pub scale: f32,
    /// Defocus: for half the patches, a Gaussian blur of σ drawn in `[0, blur]` pixels.
    pub blur: f32,
    /// Camera noise: for half the patches, Gaussian noise of σ drawn in `[0, noise]`, in
    /// normalised intensity (the 1st to 99.8th percentiles of an image span 0 to 1).
    pub noise: f32,
    /// Polarity: half the patches are inverted (`1 − value`), as nuclei look dark or bright
    /// with focus and modality.
    pub invert: bool,
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation {
            flips: true,
            rotations: true,
            intensity: 0.1,
            gamma: 0.15,
            scale: 0.15,
            blur: 0.0,
            noise: 0.0,
            invert: false,
        }
    }
}

impl Augmentation {
    /// No augmentation at all.
    pub const NONE: Augmentation = Augmentation {
        flips: false,
        rotations: false,
        intensity: 0.0,
        gamma: 0.0,
        scale: 0.0,
        blur: 0.0,
        noise: 0.0,
        invert: false,
    };

    /// Refuses settings that would make patches meaningless (negative, not finite, a scale
    /// that could cut an empty patch).
    pub fn validate(&self) -> Result<()> {
        let check = |name: &str, value: f32, most: f32| {
            if value.is_finite() && (0.0..=most).contains(&value) {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "augmentation {name} {value} must be between 0 and {most}"
                )))
            }
        };
        check("scale", self.scale, 0.9)?;
        check("blur", self.blur, 20.0)?;
        check("noise", self.noise, 1.0)?;
        check("intensity", self.intensity, 1.0)?;
        check("gamma", self.gamma, 4.0)
    }
}

/// A square training patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// Input, `size²` values.
    pub image: Vec<f32>,
    /// Target.
    pub target: Vec<f32>,
    /// Loss weight.
    pub weight: Vec<f32>,
}

/// Share of patches centred on a nucleus pixel (the rest are placed uniformly), so that sparse
/// images still show the network enough nuclei.
const NUCLEUS_CENTRED: f64 = 0.7;

/// Cuts one augmented `size × size` patch from a random sample (chosen by `draw`). Pixels
/// outside the image repeat its edge and get weight 0.
pub fn random_patch(
    samples: &[Sample],
    size: usize,
    aug: &Augmentation,
    draw: PatchDraw,
    rng: &mut impl Rng,
) -> Patch {
    let shares = draw.shares(samples, |s| (s.image.width * s.image.height) as f64);
    let mut pick = rng.random::<f64>();
    let mut index = 0;
    for (i, a) in shares.iter().enumerate() {
        index = i;
        if pick < *a {
            break;
        }
        pick -= a;
    }
    let s = &samples[index];
    let (w, h) = (s.image.width, s.image.height);
    let scale = if aug.scale > 0.0 {
        1.0 + rng.random_range(-aug.scale..=aug.scale)
    } else {
        1.0
    };
    let source = f64::from(scale) * size as f64;
    // Centre: on a nucleus pixel most of the time, else anywhere.
    let foreground: Vec<usize> = if rng.random::<f64>() < NUCLEUS_CENTRED {
        // Sample a few candidate pixels rather than listing every nucleus pixel.
        (0..64)
            .map(|_| rng.random_range(0..w * h))
            .filter(|&i| s.target[i] > 0.5)
            .take(1)
            .collect()
    } else {
        Vec::new()
    };
    let (cx, cy) = match foreground.first() {
        Some(&i) => ((i % w) as f64 + 0.5, (i / w) as f64 + 0.5),
        None => (
            rng.random::<f64>() * w as f64,
            rng.random::<f64>() * h as f64,
        ),
    };
    // Keep the window inside the image where it fits, so few pixels are padding.
    let half = source / 2.0;
    let clamp_centre = |c: f64, extent: usize| {
        if source >= extent as f64 {
            extent as f64 / 2.0
        } else {
            c.clamp(half, extent as f64 - half)
        }
    };
    let (cx, cy) = (clamp_centre(cx, w), clamp_centre(cy, h));
    // Whole-pixel corners, so an unscaled patch is an exact crop.
    let (x0, y0) = ((cx - half).round(), (cy - half).round());
    let step = source / size as f64;
    let mut patch = Patch {
        image: Vec::with_capacity(size * size),
        target: Vec::with_capacity(size * size),
        weight: Vec::with_capacity(size * size),
    };
    for py in 0..size {
        for px in 0..size {
            let sx = x0 + (px as f64 + 0.5) * step - 0.5;
            let sy = y0 + (py as f64 + 0.5) * step - 0.5;
            let inside = sx >= -0.5 && sy >= -0.5 && sx <= w as f64 - 0.5 && sy <= h as f64 - 0.5;
            patch.image.push(bilinear(&s.image, sx, sy));
            let nearest = (sy.round().clamp(0.0, (h - 1) as f64) as usize) * w
                + sx.round().clamp(0.0, (w - 1) as f64) as usize;
            patch.target.push(s.target[nearest]);
            patch
                .weight
                .push(if inside { s.weight[nearest] } else { 0.0 });
        }
    }
    if aug.flips && rng.random::<bool>() {
        flip_x(&mut patch, size);
    }
    if aug.flips && rng.random::<bool>() {
        flip_y(&mut patch, size);
    }
    if aug.rotations {
        for _ in 0..rng.random_range(0..4) {
            rotate90(&mut patch, size);
        }
    }
    if aug.gamma > 0.0 {
        let g = rng.random_range(1.0 / (1.0 + aug.gamma)..=1.0 + aug.gamma);
        for v in &mut patch.image {
            if *v > 0.0 {
                *v = v.powf(g);
            }
        }
    }
    if aug.intensity > 0.0 {
        let gain = 1.0 + rng.random_range(-aug.intensity..=aug.intensity);
        let offset = rng.random_range(-aug.intensity / 2.0..=aug.intensity / 2.0);
        for v in &mut patch.image {
            *v = *v * gain + offset;
        }
    }
    // Drawn only when asked for, so runs without them draw the same patches as before.
    if aug.blur > 0.0 && rng.random::<bool>() {
        let sigma = f64::from(rng.random_range(0.0..=aug.blur));
        let plane = FloatPlane::new(size, size, std::mem::take(&mut patch.image));
        patch.image = gaussian(&plane, sigma).data;
    }
    if aug.invert && rng.random::<bool>() {
        for v in &mut patch.image {
            *v = 1.0 - *v;
        }
    }
    if aug.noise > 0.0 && rng.random::<bool>() {
        let sigma = rng.random_range(0.0..=aug.noise);
        for v in &mut patch.image {
            *v += sigma * standard_normal(rng);
        }
    }
    patch
}

/// A draw from the standard normal distribution (Box–Muller).
fn standard_normal(rng: &mut impl Rng) -> f32 {
    let u: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]: the logarithm stays finite
    let v: f64 = rng.random();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// Bilinear sample at (`x`, `y`) (pixel centres at integers), edges repeated.
fn bilinear(p: &FloatPlane, x: f64, y: f64) -> f32 {
    let (w, h) = (p.width, p.height);
    let x = x.clamp(0.0, (w - 1) as f64);
    let y = y.clamp(0.0, (h - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let v = |xx: usize, yy: usize| p.data[yy * w + xx];
    let top = v(x0, y0) * (1.0 - fx) + v(x1, y0) * fx;
    let bottom = v(x0, y1) * (1.0 - fx) + v(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

fn remap(patch: &mut Patch, size: usize, from: impl Fn(usize, usize) -> usize) {
    for plane in [&mut patch.image, &mut patch.target, &mut patch.weight] {
        let old = plane.clone();
        for y in 0..size {
            for x in 0..size {
                plane[y * size + x] = old[from(x, y)];
            }
        }
    }
}

fn flip_x(patch: &mut Patch, size: usize) {
    remap(patch, size, |x, y| y * size + (size - 1 - x));
}

fn flip_y(patch: &mut Patch, size: usize) {
    remap(patch, size, |x, y| (size - 1 - y) * size + x);
}

fn rotate90(patch: &mut Patch, size: usize) {
    remap(patch, size, |x, y| x * size + (size - 1 - y));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn sample(w: usize, h: usize) -> Sample {
        let image = FloatPlane::new(w, h, (0..w * h).map(|i| i as f32).collect());
        let data = (0..w * h)
            .map(|i| u32::from((i % w) > w / 2 && (i / w) > h / 2))
            .collect();
        let truth = Labels {
            width: w,
            height: h,
            data,
            count: 1,
        };
        Sample::new("s", image, truth, None).expect("sample")
    }

    /// A 16² patch of `s` alone, unaugmented.
    fn plain_patch(s: &Sample, rng: &mut ChaCha8Rng) -> Patch {
        random_patch(
            std::slice::from_ref(s),
            16,
            &Augmentation::NONE,
            PatchDraw::ByArea,
            rng,
        )
    }

    #[test]
    fn patches_without_augmentation_are_exact_crops() {
        let s = sample(40, 30);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..20 {
            let p = plain_patch(&s, &mut rng);
            let first = p.image[0] as usize;
            let (x0, y0) = (first % 40, first / 40);
            for y in 0..16 {
                for x in 0..16 {
                    let i = (y0 + y) * 40 + x0 + x;
                    assert_eq!(p.image[y * 16 + x], i as f32);
                    assert_eq!(p.target[y * 16 + x], s.target[i]);
                }
            }
            assert!(p.weight.iter().all(|&w| w == 1.0));
        }
    }

    #[test]
    fn a_patch_larger_than_the_image_is_padded_with_zero_weight() {
        let s = sample(10, 8);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let p = plain_patch(&s, &mut rng);
        let zero = p.weight.iter().filter(|&&w| w == 0.0).count();
        assert_eq!(zero, 16 * 16 - 10 * 8);
    }

    /// A 32 × 32 sample whose target is a fifth of its pixels, scattered, and whose image is
    /// `brightness` × the target, so any change of the patch's geometry or values shows.
    fn speckled_sample(brightness: f32) -> Sample {
        let (w, h) = (32, 32);
        let data: Vec<u32> = (0..w * h).map(|i| u32::from((i * 7919) % 5 == 0)).collect();
        let image = FloatPlane::new(w, h, data.iter().map(|&l| l as f32 * brightness).collect());
        let truth = Labels {
            width: w,
            height: h,
            data,
            count: 1,
        };
        Sample::new("s", image, truth, None).expect("sample")
    }

    #[test]
    fn augmentation_keeps_image_and_target_aligned() {
        // Image equals 10 × target: any geometric change must keep that true.
        let s = speckled_sample(10.0);
        let aug = Augmentation {
            intensity: 0.0,
            gamma: 0.0,
            scale: 0.0,
            ..Augmentation::default()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..20 {
            let p = random_patch(
                std::slice::from_ref(&s),
                16,
                &aug,
                PatchDraw::ByArea,
                &mut rng,
            );
            for (v, t) in p.image.iter().zip(&p.target) {
                assert_eq!(*v, t * 10.0);
            }
        }
    }

    /// Blur, polarity and noise change the image only: the target stays the exact crop, an
    /// inverted patch is `1 − image`, a blurred one is smoother, a noisy one departs from the
    /// image by about its σ, and each is applied to some patches and not others.
    #[test]
    fn blur_polarity_and_noise_change_the_image_and_keep_the_target() {
        let s = speckled_sample(1.0);
        // Each draw changes one thing from no augmentation at all (no flips or turns either).
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let draw = |aug: &Augmentation, rng: &mut ChaCha8Rng| {
            random_patch(std::slice::from_ref(&s), 16, aug, PatchDraw::ByArea, rng)
        };
        let (mut inverted, mut blurred, mut noisy) = (0, 0, 0);
        for _ in 0..40 {
            let aug = Augmentation {
                invert: true,
                ..Augmentation::NONE
            };
            let p = draw(&aug, &mut rng);
            let same = p.image.iter().zip(&p.target).all(|(v, t)| v == t);
            let flipped = p.image.iter().zip(&p.target).all(|(v, t)| *v == 1.0 - t);
            assert!(same || flipped);
            inverted += usize::from(flipped);

            let aug = Augmentation {
                blur: 2.0,
                ..Augmentation::NONE
            };
            let p = draw(&aug, &mut rng);
            let step: f32 = p.image.windows(2).map(|d| (d[1] - d[0]).abs()).sum();
            let target_step: f32 = p.target.windows(2).map(|d| (d[1] - d[0]).abs()).sum();
            assert!(step <= target_step + 1e-3);
            blurred += usize::from(step < 0.9 * target_step);

            let aug = Augmentation {
                noise: 0.1,
                ..Augmentation::NONE
            };
            let p = draw(&aug, &mut rng);
            let n = p.image.len() as f32;
            let rms = (p
                .image
                .iter()
                .zip(&p.target)
                .map(|(v, t)| (v - t).powi(2))
                .sum::<f32>()
                / n)
                .sqrt();
            assert!(rms < 0.13, "noise of σ at most 0.1: rms {rms}");
            noisy += usize::from(rms > 0.0);
        }
        for (what, count) in [
            ("inverted", inverted),
            ("blurred", blurred),
            ("noisy", noisy),
        ] {
            assert!((8..=32).contains(&count), "{count} of 40 patches {what}");
        }
        let bad = Augmentation {
            blur: f32::NAN,
            ..Augmentation::default()
        };
        assert!(bad.validate().is_err());
        assert!(Augmentation::default().validate().is_ok());
    }

    #[test]
    fn same_seed_same_patches() {
        let s = sample(40, 30);
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            random_patch(
                std::slice::from_ref(&s),
                16,
                &Augmentation::default(),
                PatchDraw::ByArea,
                &mut rng,
            )
        };
        assert_eq!(draw(5), draw(5));
        assert_ne!(draw(5), draw(6));
    }

    /// Catches a per-dataset draw that still follows area (the small dataset starved) or that
    /// shares by sample count within a dataset.
    #[test]
    fn per_dataset_draw_gives_each_dataset_the_same_share_of_patches() {
        // Dataset 0: one 64×64 image; dataset 1: two images, 128×128 and 64×64, 5× its area.
        let small = |v: f32| {
            let image = FloatPlane::new(64, 64, vec![v; 64 * 64]);
            let truth = Labels {
                width: 64,
                height: 64,
                data: vec![0; 64 * 64],
                count: 0,
            };
            Sample::new("s", image, truth, None).expect("sample")
        };
        let large = Sample {
            image: FloatPlane::new(128, 128, vec![2.0; 128 * 128]),
            target: vec![0.0; 128 * 128],
            weight: vec![1.0; 128 * 128],
            truth: Labels {
                width: 128,
                height: 128,
                data: vec![0; 128 * 128],
                count: 0,
            },
            dataset: 1,
            ..small(0.0)
        };
        let samples = vec![
            small(0.0),
            large,
            Sample {
                dataset: 1,
                ..small(1.0)
            },
        ];
        let area = |s: &Sample| (s.image.width * s.image.height) as f64;
        let by_area = PatchDraw::ByArea.shares(&samples, area);
        let per_dataset = PatchDraw::PerDataset.shares(&samples, area);
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12);
        assert!(
            close(&by_area, &[1.0 / 6.0, 4.0 / 6.0, 1.0 / 6.0]),
            "{by_area:?}"
        );
        assert!(close(&per_dataset, &[0.5, 0.4, 0.1]), "{per_dataset:?}");
        // Validation: a plain mean, or each dataset half of the score.
        let scores = [0.2, 0.6, 1.0];
        assert!((PatchDraw::ByArea.validation_mean(&samples, scores) - 0.6).abs() < 1e-12);
        assert!((PatchDraw::PerDataset.validation_mean(&samples, scores) - 0.5).abs() < 1e-12);
        // Patches drawn: the image values say which sample each came from.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut from_first = 0;
        for _ in 0..2000 {
            let p = random_patch(
                &samples,
                16,
                &Augmentation::NONE,
                PatchDraw::PerDataset,
                &mut rng,
            );
            from_first += usize::from(p.image[0] == 0.0);
        }
        assert!((900..1100).contains(&from_first), "{from_first} of 2000");
    }

    #[test]
    fn normalisation_maps_percentiles_to_zero_and_one() {
        let p = FloatPlane::new(100, 10, (0..1000).map(|i| i as f32).collect());
        let n = normalize(&p);
        let lo = n.data[10];
        let hi = n.data[998];
        assert!(lo.abs() < 0.01 && (hi - 1.0).abs() < 0.01, "{lo} {hi}");
    }
}
