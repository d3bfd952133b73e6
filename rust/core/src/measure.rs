//! Per-object measurements and the population statistics Harmony reports.

use crate::image::Plane;
use crate::objects::{fold_labels_from, Labels};

/// Measurements of one object. Positions are in µm with ImageJ's convention (pixel centres at
/// +0.5); the bounding box is in pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeasurement {
    /// Label in the label image (1-based).
    pub id: u32,
    /// Area in pixels.
    pub area_px: u64,
    /// Area in µm².
    pub area_um2: f64,
    /// Centroid x in µm.
    pub centroid_x_um: f64,
    /// Centroid y in µm.
    pub centroid_y_um: f64,
    /// Bounding box left column (pixels).
    pub bbox_x: usize,
    /// Bounding box top row (pixels).
    pub bbox_y: usize,
    /// Bounding box width (pixels).
    pub bbox_width: usize,
    /// Bounding box height (pixels).
    pub bbox_height: usize,
    /// Mean model probability over the object.
    pub mean_probability: f64,
    /// Mean intensity of the input channel over the object.
    pub mean_intensity: f64,
    /// Minor over major axis of the fitted ellipse, in (0, 1] (ImageJ's "Round").
    pub roundness: f64,
}

impl ObjectMeasurement {
    /// Column names of a per-object table, units in brackets, in [`ObjectMeasurement::values`]
    /// order. The CLI's CSV and the Fiji Results table both use this list.
    pub const COLUMNS: [&'static str; 11] = [
        "Object",
        "Area [µm²]",
        "X [µm]",
        "Y [µm]",
        "BX [px]",
        "BY [px]",
        "Width [px]",
        "Height [px]",
        "Mean Probability",
        "Mean Intensity",
        "Roundness",
    ];

    /// The values in [`ObjectMeasurement::COLUMNS`] order.
    pub fn values(&self) -> [f64; 11] {
        [
            f64::from(self.id),
            self.area_um2,
            self.centroid_x_um,
            self.centroid_y_um,
            self.bbox_x as f64,
            self.bbox_y as f64,
            self.bbox_width as f64,
            self.bbox_height as f64,
            self.mean_probability,
            self.mean_intensity,
            self.roundness,
        ]
    }
}

#[derive(Clone, Copy)]
struct Acc {
    n: u64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    sp: f64,
    si: f64,
}

/// Measures every object of `labels` over the probability map and the input plane.
pub fn measure_objects(
    labels: &Labels,
    probability: &[f32],
    input: &Plane,
    pixel_width_um: f64,
    pixel_height_um: f64,
) -> Vec<ObjectMeasurement> {
    measure_objects_from(
        labels,
        probability,
        input,
        (pixel_width_um, pixel_height_um),
        0,
    )
}

/// [`measure_objects`] on rows that start at row `first_row` of a larger plane (a band):
/// positions are the larger plane's, and every sum is taken in the same order as on the
/// whole plane, so an object measured in a band gets bit-identical values.
pub(crate) fn measure_objects_from(
    labels: &Labels,
    probability: &[f32],
    input: &Plane,
    (pixel_width_um, pixel_height_um): (f64, f64),
    first_row: usize,
) -> Vec<ObjectMeasurement> {
    let empty = Acc {
        n: 0,
        sx: 0.0,
        sy: 0.0,
        sxx: 0.0,
        syy: 0.0,
        sxy: 0.0,
        x0: usize::MAX,
        y0: usize::MAX,
        x1: 0,
        y1: 0,
        sp: 0.0,
        si: 0.0,
    };
    let w = labels.width.max(1);
    let acc = fold_labels_from(
        &labels.data,
        w,
        labels.count,
        first_row,
        &empty,
        |a, i| {
            let (x, y) = (i % w, i / w + first_row);
            let (fx, fy) = (x as f64, y as f64);
            a.n += 1;
            a.sx += fx;
            a.sy += fy;
            a.sxx += fx * fx;
            a.syy += fy * fy;
            a.sxy += fx * fy;
            a.x0 = a.x0.min(x);
            a.y0 = a.y0.min(y);
            a.x1 = a.x1.max(x);
            a.y1 = a.y1.max(y);
            a.sp += f64::from(probability[i]);
            a.si += f64::from(input.value(i));
        },
        |a, b| {
            if b.n == 0 {
                return;
            }
            a.n += b.n;
            a.sx += b.sx;
            a.sy += b.sy;
            a.sxx += b.sxx;
            a.syy += b.syy;
            a.sxy += b.sxy;
            a.x0 = a.x0.min(b.x0);
            a.y0 = a.y0.min(b.y0);
            a.x1 = a.x1.max(b.x1);
            a.y1 = a.y1.max(b.y1);
            a.sp += b.sp;
            a.si += b.si;
        },
    );
    acc.iter()
        .enumerate()
        .skip(1)
        .filter(|(_, a)| a.n > 0)
        .map(|(id, a)| {
            let n = a.n as f64;
            let (mx, my) = (a.sx / n, a.sy / n);
            // Central moments in µm², with the 1/12 of a pixel's own extent as ImageJ adds it.
            let (pw2, ph2) = (
                pixel_width_um * pixel_width_um,
                pixel_height_um * pixel_height_um,
            );
            let mu20 = (a.sxx / n - mx * mx + 1.0 / 12.0) * pw2;
            let mu02 = (a.syy / n - my * my + 1.0 / 12.0) * ph2;
            let mu11 = (a.sxy / n - mx * my) * pixel_width_um * pixel_height_um;
            let mid = (mu20 + mu02) / 2.0;
            let spread = (((mu20 - mu02) / 2.0).powi(2) + mu11 * mu11).sqrt();
            let (major, minor) = (mid + spread, (mid - spread).max(0.0));
            ObjectMeasurement {
                id: id as u32,
                area_px: a.n,
                area_um2: n * pixel_width_um * pixel_height_um,
                centroid_x_um: (mx + 0.5) * pixel_width_um,
                centroid_y_um: (my + 0.5) * pixel_height_um,
                bbox_x: a.x0,
                bbox_y: a.y0,
                bbox_width: a.x1 - a.x0 + 1,
                bbox_height: a.y1 - a.y0 + 1,
                mean_probability: a.sp / n,
                mean_intensity: a.si / n,
                roundness: if major > 0.0 {
                    (minor / major).sqrt()
                } else {
                    1.0
                },
            }
        })
        .collect()
}

