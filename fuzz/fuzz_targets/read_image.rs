//! Image decoding (TIFF incl. ImageJ hyperstacks and OME-TIFF, PNG, JPEG) on arbitrary bytes:
//! an image or an error, never a panic, a hang or an allocation beyond the budget.
#![no_main]

use std::path::Path;

use brightseg::budget::MemoryBudget;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // 64 MB, far above every seed: inputs whose headers claim a few hundred MB would otherwise
    // spend each execution zeroing a buffer that the missing data then leaves unused.
    let budget = MemoryBudget::bytes(64 << 20);
    if let Ok(image) = brightseg::io::read_image_from_bytes(data, Path::new("fuzz.tif"), budget) {
        // What the pipeline does next with a decoded image.
        for name in [None, Some("1"), Some("DAPI")] {
            if let Ok(c) = image.resolve_channel(name) {
                let plane = image.plane(c, image.slices() - 1, image.frames() - 1);
                let _ = plane.min_max();
                let _ = plane.check_finite();
            }
        }
    }
});
