//! ONNX model loading through tract on arbitrary weights: the file beside a valid description is
//! loaded as `brightseg find-nuclei --backend tract` loads it (parse, check against the
//! description, optimise, run a first tile) and must give a model or an error, never a panic.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use brightseg::backend::{BackendChoice, BackendOptions};
use brightseg::image::{PixelData, Plane};
use brightseg::pipeline::Model;
use libfuzzer_sys::fuzz_target;

/// A dynamic-size 2D U-Net description with small tiles, so that a valid network runs quickly.
const CARD: &str = r#"format_version: 0.5.4
type: model
name: fuzz
inputs:
  - id: raw
    axes:
      - type: batch
      - type: channel
        channel_names: [raw]
      - {type: space, id: y, size: {min: 64, step: 16}}
      - {type: space, id: x, size: {min: 64, step: 16}}
    preprocessing:
      - id: zero_mean_unit_variance
outputs:
  - id: prob
    axes:
      - type: batch
      - type: channel
        channel_names: [prob]
      - {type: space, id: y, halo: 8, size: {tensor_id: raw, axis_id: y}}
      - {type: space, id: x, halo: 8, size: {tensor_id: raw, axis_id: x}}
    postprocessing:
      - id: sigmoid
weights:
  onnx: {source: model.onnx}
config:
  brightseg: {tile_size: 64}
"#;

fn folder() -> &'static PathBuf {
    static FOLDER: OnceLock<PathBuf> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("brightseg-fuzz-onnx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp folder");
        std::fs::write(dir.join("bioimageio.yaml"), CARD).expect("card");
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = folder();
    std::fs::write(dir.join("model.onnx"), data).expect("write weights");
    let options = BackendOptions {
        choice: BackendChoice::Tract,
        threads: 1,
        ort_library: None,
    };
    if let Ok(model) = Model::load_with(dir, &options) {
        let plane = Plane::new(
            70,
            64,
            PixelData::U8((0..70 * 64).map(|i| i as u8).collect()),
        )
        .expect("plane");
        if let Ok(p) = model.predict(&plane, &|_| {}) {
            assert_eq!(p.len(), 70 * 64);
        }
    }
});
