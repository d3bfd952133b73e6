//! Model description parsing (bioimageio.yaml 0.5, rdf.yaml 0.4, brightseg's config) on arbitrary
//! text: a card or an error, never a panic; a card never points outside its folder.
#![no_main]

use std::path::Path;

use brightseg::model::ModelCard;
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
        for (h, w) in [(1, 1), (100, 3000), (512, 512)] {
            let (th, tw) = card.tile_shape(h, w);
            let _ = card.input_shape(th, tw);
        }
    }
});
