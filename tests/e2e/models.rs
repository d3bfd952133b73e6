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

#[test]
fn images_smaller_than_a_tile_and_odd_sizes_work() {
    let Some(dir) = shared_model() else { return };
    let model = Model::load(&dir).expect("load");
    let input = test_input(&dir);
    for (w, h) in [(1, 1), (37, 300), (700, 519)] {
        let data: Vec<f32> = (0..w * h)
            .map(|i| input.at(i % w % 512, i / w % 512))
            .collect();
        let plane = Plane::new(w, h, PixelData::F32(data)).expect("plane");
        let p = model.predict(&plane, &|_| {}).expect("predict");
        assert_eq!(p.len(), w * h);
        assert!(
            p.iter().all(|v| (0.0..=1.0).contains(v)),
            "{w}×{h}: probabilities in [0, 1]"
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
