//! Find Nuclei across JNI: pixels in (one copy into Rust), probability (unless the caller passes
//! null) and labels out into arrays the caller allocated, measurements out as one packed
//! `double[]` (layout below) that the Java side turns into objects.

use std::sync::mpsc;
use std::time::Instant;

use brightseg::image::{Calibration, PixelData, Plane};
use brightseg::measure::{ObjectMeasurement, PopulationStats};
use brightseg::pipeline::{find_nuclei, Findings, NucleiParams, Progress, Stage};
use brightseg::refine::Refinement;
use jni::objects::{JByteArray, JFloatArray, JIntArray, JObject, JPrimitiveArray, TypeArray};
use jni::{jni_sig, jni_str, Env, JValue};

use crate::error::{JniError, JniResult};
use crate::session;

/// Values before the statistics in the packed result: threshold, minimum size µm², pixel width
/// µm, pixel height µm, calibrated (1/0), number of objects, objects dropped by the exclusion
/// mask, milliseconds spent in the segmentation itself (so a caller can tell the JNI call's own
/// cost from the work), uncertain pixels in percent (NaN: no candidates), and whether the model
/// may not suit the image (1/0; see [`brightseg::measure::Certainty`]).
pub const HEADER_LEN: usize = 10;

/// The arrays a Find Nuclei call fills or reads besides the pixels.
pub struct Outputs<'a, 'l> {
    /// Probability output (width × height), or null when the caller does not keep it.
    pub probability: &'a JFloatArray<'l>,
    /// Label output (width × height).
    pub labels: &'a JIntArray<'l>,
    /// Exclusion mask (width × height, non-zero = excluded), or null.
    pub exclusion: &'a JByteArray<'l>,
}
/// Values per object in the packed result, in [`ObjectMeasurement::COLUMNS`] order.
pub const OBJECT_LEN: usize = ObjectMeasurement::COLUMNS.len();
/// Values of the statistics in the packed result, in [`PopulationStats::COLUMNS`] order.
pub const STATS_LEN: usize = PopulationStats::COLUMNS.len();

/// Settings of one call, as Java passed them. NaN threshold, minimum size or split depth: the
/// model's default.
/// NaN pixel width: the image is uncalibrated.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Model handle.
    pub handle: i64,
    /// Image width in pixels.
    pub width: i32,
    /// Image height in pixels.
    pub height: i32,
    /// Pixel width in µm, or NaN.
    pub pixel_width_um: f64,
    /// Pixel height in µm, or NaN (then square pixels).
    pub pixel_height_um: f64,
    /// Probability threshold, or NaN.
    pub threshold: f64,
    /// Minimum size in µm², or NaN.
    pub min_size_um2: f64,
    /// Split touching nuclei.
    pub split: bool,
    /// Split depth in pixels, or NaN.
    pub split_depth_px: f64,
    /// Refinement of the mask: -1 the model's, 0 none, 1 dark, 2 departure.
    pub refine: i32,
    /// Accept a pixel size far from the model's (see [`NucleiParams::accept_any_pixel_size`]).
    pub any_pixel_size: bool,
}

impl Request {
    fn pixel_count(&self) -> JniResult<usize> {
        let (w, h) = (self.width, self.height);
        if w <= 0 || h <= 0 {
            return Err(JniError::InvalidArgument(format!(
                "image size {w} × {h} is invalid: width and height must be positive"
            )));
        }
        (w as usize)
            .checked_mul(h as usize)
            .ok_or_else(|| JniError::InvalidArgument(format!("image size {w} × {h} is too large")))
    }

    fn calibration(&self) -> JniResult<Calibration> {
        let check = |v: f64, what: &str| -> JniResult<Option<f64>> {
            if v.is_nan() {
                Ok(None)
            } else if v.is_finite() && v > 0.0 {
                Ok(Some(v))
            } else {
                Err(JniError::InvalidArgument(format!(
                    "pixel {what} {v} µm is invalid: give a positive size, or NaN when the image \
                     is not calibrated"
                )))
            }
        };
        let pw = check(self.pixel_width_um, "width")?;
        let ph = check(self.pixel_height_um, "height")?.or(pw);
        Ok(Calibration {
            pixel_width_um: pw,
            pixel_height_um: if pw.is_some() { ph } else { None },
        })
    }

