//! End-to-end tests: real models, real TIFFs, the real CLI, and trusted libraries as oracles.

mod accuracy;
mod artifacts;
mod backends;
mod cli;
mod fiji;
mod fuzzing;
mod imagej;
mod models;
mod oracles;
mod reliability;
mod scale;
mod training;
mod util;
mod zoo;
