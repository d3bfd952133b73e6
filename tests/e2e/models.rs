//! The third-party bioimage.io model runs unmodified and reproduces its own test output; tiled
//! inference equals whole-image inference; probabilities equal onnxruntime's.

use std::path::Path;

use brightseg::image::{PixelData, Plane};
use brightseg::normalize::{sigmoid, Normalizer};
use brightseg::pipeline::Model;
use brightseg::ErrorKind;

use crate::util::*;

fn test_input(model_dir: &Path) -> Plane {
    let (shape, data) = read_npy::<f32>(&model_dir.join("test_input.npy"));
    assert_eq!(shape, [1, 1, 512, 512]);
    Plane::new(512, 512, PixelData::F32(data)).expect("plane")
}

#[test]
fn unet2d_nuclei_broad_reproduces_its_test_output_with_both_card_formats() {
    let Some(dir) = shared_model() else { return };
    let input = test_input(&dir);
    let (_, expected) = read_npy::<f32>(&dir.join("test_output.npy"));
    for card in ["bioimageio.yaml", "v0_4_9.bioimageio.yaml"] {
        let model = Model::load(&dir.join(card)).expect("the zoo model loads unmodified");
        let prob = model.predict(&input, &|_| {}).expect("predict");
        let diff = max_abs_diff(&prob, &expected);
        println!("{card}: max abs difference to test_output.npy = {diff:e}");
        assert!(diff <= 1e-4, "{card}: {diff}");
    }
}

#[test]
fn tiled_inference_equals_whole_image_inference() {
    let Some(dir) = shared_model() else { return };
    let Some(img) = data("stardist/img2d.tif") else {
        return;
    };
    let image = brightseg::io::read_image(&img).expect("read");
    let src = image.plane(0, 0, 0);
    // A 1024 × 768 mosaic of the real image, mirrored so there are no hard edges.
    let (w, h) = (1024usize, 768usize);
    let pixels: Vec<u16> = (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let sx = if x < 512 { x } else { 1023 - x };
            let sy = if y < 512 { y } else { 1023 - y };
            src.at(sx, sy) as u16
        })
        .collect();
    let plane = Plane::new(w, h, PixelData::U16(pixels)).expect("plane");
    let sizes = "{min: 64, step: 8}";
    let whole = Model::load(&dynamic_model(&dir, 4096, sizes)).expect("load");
    let tiled = Model::load(&dynamic_model(&dir, 256, sizes)).expect("load");
    let p_whole = whole.predict(&plane, &|_| {}).expect("whole");
    let tiles = std::sync::atomic::AtomicUsize::new(0);
    let p_tiled = tiled
        .predict(&plane, &|p| {
            tiles.fetch_max(p.total, std::sync::atomic::Ordering::Relaxed);
        })
        .expect("tiled");
    let tiles = tiles.into_inner();
    let diff = max_abs_diff(&p_whole, &p_tiled);
    println!("{tiles} tiles of 256² vs one 1024×768 pass: max abs difference {diff:e}");
    assert!(tiles >= 20, "the image was really tiled ({tiles} tiles)");
    assert!(diff <= 1e-3, "{diff}");
}

/// Images smaller than the model's fixed tile, or of sizes that are not a multiple of it, are
/// padded and cut back in place: their probabilities follow the 512² test input's at the same
/// pixels. Catches an output that is shifted, transposed or cut from the wrong corner of the
/// padded tile (mean differences 0.1–0.3 in that case, against the few thousandths that another
/// normalisation range and less context give).
#[test]
fn images_smaller_than_a_tile_and_odd_sizes_work() {
    let Some(dir) = shared_model() else { return };
    let model = Model::load(&dir).expect("load");
    let input = test_input(&dir);
    let whole = model.predict(&input, &|_| {}).expect("predict");
    let one = Plane::new(1, 1, PixelData::F32(vec![input.at(200, 200)])).expect("plane");
    let p = model.predict(&one, &|_| {}).expect("predict");
    assert!(p.len() == 1 && (0.0..=1.0).contains(&p[0]), "{p:?}");
    // (x0, y0, w, h): crops of the test input, and a plane larger than one tile that mirrors it.
    for (x0, y0, w, h) in [(100, 60, 37, 300), (0, 0, 700, 519), (233, 101, 255, 129)] {
        let mirror = |v: usize| if v < 512 { v } else { 1022 - v };
        let data: Vec<f32> = (0..w * h)
            .map(|i| input.at(mirror(x0 + i % w), mirror(y0 + i / w)))
            .collect();
        let plane = Plane::new(w, h, PixelData::F32(data)).expect("plane");
        let p = model.predict(&plane, &|_| {}).expect("predict");
        assert_eq!(p.len(), w * h);
        assert!(
            p.iter().all(|v| (0.0..=1.0).contains(v)),
            "{w}×{h}: probabilities in [0, 1]"
        );
        let (mut sum, mut n, mut shifted) = (0.0, 0usize, 0.0);
        for y in 0..h.min(512 - y0) {
            for x in 0..w.min(512 - x0) {
                let at_whole = whole[(y0 + y) * 512 + x0 + x];
                sum += f64::from((p[y * w + x] - at_whole).abs());
                let xs = (x0 + x + 7).min(511);
                shifted += f64::from((p[y * w + x] - whole[(y0 + y) * 512 + xs]).abs());
                n += 1;
            }
        }
        let (mean, shifted) = (sum / n as f64, shifted / n as f64);
        println!("{w}×{h} at ({x0}, {y0}): mean |difference| {mean:.4}, 7 px shifted {shifted:.4}");
        assert!(mean < 0.02, "{w}×{h}: mean difference {mean}");
        assert!(
            shifted > 0.05,
            "{w}×{h}: the crop has nuclei, so a shift shows"
        );
    }
}

#[test]
fn probability_matches_onnxruntime() {
    let (Some(dir), Some(py)) = (shared_model(), python()) else {
        return;
    };
    let model = Model::load(&dir).expect("load");
    let input = test_input(&dir);
    let ours = model.predict(&input, &|_| {}).expect("predict");
    let norm = Normalizer::for_plane(&input, &model.card().preprocessing);
    let normalised: Vec<f32> = (0..512 * 512).map(|i| norm.apply(input.value(i))).collect();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (x, y) = (tmp.path().join("x.npy"), tmp.path().join("y.npy"));
    write_npy(&x, &[1, 1, 512, 512], &normalised);
    oracle(
        &py,
        &[
            os("onnx"),
            dir.join("weights.onnx").as_os_str(),
            x.as_os_str(),
            y.as_os_str(),
        ],
    );
    let (_, logits) = read_npy::<f32>(&y);
    let reference: Vec<f32> = logits.iter().map(|&v| sigmoid(v)).collect();
    let diff = max_abs_diff(&ours, &reference);
    println!("tract vs onnxruntime on the same normalised input: max abs difference {diff:e}");
    assert!(diff <= 1e-4, "{diff}");
}

#[test]
fn a_card_that_lies_about_shapes_is_refused_at_load() {
    let Some(dir) = shared_model() else { return };
    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::copy(dir.join("weights.onnx"), folder.path().join("weights.onnx")).expect("copy");
    let card = std::fs::read_to_string(dir.join("bioimageio.yaml"))
        .expect("card")
        .replace("size: 512", "size: 256");
    std::fs::write(folder.path().join("bioimageio.yaml"), card).expect("write");
    let e = Model::load(folder.path())
        .err()
        .expect("a lying card must be refused");
    assert_eq!(e.kind(), ErrorKind::Model);
    assert!(e.to_string().contains("does not match"), "{e}");
}