    fn params(&self) -> JniResult<NucleiParams> {
        let given = |v: f64| (!v.is_nan()).then_some(v);
        let refine = match self.refine {
            -1 => None,
            0 => Some(Refinement::None),
            1 => Some(Refinement::Dark),
            2 => Some(Refinement::Departure),
            other => {
                return Err(JniError::InvalidArgument(format!(
                    "refinement code {other} is invalid: -1 (the model's), 0 none, 1 dark or \
                     2 departure"
                )))
            }
        };
        Ok(NucleiParams {
            threshold: given(self.threshold).map(|t| t as f32),
            min_size_um2: given(self.min_size_um2),
            split: self.split,
            split_depth_px: given(self.split_depth_px).map(|d| d as f32),
            refine,
            accept_any_pixel_size: self.any_pixel_size,
        })
    }
}

/// Checks that `array` is not null and holds exactly `expected` values.
fn check_len<T: TypeArray>(
    env: &Env<'_>,
    array: &JPrimitiveArray<'_, T>,
    expected: usize,
    what: &str,
) -> JniResult<()> {
    if array.is_null() {
        return Err(JniError::InvalidArgument(format!(
            "the {what} array is null"
        )));
    }
    let len = array.len(env)?;
    if len != expected {
        return Err(JniError::InvalidArgument(format!(
            "the {what} array has {len} values but width × height is {expected}"
        )));
    }
    Ok(())
}

/// Copies a Java array of exactly `expected` values into a Rust vector (the one copy).
pub fn read_array<T: TypeArray + Default + Clone>(
    env: &Env<'_>,
    array: &JPrimitiveArray<'_, T>,
    expected: usize,
    what: &str,
) -> JniResult<Vec<T>> {
    check_len(env, array, expected, what)?;
    let mut values = vec![T::default(); expected];
    array.get_region(env, 0, &mut values)?;
    Ok(values)
}

/// Pixels as ImageJ holds them: `byte[]` (8-bit), `short[]` (16-bit), `float[]` (32-bit).
/// Java's signed bytes and shorts are reinterpreted as unsigned, as ImageJ does.
pub fn plane_from_java<T: TypeArray + Default + Clone>(
    env: &Env<'_>,
    pixels: &JPrimitiveArray<'_, T>,
    request: &Request,
    convert: fn(Vec<T>) -> PixelData,
) -> JniResult<Plane> {
    let n = request.pixel_count()?;
    let values = read_array(env, pixels, n, "pixel")?;
    Ok(Plane::new(
        request.width as usize,
        request.height as usize,
        convert(values),
    )?)
}

/// `byte[]` to 8-bit pixels (reinterpreting, in place).
pub fn bytes_to_pixels(v: Vec<i8>) -> PixelData {
    PixelData::U8(v.into_iter().map(|b| b as u8).collect())
}

/// `short[]` to 16-bit pixels (reinterpreting, in place).
pub fn shorts_to_pixels(v: Vec<i16>) -> PixelData {
    PixelData::U16(v.into_iter().map(|s| s as u16).collect())
}

/// `float[]` to 32-bit pixels.
pub fn floats_to_pixels(v: Vec<f32>) -> PixelData {
    PixelData::F32(v)
}