/// Columns of a summary table (one row per image plane) before [`PopulationStats::COLUMNS`].
/// The CLI's `summary.csv` and the Fiji summary table share this layout.
pub const SUMMARY_LEAD_COLUMNS: [&str; 6] = ["Image", "Channel", "T", "Z", "Status", "Message"];

/// Columns of a summary table after [`PopulationStats::COLUMNS`]: the settings that produced it,
/// and how sure the model was of the image ([`Certainty`]).
pub const SUMMARY_TAIL_COLUMNS: [&str; 6] = [
    "Threshold",
    "Minimum Size [µm²]",
    "Pixel Size [µm]",
    "Model",
    "Backend",
    "Uncertain Pixels [%]",
];

/// The message a summary row carries when [`Certainty::poor_fit`] says the model may not suit
/// the image.
pub const POOR_FIT_MESSAGE: &str = "the model may not suit this image (many uncertain pixels): \
                                    fine-tune it on one field with a nuclear stain";

/// How sure a model was of an image, from its probability map: of the pixels it gave some
/// chance of being an object (probability above [`Certainty::CANDIDATE`]), the share it left
/// uncertain (below [`Certainty::CERTAIN`]). A model that suits the images outlines objects
/// with thin uncertain rims; on images unlike its training data it leaves wide blurry blobs.
/// The level differs between models (the shipped `nuclei-brightfield`: 13.7–16.0 % on the 10
/// frames of its own assay, object F1 0.42–0.63; the third-party `unet2d_nuclei_broad` 23.7 % on
/// StarDist's img2d, object F1 over 0.7), so an image is flagged against the model's own level
/// ([`Certainty::poor_fit`]): `nuclei-brightfield` gave 18.5–58.8 % (median 31.9 %) on the 52
/// celldetective fields of another lab, where its object F1 is 0.00–0.03; `docs/training.md`
/// has the commands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Certainty {
    /// Pixels with probability above [`Certainty::CANDIDATE`].
    pub candidate_pixels: u64,
    /// Of those, pixels with probability below [`Certainty::CERTAIN`].
    pub uncertain_pixels: u64,
}

impl Certainty {
    /// Probability above which a pixel is a candidate.
    pub const CANDIDATE: f32 = 0.2;
    /// Probability from which a candidate is certain.
    pub const CERTAIN: f32 = 0.8;
    /// Percentage points above the model's own uncertain share (on images it suits) from which
    /// the model may not suit an image.
    pub const POOR_FIT_MARGIN: f64 = 5.0;

    /// The counts of a probability map (or of some of its rows).
    pub fn of(probability: &[f32]) -> Self {
        let mut c = Certainty::default();
        for &p in probability {
            if p > Self::CANDIDATE {
                c.candidate_pixels += 1;
                if p < Self::CERTAIN {
                    c.uncertain_pixels += 1;
                }
            }
        }
        c
    }

    /// Adds the counts of more rows of the same map.
    pub fn add(&mut self, more: Certainty) {
        self.candidate_pixels += more.candidate_pixels;
        self.uncertain_pixels += more.uncertain_pixels;
    }

