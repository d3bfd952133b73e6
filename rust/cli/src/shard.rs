//! `--shard i/n`: a stable share of a batch for one of n workers (cluster array jobs).
//!
//! An image belongs to shard `1 + fnv1a64(file name) mod n`: the same on every machine, whatever
//! the order the files are listed in or where the data is mounted, and the n shards together hold
//! every image exactly once.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// One share of a batch: `index` of `count`, counted from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which share, from 1.
    pub index: u32,
    /// How many shares in all.
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("--shard {s} is invalid: give i/n with 1 ≤ i ≤ n, e.g. 3/8");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// FNV-1a, 64 bit: tiny, stable across versions and platforms (unlike std's hasher).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl Shard {
    /// The shard (from 1) `path` belongs to among `count`.
    pub fn of(path: &Path, count: u32) -> u32 {
        let name = path.file_name().map_or_else(
            || path.as_os_str().as_encoded_bytes().to_vec(),
            |n| n.as_encoded_bytes().to_vec(),
        );
        1 + (fnv1a64(&name) % u64::from(count)) as u32
    }

    /// Whether `path` is in this shard.
    pub fn contains(&self, path: &Path) -> bool {
        Shard::of(path, self.count) == self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn parses_and_refuses() {
        assert_eq!("3/8".parse(), Ok(Shard { index: 3, count: 8 }));
        for bad in ["0/4", "5/4", "1/0", "a/2", "2", "1/-1", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_everything_once_whatever_the_order_and_folder() {
        let files: Vec<PathBuf> = (0..500)
            .map(|i| PathBuf::from(format!("/plate/r{:02}c{:02}f{}.tif", i % 16, i % 24, i % 5)))
            .collect();
        let n = 7;
        let mut counts = vec![0usize; n as usize];
        for f in &files {
            let owners: Vec<u32> = (1..=n)
                .filter(|&i| Shard { index: i, count: n }.contains(f))
                .collect();
            assert_eq!(owners.len(), 1, "{f:?} in {owners:?}");
            counts[owners[0] as usize - 1] += 1;
            // Same name elsewhere: same shard.
            let moved = PathBuf::from("/mnt/other").join(f.file_name().expect("name"));
            assert_eq!(Shard::of(&moved, n), owners[0]);
        }
        // Reasonably balanced: every shard gets work.
        assert!(counts.iter().all(|&c| c > 30), "{counts:?}");
    }

    #[test]
    fn the_split_is_fixed_forever() {
        // Changing the hash would move images between shards of running screens.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(
            Shard::of(Path::new("r01c01f01p01-ch1sk1fk1fl1.tiff"), 4),
            Shard::of(Path::new("/x/r01c01f01p01-ch1sk1fk1fl1.tiff"), 4)
        );
    }
}