/// Runs Find Nuclei on `plane`, reporting progress to `listener` (an
/// `io.github.brightseg.ProgressListener`, or null) on the calling thread, fills the output
/// arrays and returns the packed measurements.
pub fn run<'local>(
    env: &mut Env<'local>,
    plane: Plane,
    request: &Request,
    outputs: &Outputs<'_, '_>,
    listener: &JObject<'_>,
) -> JniResult<Vec<f64>> {
    let (probability_out, labels_out) = (outputs.probability, outputs.labels);
    let n = request.pixel_count()?;
    let keep_probability = !probability_out.is_null();
    if keep_probability {
        check_len(env, probability_out, n, "probability output")?;
    }
    check_len(env, labels_out, n, "label output")?;
    let exclusion: Option<Vec<bool>> = if outputs.exclusion.is_null() {
        None
    } else {
        let mask = read_array(env, outputs.exclusion, n, "exclusion mask")?;
        Some(mask.into_iter().map(|v| v != 0).collect())
    };
    let calibration = request.calibration()?;
    let params = request.params()?;
    params.validate()?;
    let session = session::get(request.handle)?;
    // Calls running at once on other Java threads draw from one memory budget: this one waits
    // here, on the calling thread and outside the model's worker pool, until it fits beside them.
    let plan = session.pool.install(|| {
        session
            .model
            .plan(plane.width(), plane.height(), calibration, &params)
    })?;
    let _memory = session.model.reserve(&plane, &plan)?;

    // The work runs on a helper thread inside the model's pool; this (Java) thread forwards its
    // progress to the listener, since only it may call into Java.
    let started = Instant::now();
    let (sender, receiver) = mpsc::channel::<Progress>();
    let mut listener_failed = false;
    let outcome = std::thread::scope(|scope| {
        let session = &session;
        let plane = &plane;
        let worker = scope.spawn(move || {
            let report = |p: Progress| {
                let _ = sender.send(p);
            };
            session
                .pool
                .install(|| find_nuclei(&session.model, plane, calibration, &params, &report))
        });
        for p in receiver {
            if !listener_failed && !listener.is_null() {
                let stage = match p.stage {
                    Stage::Inference => 0,
                    Stage::Objects => 1,
                };
                let args = [
                    JValue::Int(stage),
                    JValue::Int(clamp_i32(p.done)),
                    JValue::Int(clamp_i32(p.total)),
                ];
                let called =
                    env.call_method(listener, jni_str!("onProgress"), jni_sig!("(III)V"), &args);
                // An exception from the listener (a cancel, say) stays pending for Java; the
                // work finishes, but nothing more is reported.
                listener_failed = called.is_err();
            }
        }
        worker.join()
    });
    let mut result = match outcome {
        Ok(result) => result?,
        Err(payload) => std::panic::resume_unwind(payload),
    };
    let excluded = match &exclusion {
        Some(mask) => result.exclude_overlapping(mask, &plane),
        None => 0,
    };
    let work_ms = started.elapsed().as_secs_f64() * 1000.0;
    if listener_failed {
        return Err(JniError::Jni(jni::errors::Error::JavaException));
    }
    if keep_probability {
        probability_out.set_region(env, 0, &result.probability)?;
    }
    // Labels never exceed the pixel count, which a Java array keeps below 2³¹: the u32 values
    // are the same i32 values, so they go to Java without a converted copy.
    labels_out.set_region(
        env,
        0,
        bytemuck::cast_slice::<u32, i32>(&result.labels.data),
    )?;
    Ok(pack(&result.found, excluded, work_ms))
}