    /// Uncertain pixels in percent of the candidates; NaN when there are none (an empty image
    /// says nothing about the model).
    pub fn uncertain_percent(&self) -> f64 {
        if self.candidate_pixels == 0 {
            return f64::NAN;
        }
        100.0 * self.uncertain_pixels as f64 / self.candidate_pixels as f64
    }

    /// True when so many more candidates are uncertain than on images the model suits
    /// (`model_percent`, from its card: see [`crate::model::ModelCard::uncertain_percent`]) that
    /// the model may not suit the image. Never true without the model's level.
    pub fn poor_fit(&self, model_percent: Option<f64>) -> bool {
        model_percent.is_some_and(|level| self.uncertain_percent() > level + Self::POOR_FIT_MARGIN)
    }
}

/// The message a summary row carries for an image without calibration.
pub const UNCALIBRATED_MESSAGE: &str = "uncalibrated: 1 µm/pixel assumed";

/// Population statistics of object sizes, named as Harmony names them. Statistics of an empty
/// population are NaN (count and sum are 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PopulationStats {
    /// Number of Objects.
    pub count: usize,
    /// Size [µm²] Mean.
    pub size_mean: f64,
    /// Size [µm²] CV % (100 × StdDev / Mean).
    pub size_cv_percent: f64,
    /// Size [µm²] StdDev (sample standard deviation, n − 1).
    pub size_std_dev: f64,
    /// Size [µm²] Median.
    pub size_median: f64,
    /// Size [µm²] Max.
    pub size_max: f64,
    /// Size [µm²] Min.
    pub size_min: f64,
    /// Size [µm²] Sum.
    pub size_sum: f64,
}

impl PopulationStats {
    /// Column names of the statistics, in the order [`PopulationStats::values`] gives them.
    pub const COLUMNS: [&'static str; 8] = [
        "Number of Objects",
        "Size [µm²] Mean",
        "Size [µm²] CV %",
        "Size [µm²] StdDev",
        "Size [µm²] Median",
        "Size [µm²] Max",
        "Size [µm²] Min",
        "Size [µm²] Sum",
    ];

