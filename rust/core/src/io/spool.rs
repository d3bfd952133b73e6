//! Planes spooled to a temporary file while a plane too large for memory is processed band by
//! band, then written as one TIFF.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::image::Calibration;

use super::write::{tiff_write_error, write_imagej_tiff, TiffLayout};

/// What a raw plane file written by [`RawPlanes`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKind {
    /// Object labels (`u32`); written as 16-bit when `max_label` fits.
    Labels {
        /// The largest label in the file.
        max_label: u32,
    },
    /// Float values such as probabilities (`f32`).
    Float,
}

/// Planes too large to keep in memory, appended row block by row block to an anonymous
/// temporary file (`u32` labels or `f32` values), then written as a TIFF by [`RawPlanes::write_tiff`].
pub struct RawPlanes {
    file: BufWriter<File>,
    values: u64,
    dir: PathBuf,
}

impl RawPlanes {
    /// An empty raw file in `dir` (on the output's file system; removed when dropped).
    pub fn new_in(dir: &Path) -> Result<Self> {
        let file = tempfile::tempfile_in(dir)
            .map_err(|e| Error::io("create a temporary pixel file in", dir, e))?;
        Ok(RawPlanes {
            file: BufWriter::with_capacity(1 << 20, file),
            values: 0,
            dir: dir.to_path_buf(),
        })
    }

    /// Appends labels.
    pub fn push_labels(&mut self, values: &[u32]) -> Result<()> {
        self.push(values, u32::to_ne_bytes)
    }

    /// Appends float values.
    pub fn push_floats(&mut self, values: &[f32]) -> Result<()> {
        self.push(values, f32::to_ne_bytes)
    }

    fn push<T: Copy>(&mut self, values: &[T], bytes: fn(T) -> [u8; 4]) -> Result<()> {
        self.values += values.len() as u64;
        for &v in values {
            self.file
                .write_all(&bytes(v))
                .map_err(|e| raw_error(&self.dir, e))?;
        }
        Ok(())
    }

    /// Writes everything appended (planes of `width × height`, z fastest, then time) as an
    /// ImageJ TIFF at `path`, atomically, reading the raw file a block at a time.
    pub fn write_tiff(
        self,
        path: &Path,
        width: usize,
        height: usize,
        frames: usize,
        calibration: Calibration,
        kind: RawKind,
    ) -> Result<()> {
        let plane = (width * height) as u64;
        if plane == 0 || self.values == 0 || !self.values.is_multiple_of(plane) {
            return Err(Error::invalid(format!(
                "{} values are not whole {width} × {height} planes",
                self.values
            )));
        }
        let dir = self.dir;
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| raw_error(&dir, e.into_error()))?;
        file.rewind().map_err(|e| raw_error(&dir, e))?;
        let (bits, sample_format) = match kind {
            RawKind::Labels { max_label } if max_label <= u32::from(u16::MAX) => (16, 1),
            RawKind::Labels { .. } => (32, 1),
            RawKind::Float => (32, 3),
        };
        let layout = TiffLayout {
            width,
            height,
            planes: (self.values / plane) as usize,
            frames,
            calibration,
            bits,
            sample_format,
        };
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let total = self.values;
        write_imagej_tiff(path, &layout, |dir| {
            let mut first = None;
            let mut left = total;
            let mut bytes = vec![0u8; 4 << 20];
            while left > 0 {
                let n = left.min(1 << 20) as usize;
                std::io::Read::read_exact(&mut reader, &mut bytes[..4 * n])?;
                let words = bytes[..4 * n]
                    .chunks_exact(4)
                    .map(|b| [b[0], b[1], b[2], b[3]]);
                let at = match (bits, sample_format) {
                    (16, _) => {
                        let v: Vec<u16> = words.map(|b| u32::from_ne_bytes(b) as u16).collect();
                        dir.write_data(v.as_slice())
                    }
                    (_, 1) => {
                        let v: Vec<u32> = words.map(u32::from_ne_bytes).collect();
                        dir.write_data(v.as_slice())
                    }
                    _ => {
                        let v: Vec<f32> = words.map(f32::from_ne_bytes).collect();
                        dir.write_data(v.as_slice())
                    }
                }
                .map_err(tiff_write_error)?;
                first.get_or_insert(at);
                left -= n as u64;
            }
            first.ok_or_else(|| std::io::Error::other("no planes"))
        })
    }
}

fn raw_error(dir: &Path, e: std::io::Error) -> Error {
    Error::io("use the temporary pixel file in", dir, e)
}