fn clamp_i32(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Packs the measurements: header ([`HEADER_LEN`]), statistics ([`STATS_LEN`]), then
/// [`OBJECT_LEN`] values per object.
pub fn pack(found: &Findings, excluded: usize, work_ms: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(HEADER_LEN + STATS_LEN + OBJECT_LEN * found.objects.len());
    out.extend([
        f64::from(found.threshold),
        found.min_size_um2,
        found.pixel_width_um,
        found.pixel_height_um,
        if found.calibrated { 1.0 } else { 0.0 },
        found.objects.len() as f64,
        excluded as f64,
        work_ms,
        found.certainty.uncertain_percent(),
        if found.poor_fit { 1.0 } else { 0.0 },
    ]);
    out.extend(found.stats.values());
    for o in &found.objects {
        out.extend(o.values());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request {
            handle: 0,
            width: 4,
            height: 3,
            pixel_width_um: f64::NAN,
            pixel_height_um: f64::NAN,
            threshold: f64::NAN,
            min_size_um2: 12.5,
            split: true,
            split_depth_px: f64::NAN,
            refine: -1,
            any_pixel_size: false,
        }
    }

    #[test]
    fn nan_means_model_default_and_uncalibrated() {
        let r = request();
        assert_eq!(r.pixel_count().expect("valid"), 12);
        let c = r.calibration().expect("valid");
        assert_eq!((c.pixel_width_um, c.pixel_height_um), (None, None));
        let p = r.params().expect("valid");
        assert_eq!((p.threshold, p.min_size_um2), (None, Some(12.5)));
        assert_eq!((p.split_depth_px, p.refine), (None, None));
        let deeper = Request {
            split_depth_px: 2.0,
            ..r
        };
        assert_eq!(deeper.params().expect("valid").split_depth_px, Some(2.0));
        let dark = Request { refine: 1, ..r };
        assert_eq!(dark.params().expect("valid").refine, Some(Refinement::Dark));
        assert!(matches!(
            Request { refine: 7, ..r }.params(),
            Err(JniError::InvalidArgument(_))
        ));
        let square = Request {
            pixel_width_um: 0.65,
            ..r
        };
        let c = square.calibration().expect("valid");
        assert_eq!(
            (c.pixel_width_um, c.pixel_height_um),
            (Some(0.65), Some(0.65))
        );
    }

    #[test]
    fn bad_sizes_and_calibrations_are_invalid_arguments() {
        for bad in [
            Request {
                width: 0,
                ..request()
            },
            Request {
                height: -3,
                ..request()
            },
        ] {
            assert!(matches!(
                bad.pixel_count(),
                Err(JniError::InvalidArgument(_))
            ));
        }
        for v in [0.0, -1.0, f64::INFINITY] {
            let bad = Request {
                pixel_width_um: v,
                ..request()
            };
            assert!(matches!(
                bad.calibration(),
                Err(JniError::InvalidArgument(_))
            ));
        }
    }

    #[test]
    fn signed_java_values_become_unsigned_pixels() {
        match bytes_to_pixels(vec![-1, 0, 127, -128]) {
            PixelData::U8(v) => assert_eq!(v, vec![255, 0, 127, 128]),
            other => panic!("not 8-bit: {}", other.type_name()),
        }
        match shorts_to_pixels(vec![-1, 1000, i16::MIN]) {
            PixelData::U16(v) => assert_eq!(v, vec![65535, 1000, 32768]),
            other => panic!("not 16-bit: {}", other.type_name()),
        }
    }

    #[test]
    fn packed_layout_is_header_stats_objects() {
        let sizes = [10.0, 30.0];
        let objects: Vec<ObjectMeasurement> = (1..=2)
            .map(|id| ObjectMeasurement {
                id,
                area_px: 10,
                area_um2: sizes[id as usize - 1],
                centroid_x_um: 1.0,
                centroid_y_um: 2.0,
                bbox_x: 0,
                bbox_y: 0,
                bbox_width: 3,
                bbox_height: 4,
                mean_probability: 0.9,
                mean_intensity: 100.0,
                roundness: 0.8,
            })
            .collect();
        let found = Findings {
            stats: PopulationStats::from_sizes(&sizes),
            objects,
            threshold: 0.5,
            min_size_um2: 10.0,
            pixel_width_um: 0.5,
            pixel_height_um: 0.5,
            calibrated: true,
            backend: "tract".into(),
            certainty: brightseg::measure::Certainty {
                candidate_pixels: 100,
                uncertain_pixels: 25,
            },
            poor_fit: true,
        };
        let packed = pack(&found, 3, 12.5);
        assert_eq!(packed.len(), HEADER_LEN + STATS_LEN + 2 * OBJECT_LEN);
        assert_eq!(
            &packed[..HEADER_LEN],
            &[0.5, 10.0, 0.5, 0.5, 1.0, 2.0, 3.0, 12.5, 25.0, 1.0]
        );
        assert_eq!(packed[HEADER_LEN], 2.0); // Number of Objects
        assert_eq!(packed[HEADER_LEN + 1], 20.0); // Size mean
        let second = HEADER_LEN + STATS_LEN + OBJECT_LEN;
        assert_eq!(&packed[second..second + 2], &[2.0, 30.0]);
    }
}
