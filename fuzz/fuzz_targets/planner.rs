//! Find Nuclei's planner on arbitrary numbers: image width and height, pixel width and height
//! (any f64: NaN, ∞, negative, absurdly small or large), memory budget, tile size and worker
//! threads, with and without accepting any pixel size. It plans or refuses, never panics, and
//! never accepts a plan above the budget.
#![no_main]

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use brightseg::budget::MemoryBudget;
use brightseg::image::Calibration;
use brightseg::pipeline::{Model, NucleiParams};
use libfuzzer_sys::fuzz_target;

/// Worker pools of 1 to 8 threads: the plan counts the threads of the pool it runs on.
const MOST_THREADS: usize = 8;

struct Planner {
    model: Mutex<Model>,
    default_tile: usize,
    pools: Vec<rayon::ThreadPool>,
}

fn planner() -> &'static Planner {
    static PLANNER: OnceLock<Planner> = OnceLock::new();
    PLANNER.get_or_init(|| {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/nuclei-brightfield");
        let model = Model::load(&folder).expect("the shipped model loads");
        let default_tile = model.card().defaults.tile_size;
        let pools = (1..=MOST_THREADS)
            .map(|n| {
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .build()
                    .expect("worker pool")
            })
            .collect();
        Planner {
            model: Mutex::new(model),
            default_tile,
            pools,
        }
    })
}

/// The input as eight little-endian 64-bit numbers (missing bytes are zero).
fn numbers(data: &[u8]) -> [u64; 8] {
    let mut out = [0u64; 8];
    for (i, chunk) in data.chunks(8).take(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        out[i] = u64::from_le_bytes(bytes);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let [w, h, pw, ph, budget, tile, threads, flags] = numbers(data);
    let calibration = if flags & 1 == 0 {
        Calibration::default()
    } else {
        Calibration {
            pixel_width_um: Some(f64::from_bits(pw)),
            pixel_height_um: Some(f64::from_bits(ph)),
        }
    };
    let params = NucleiParams {
        accept_any_pixel_size: flags & 2 != 0,
        ..NucleiParams::default()
    };
    let planner = planner();
    let mut model = planner.model.lock().unwrap_or_else(|e| e.into_inner());
    model.set_memory_budget(MemoryBudget::bytes(budget));
    // Each input starts from the model's own tile size, so inputs do not depend on each other.
    model
        .set_tile_size(planner.default_tile)
        .expect("the model's own tile size");
    let _ = model.set_tile_size(tile as usize);
    let pool = &planner.pools[threads as usize % MOST_THREADS];
    let (w, h) = (w as usize, h as usize);
    if let Ok(plan) = pool.install(|| model.plan(w, h, calibration, &params)) {
        assert!(plan.bytes <= budget, "plan over the budget: {plan:?}");
        assert!(
            plan.network_width >= 1 && plan.network_height >= 1,
            "empty network plane: {plan:?}"
        );
    }
});
