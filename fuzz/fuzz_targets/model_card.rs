//! Model description parsing (bioimageio.yaml 0.5, rdf.yaml 0.4, brightseg's config) on arbitrary
//! text: a card or an error, never a panic; a card never points outside its folder.
#![no_main]

use std::path::Path;

use brightseg::model::{ModelCard, MAX_TILE_EDGE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let folder = Path::new("/models/fuzz");
    if let Ok(card) = ModelCard::parse(text, folder, &folder.join("bioimageio.yaml")) {
        assert!(
            card.onnx_path.starts_with(folder),
            "weights outside the model folder: {}",
            card.onnx_path.display()
        );
        // Whatever the description says, tiles stay within what brightseg runs, and defaults
        // keep their meaning.
        for (h, w) in [(1, 1), (100, 3000), (512, 512), (100_000, 100_000)] {
            let (th, tw) = card.tile_shape(h, w);
            assert!(
                th <= MAX_TILE_EDGE && tw <= MAX_TILE_EDGE,
                "tile {th} × {tw}"
            );
            let _ = card.input_shape(th, tw);
        }
        assert!((0.0..=1.0).contains(&card.defaults.threshold));
        assert!(card.defaults.min_size_um2 >= 0.0);
    }
});