    /// Statistics of the given object areas (µm²).
    pub fn from_sizes(sizes: &[f64]) -> Self {
        let n = sizes.len();
        let sum: f64 = sizes.iter().sum();
        if n == 0 {
            let nan = f64::NAN;
            return PopulationStats {
                count: 0,
                size_mean: nan,
                size_cv_percent: nan,
                size_std_dev: nan,
                size_median: nan,
                size_max: nan,
                size_min: nan,
                size_sum: 0.0,
            };
        }
        let mean = sum / n as f64;
        let std = if n > 1 {
            (sizes.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        let mut sorted = sizes.to_vec();
        sorted.sort_by(f64::total_cmp);
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        PopulationStats {
            count: n,
            size_mean: mean,
            size_cv_percent: 100.0 * std / mean,
            size_std_dev: std,
            size_median: median,
            size_max: sorted[n - 1],
            size_min: sorted[0],
            size_sum: sum,
        }
    }

    /// The values in [`PopulationStats::COLUMNS`] order.
    pub fn values(&self) -> [f64; 8] {
        [
            self.count as f64,
            self.size_mean,
            self.size_cv_percent,
            self.size_std_dev,
            self.size_median,
            self.size_max,
            self.size_min,
            self.size_sum,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certainty_counts_uncertain_candidates() {
        let c = Certainty::of(&[0.0, 0.1, 0.2, 0.25, 0.5, 0.79, 0.8, 0.95, 1.0, 0.3]);
        // Candidates: 0.25 0.5 0.79 0.8 0.95 1.0 0.3; uncertain: 0.25 0.5 0.79 0.3.
        assert_eq!((c.candidate_pixels, c.uncertain_pixels), (7, 4));
        assert!((c.uncertain_percent() - 400.0 / 7.0).abs() < 1e-12);
        assert!(c.poor_fit(Some(15.0)));
        assert!(
            !c.poor_fit(Some(55.0)),
            "within the margin of the model's own level"
        );
        assert!(!c.poor_fit(None), "no level, no flag");
        let mut sure = Certainty::of(&[0.99; 9]);
        sure.add(Certainty::of(&[0.5]));
        assert_eq!(sure.uncertain_percent(), 10.0);
        assert!(!sure.poor_fit(Some(10.0)));
        assert!(sure.poor_fit(Some(4.9)));
        let empty = Certainty::of(&[0.0, 0.1]);
        assert!(empty.uncertain_percent().is_nan());
        assert!(!empty.poor_fit(Some(0.0)));
    }
    use crate::image::PixelData;

    #[test]
    fn stats_of_known_sizes() {
        let s = PopulationStats::from_sizes(&[10.0, 20.0, 30.0, 40.0]);
        assert_eq!(s.count, 4);
        assert_eq!(s.size_mean, 25.0);
        assert_eq!(s.size_median, 25.0);
        assert!((s.size_std_dev - 12.909_944_487_358_056).abs() < 1e-12);
        assert!((s.size_cv_percent - 51.639_777_949_432_22).abs() < 1e-9);
        assert_eq!((s.size_min, s.size_max, s.size_sum), (10.0, 40.0, 100.0));
        let empty = PopulationStats::from_sizes(&[]);
        assert_eq!(empty.count, 0);
        assert!(empty.size_mean.is_nan());
    }

    #[test]
    fn measures_a_rectangle() {
        // A 4 × 2 rectangle at x 1..5, y 1..3 in a 6 × 4 image, 0.5 µm pixels.
        let mut data = vec![0u32; 24];
        for y in 1..3 {
            for x in 1..5 {
                data[y * 6 + x] = 1;
            }
        }
        let labels = Labels {
            width: 6,
            height: 4,
            data,
            count: 1,
        };
        let prob = vec![0.75f32; 24];
        let plane = Plane::new(6, 4, PixelData::U8(vec![100; 24])).expect("plane");
        let m = &measure_objects(&labels, &prob, &plane, 0.5, 0.5)[0];
        assert_eq!(m.area_px, 8);
        assert_eq!(m.area_um2, 2.0);
        assert_eq!((m.centroid_x_um, m.centroid_y_um), (1.5, 1.0));
        assert_eq!(
            (m.bbox_x, m.bbox_y, m.bbox_width, m.bbox_height),
            (1, 1, 4, 2)
        );
        assert_eq!((m.mean_probability, m.mean_intensity), (0.75, 100.0));
        // Second moments of a 4 × 2 box: (16-1)/12 + 1/12 and (4-1)/12 + 1/12 → ratio 1/4.
        assert!((m.roundness - 0.5).abs() < 1e-12, "{}", m.roundness);
    }

    #[test]
    fn objects_across_row_blocks_measure_like_direct_sums_at_any_thread_count() {
        // Diagonal bands 150 rows tall cross several blocks of rows; a dot sits in one.
        let (w, h) = (90, 300);
        let mut data = vec![0u32; w * h];
        for y in 0..h {
            for x in 0..w {
                let band = (x + y) / 40;
                if (x + y) % 40 < 25 && y < 150 + band * 20 {
                    data[y * w + x] = band as u32 + 1;
                }
            }
        }
        data[250 * w + 3] = 20;
        let count = *data.iter().max().expect("pixels") as usize;
        let labels = Labels {
            width: w,
            height: h,
            data,
            count,
        };
        let prob: Vec<f32> = (0..w * h).map(|i| (i % 97) as f32 / 97.0).collect();
        let plane = Plane::new(
            w,
            h,
            PixelData::U16((0..w * h).map(|i| (i % 4093) as u16).collect()),
        )
        .expect("plane");
        let in_pool = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("pool")
                .install(|| measure_objects(&labels, &prob, &plane, 0.5, 0.25))
        };
        let one = in_pool(1);
        for threads in [2, 3] {
            let many = in_pool(threads);
            assert_eq!(many.len(), one.len());
            for (a, b) in many.iter().zip(&one) {
                assert_eq!(a.values().map(f64::to_bits), b.values().map(f64::to_bits));
            }
        }
        for m in &one {
            let pixels: Vec<usize> = (0..w * h).filter(|&i| labels.data[i] == m.id).collect();
            let n = pixels.len() as f64;
            assert_eq!(m.area_px, pixels.len() as u64);
            let mean = |f: &dyn Fn(usize) -> f64| pixels.iter().map(|&i| f(i)).sum::<f64>() / n;
            assert!((m.centroid_x_um - 0.5 * (mean(&|i| (i % w) as f64) + 0.5)).abs() < 1e-9);
            assert!((m.centroid_y_um - 0.25 * (mean(&|i| (i / w) as f64) + 0.5)).abs() < 1e-9);
            assert!((m.mean_probability - mean(&|i| f64::from(prob[i]))).abs() < 1e-9);
            assert!((m.mean_intensity - mean(&|i| f64::from(plane.value(i)))).abs() < 1e-9);
            let ys = pixels.iter().map(|&i| i / w);
            assert_eq!(m.bbox_y, ys.clone().min().expect("a pixel"));
            assert_eq!(m.bbox_height, ys.max().expect("a pixel") + 1 - m.bbox_y);
        }
        let mut present: Vec<u32> = labels.data.iter().copied().filter(|&l| l != 0).collect();
        present.sort_unstable();
        present.dedup();
        assert_eq!(
            one.len(),
            present.len(),
            "one measurement per object present"
        );
    }
}
