//! Plate maps: one value per well drawn on the plate's layout, the first picture a screening lab
//! looks at (nucleus count per well, by default). Wells are labelled A1…P24 (A1…AF48 on 1536-well
//! plates), a colour bar gives the scale (viridis: even steps look even, and it survives
//! colour-blindness and grey printing), wells with failed images carry a red cross and wells
//! without images are pale grey. The same layout is drawn as RGB pixels (for PNG) and as SVG.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::{Error, Result};

/// The standard microplate layouts, smallest first, as (rows, columns): 6 to 1536 wells.
pub const PLATE_FORMATS: [(u32, u32); 7] =
    [(2, 3), (3, 4), (4, 6), (6, 8), (8, 12), (16, 24), (32, 48)];

/// The most rows and columns a plate map draws (twice a 1536-well plate's 32 × 48): a larger
/// "well" is a naming mistake, and drawing it would take gigabytes.
pub const MAX_ROWS: u32 = 64;
/// See [`MAX_ROWS`].
pub const MAX_COLUMNS: u32 = 96;

/// Where an image held in a plate file or store (a series of an OME-TIFF, a field of an
/// OME-Zarr plate) was imaged, as the file's plate metadata says; all `None` when it has none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlatePlace {
    /// The plate's name.
    pub plate: Option<String>,
    /// The plate's rows and columns, when the metadata gives them.
    pub plate_size: Option<(u32, u32)>,
    /// The well's row and column, from 1.
    pub well: Option<(u32, u32)>,
    /// The field within the well, from 1.
    pub field: Option<u32>,
}

/// A plate's layout: how many rows and columns of wells it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlateFormat {
    /// Rows of wells (A, B, …).
    pub rows: u32,
    /// Columns of wells (1, 2, …).
    pub columns: u32,
}

impl PlateFormat {
    /// The standard layout of `wells` wells (6, 12, 24, 48, 96, 384 or 1536).
    pub fn standard(wells: u32) -> Option<Self> {
        PLATE_FORMATS
            .iter()
            .find(|&&(r, c)| r * c == wells)
            .map(|&(rows, columns)| Self { rows, columns })
    }

    /// The smallest screening layout (96 wells or more: nothing in a file name says a plate
    /// had fewer) holding a well at `max_row`, `max_column` (both from 1); beyond 1536 wells,
    /// the 1536-well layout grown to fit.
    pub fn fitting(max_row: u32, max_column: u32) -> Self {
        PLATE_FORMATS
            .iter()
            .filter(|&&(r, c)| r * c >= 96)
            .find(|&&(r, c)| max_row <= r && max_column <= c)
            .map_or(
                Self {
                    rows: max_row.max(32),
                    columns: max_column.max(48),
                },
                |&(rows, columns)| Self { rows, columns },
            )
    }

    /// The smallest screening layout holding every one of `wells` (row, column, both from 1):
    /// [`PlateFormat::fitting`] at their largest row and column.
    pub fn holding(wells: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let (max_row, max_column) = wells
            .into_iter()
            .fold((1, 1), |(r, c), (wr, wc)| (r.max(wr), c.max(wc)));
        Self::fitting(max_row, max_column)
    }

    /// Number of wells.
    pub fn wells(&self) -> u32 {
        self.rows * self.columns
    }

    /// The layout the instrument's own plate file gives for the plate holding `image`: a
    /// Harmony / Opera Phenix export index (`PlateRows`, `PlateColumns`) or a MetaXpress `.HTD`
    /// (`YWells`, `XWells`) in the image's folder or up to two folders above. `None` when there
    /// is none, it cannot be read, or its layout is beyond [`MAX_ROWS`] × [`MAX_COLUMNS`].
    pub fn beside(image: &std::path::Path) -> Option<Self> {
        let folder = image.parent()?;
        let from_index = || {
            folder.ancestors().take(3).find_map(|dir| {
                let index = crate::harmony::find_index(dir)?;
                crate::harmony::read_index(&index).ok()?.plate_size
            })
        };
        let from_htd = || {
            let htd = crate::metaxpress::find_htd(folder)?;
            crate::metaxpress::read_htd(&htd).ok()?.plate_size
        };
        let (rows, columns) = from_index().or_else(from_htd)?;
        Self::drawable(rows, columns)
    }

    /// A layout of `rows` × `columns` read from a plate's metadata, or `None` when it is beyond
    /// [`MAX_ROWS`] × [`MAX_COLUMNS`] (or empty): a layout a map can draw.
    pub fn drawable(rows: u32, columns: u32) -> Option<Self> {
        ((1..=MAX_ROWS).contains(&rows) && (1..=MAX_COLUMNS).contains(&columns))
            .then_some(Self { rows, columns })
    }
}

/// Row and column (both from 1) of a well named as plate readers and screening software name
/// them: row letters then column number, `B03`, `B3`, `b3`, or `AF48` (rows after Z are AA, AB,
/// … as on 1536-well plates). `None` when `name` is not a well name.
pub fn parse_well(name: &str) -> Option<(u32, u32)> {
    let name = name.trim();
    let split = name.find(|c: char| !c.is_ascii_alphabetic())?;
    let (letters, digits) = name.split_at(split);
    if letters.is_empty() || letters.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let row = letters.bytes().fold(0u32, |r, b| {
        r * 26 + u32::from(b.to_ascii_uppercase() - b'A') + 1
    });
    let column: u32 = digits.parse().ok()?;
    (column > 0).then_some((row, column))
}

/// The letters of row `row` (from 1): A … Z, then AA, AB, ….
pub fn row_label(row: u32) -> String {
    let mut n = row;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(b'A' + rem as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// What is known of one well of a plate map.
#[derive(Debug, Clone, PartialEq)]
pub struct WellValue {
    /// The value drawn; `None` when the well has none (e.g. every image of it failed).
    pub value: Option<f64>,
    /// How many of the well's images failed (drawn as a red cross when any did).
    pub failed_images: usize,
}

/// A plate with one value per well, ready to be drawn.
#[derive(Debug, Clone)]
pub struct PlateMap {
    /// The plate's name (the title's first part).
    pub plate: String,
    /// What the values are, e.g. "Number of Objects" (the title's second part).
    pub quantity: String,
    /// The layout drawn.
    pub format: PlateFormat,
    /// Wells with images, by (row, column) from 1; every other well of the layout had none.
    pub wells: BTreeMap<(u32, u32), WellValue>,
}

/// Fill of a well without images.
const EMPTY_RGB: [u8; 3] = [228, 228, 228];
/// Fill of a well whose images gave no value.
const NO_VALUE_RGB: [u8; 3] = [150, 150, 150];
/// The cross over a well with failed images.
const FAILED_RGB: [u8; 3] = [215, 25, 28];
const TEXT_RGB: [u8; 3] = [0, 0, 0];
const BACKGROUND_RGB: [u8; 3] = [255, 255, 255];

/// Viridis (matplotlib's default map) at 0, 1/8, …, 1; colours between are interpolated.
const VIRIDIS: [[u8; 3]; 9] = [
    [68, 1, 84],
    [72, 40, 120],
    [62, 74, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [109, 205, 89],
    [253, 231, 37],
];

/// The colour of `t` in [0, 1] on the plate map's scale (viridis); outside it, the nearest end.
pub fn colour(t: f64) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = t * (VIRIDIS.len() - 1) as f64;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    std::array::from_fn(|k| {
        (f64::from(a[k]) + f * (f64::from(b[k]) - f64::from(a[k]))).round() as u8
    })
}

/// Glyph cell of the bitmap font, in pixels.
const GLYPH: usize = 8;
const MARGIN: usize = 12;

/// Where everything goes, in pixels; one layout serves the PNG and the SVG.
struct Layout {
    cell: usize,
    title_scale: usize,
    grid_left: usize,
    grid_top: usize,
    bar_left: usize,
    bar_width: usize,
    /// The colour bar runs the grid's height.
    bar_height: usize,
    legend_top: usize,
    width: usize,
    height: usize,
}

impl PlateMap {
    /// A map of `wells` (well name, value) on `format`, or when `None` on the smallest
    /// screening layout that holds them all ([`PlateFormat::fitting`]). Fails, naming it, on a
    /// well name that is not one ([`parse_well`]), given twice, or outside `format`.
    pub fn new(
        plate: &str,
        quantity: &str,
        wells: impl IntoIterator<Item = (String, WellValue)>,
        format: Option<PlateFormat>,
    ) -> Result<Self> {
        if let Some(f) = format.filter(|f| PlateFormat::drawable(f.rows, f.columns).is_none()) {
            return Err(Error::invalid(format!(
                "plate {plate}: a layout of {} × {} wells is not drawn (1 to {MAX_ROWS} rows, 1 \
                 to {MAX_COLUMNS} columns)",
                f.rows, f.columns
            )));
        }
        let mut map = BTreeMap::new();
        for (name, value) in wells {
            let at = parse_well(&name).ok_or_else(|| {
                Error::invalid(format!(
                    "plate {plate}: \"{name}\" is not a well name (row letters and a column \
                     number, like B03)"
                ))
            })?;
            if at.0 > MAX_ROWS || at.1 > MAX_COLUMNS {
                return Err(Error::invalid(format!(
                    "plate {plate}: well {name} lies beyond any plate (at most {MAX_ROWS} rows \
                     and {MAX_COLUMNS} columns are drawn)"
                )));
            }
            if let Some(f) = format.filter(|f| at.0 > f.rows || at.1 > f.columns) {
                return Err(Error::invalid(format!(
                    "plate {plate}: well {name} is outside a {}-well plate ({} rows, {} columns)",
                    f.wells(),
                    f.rows,
                    f.columns
                )));
            }
            if map.insert(at, value).is_some() {
                return Err(Error::invalid(format!(
                    "plate {plate}: well {name} is given twice"
                )));
            }
        }
        Ok(Self {
            plate: plate.to_owned(),
            quantity: quantity.to_owned(),
            format: format.unwrap_or_else(|| PlateFormat::holding(map.keys().copied())),
            wells: map,
        })
    }

    /// Smallest and largest finite value over the wells, if any has one.
    pub fn range(&self) -> Option<(f64, f64)> {
        self.wells
            .values()
            .filter_map(|w| w.value.filter(|v| v.is_finite()))
            .fold(None, |r, v| match r {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            })
    }

    /// The fill of the well at (`row`, `column`).
    fn fill(&self, row: u32, column: u32, range: Option<(f64, f64)>) -> [u8; 3] {
        match (self.wells.get(&(row, column)), range) {
            (None, _) => EMPTY_RGB,
            (Some(w), Some((lo, hi))) => match w.value.filter(|v| v.is_finite()) {
                Some(v) if hi > lo => colour((v - lo) / (hi - lo)),
                Some(_) => colour(0.5),
                None => NO_VALUE_RGB,
            },
            (Some(_), None) => NO_VALUE_RGB,
        }
    }

    fn title(&self) -> String {
        if self.plate.is_empty() {
            self.quantity.clone()
        } else {
            format!("{} - {}", self.plate, self.quantity)
        }
    }

    /// The scale's labels, top (largest) to bottom.
    fn bar_labels(&self) -> Vec<String> {
        match self.range() {
            Some((lo, hi)) if hi > lo => vec![
                value_label(hi),
                value_label((lo + hi) / 2.0),
                value_label(lo),
            ],
            Some((v, _)) => vec![value_label(v)],
            None => vec!["no values".to_owned()],
        }
    }

    /// The scale's labels with the height each belongs at (its value's place on the bar).
    fn bar_label_heights(&self, l: &Layout) -> Vec<(usize, String)> {
        let bar_height = l.bar_height;
        let labels = self.bar_labels();
        let n = labels.len();
        labels
            .into_iter()
            .enumerate()
            .map(|(k, text)| {
                let y = if n == 1 {
                    l.grid_top + bar_height / 2
                } else {
                    l.grid_top + k * bar_height / (n - 1)
                };
                (y, text)
            })
            .collect()
    }

    fn layout(&self) -> Layout {
        let (rows, columns) = (self.format.rows as usize, self.format.columns as usize);
        let cell = (960 / columns).clamp(20, 48);
        let row_label_width = row_label(self.format.rows).len() * GLYPH;
        let grid_left = MARGIN + row_label_width + 6;
        let grid_width = columns * cell;
        let label_chars = self
            .bar_labels()
            .iter()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        let bar_left = grid_left + grid_width + 16;
        let bar_width = 16;
        let width = bar_left + bar_width + 6 + label_chars * GLYPH + MARGIN;
        let title_chars = self.title().chars().count();
        let title_scale = if MARGIN + title_chars * GLYPH * 2 + MARGIN <= width {
            2
        } else {
            1
        };
        let grid_top = MARGIN + GLYPH * title_scale + 10 + GLYPH + 4;
        let legend_top = grid_top + rows * cell + 12;
        let legend_width = MARGIN + LEGEND_CHARS * GLYPH + 2 * (GLYPH + 4) + 16 + MARGIN;
        let width = width
            .max(legend_width)
            .max(MARGIN + title_chars * GLYPH + MARGIN);
        Layout {
            cell,
            title_scale,
            grid_left,
            grid_top,
            bar_left,
            bar_width,
            bar_height: rows * cell,
            legend_top,
            width,
            height: legend_top + GLYPH + MARGIN,
        }
    }

    /// The map as an 8-bit RGB picture: (width, height, row-major pixels, 3 bytes each).
    pub fn to_rgb(&self) -> (usize, usize, Vec<u8>) {
        let l = self.layout();
        let mut canvas = Canvas::new(l.width, l.height);
        canvas.text(MARGIN, MARGIN, &self.title(), l.title_scale, TEXT_RGB);
        let label_top = l.grid_top - GLYPH - 4;
        for column in 1..=self.format.columns {
            let text = column.to_string();
            let x = l.grid_left + (column as usize - 1) * l.cell + l.cell / 2;
            canvas.text(x - text.len() * GLYPH / 2, label_top, &text, 1, TEXT_RGB);
        }
        let range = self.range();
        for row in 1..=self.format.rows {
            let text = row_label(row);
            let y = l.grid_top + (row as usize - 1) * l.cell;
            let x = l.grid_left - 6 - text.len() * GLYPH;
            canvas.text(x, y + (l.cell - GLYPH) / 2, &text, 1, TEXT_RGB);
            for column in 1..=self.format.columns {
                let x = l.grid_left + (column as usize - 1) * l.cell;
                canvas.rect(
                    x + 1,
                    y + 1,
                    l.cell - 2,
                    l.cell - 2,
                    self.fill(row, column, range),
                );
                if self
                    .wells
                    .get(&(row, column))
                    .is_some_and(|w| w.failed_images > 0)
                {
                    canvas.cross(x + 3, y + 3, l.cell - 6, FAILED_RGB);
                }
            }
        }
        // Colour bar: largest value at the top.
        let bar_height = l.bar_height;
        for dy in 0..bar_height {
            let t = 1.0 - dy as f64 / (bar_height - 1).max(1) as f64;
            canvas.rect(l.bar_left, l.grid_top + dy, l.bar_width, 1, colour(t));
        }
        for (y, text) in self.bar_label_heights(&l) {
            let y = y
                .saturating_sub(GLYPH / 2)
                .min(l.grid_top + bar_height - GLYPH);
            canvas.text(l.bar_left + l.bar_width + 6, y, &text, 1, TEXT_RGB);
        }
        // Legend: what grey and the cross mean.
        let mut x = MARGIN;
        canvas.rect(x, l.legend_top, GLYPH, GLYPH, EMPTY_RGB);
        x += GLYPH + 4;
        canvas.text(x, l.legend_top, LEGEND_EMPTY, 1, TEXT_RGB);
        x += (LEGEND_EMPTY.len() + 2) * GLYPH;
        canvas.cross(x, l.legend_top, GLYPH, FAILED_RGB);
        x += GLYPH + 4;
        canvas.text(x, l.legend_top, LEGEND_FAILED, 1, TEXT_RGB);
        (l.width, l.height, canvas.rgb)
    }

    /// The map as an SVG document, the same layout as [`PlateMap::to_rgb`] with vector shapes and
    /// text (editable in Inkscape or Illustrator for a figure).
    pub fn to_svg(&self) -> String {
        let l = self.layout();
        let hex = |c: [u8; 3]| format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2]);
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Arial, sans-serif" font-size="10">"#,
            w = l.width,
            h = l.height
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="{}">{}</text>"#,
            MARGIN,
            MARGIN + GLYPH * l.title_scale,
            8 * l.title_scale + 2,
            xml_escape(&self.title())
        );
        let label_base = l.grid_top - 4;
        for column in 1..=self.format.columns {
            let x = l.grid_left + (column as usize - 1) * l.cell + l.cell / 2;
            let _ = writeln!(
                s,
                r#"<text x="{x}" y="{label_base}" text-anchor="middle">{column}</text>"#
            );
        }
        let range = self.range();
        for row in 1..=self.format.rows {
            let y = l.grid_top + (row as usize - 1) * l.cell;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" text-anchor="end">{}</text>"#,
                l.grid_left - 6,
                y + l.cell / 2 + 4,
                row_label(row)
            );
            for column in 1..=self.format.columns {
                let x = l.grid_left + (column as usize - 1) * l.cell;
                let well = self.wells.get(&(row, column));
                let tip = match well {
                    None => "no images".to_owned(),
                    Some(w) => {
                        let value = w
                            .value
                            .filter(|v| v.is_finite())
                            .map_or("no value".to_owned(), value_label);
                        if w.failed_images > 0 {
                            format!("{value}; {} failed image(s)", w.failed_images)
                        } else {
                            value
                        }
                    }
                };
                let _ = writeln!(
                    s,
                    r#"<rect x="{}" y="{}" width="{c}" height="{c}" fill="{}"><title>{}{}: {}</title></rect>"#,
                    x + 1,
                    y + 1,
                    hex(self.fill(row, column, range)),
                    row_label(row),
                    column,
                    xml_escape(&tip),
                    c = l.cell - 2
                );
                if well.is_some_and(|w| w.failed_images > 0) {
                    let (a, b) = (3, l.cell - 3);
                    let _ = writeln!(
                        s,
                        r#"<path d="M{} {}L{} {}M{} {}L{} {}" stroke="{}" stroke-width="2"/>"#,
                        x + a,
                        y + a,
                        x + b,
                        y + b,
                        x + b,
                        y + a,
                        x + a,
                        y + b,
                        hex(FAILED_RGB)
                    );
                }
            }
        }
        let bar_height = l.bar_height;
        let _ = writeln!(
            s,
            r#"<defs><linearGradient id="scale" x1="0" y1="1" x2="0" y2="0">{}</linearGradient></defs>"#,
            VIRIDIS
                .iter()
                .enumerate()
                .map(|(k, c)| format!(
                    r#"<stop offset="{}" stop-color="{}"/>"#,
                    k as f64 / (VIRIDIS.len() - 1) as f64,
                    hex(*c)
                ))
                .collect::<String>()
        );
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="{}" height="{bar_height}" fill="url(#scale)"/>"#,
            l.bar_left, l.grid_top, l.bar_width
        );
        for (y, text) in self.bar_label_heights(&l) {
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" dominant-baseline="middle">{}</text>"#,
                l.bar_left + l.bar_width + 6,
                y,
                xml_escape(&text)
            );
        }
        let ly = l.legend_top;
        let _ = writeln!(
            s,
            r#"<rect x="{MARGIN}" y="{ly}" width="{GLYPH}" height="{GLYPH}" fill="{}"/><text x="{}" y="{}">{LEGEND_EMPTY}</text>"#,
            hex(EMPTY_RGB),
            MARGIN + GLYPH + 4,
            ly + GLYPH
        );
        let cx = MARGIN + GLYPH + 4 + (LEGEND_EMPTY.len() + 2) * GLYPH;
        let _ = writeln!(
            s,
            r#"<path d="M{} {ly}L{} {}M{} {ly}L{cx} {}" stroke="{}" stroke-width="2"/><text x="{}" y="{}">{LEGEND_FAILED}</text>"#,
            cx,
            cx + GLYPH,
            ly + GLYPH,
            cx + GLYPH,
            ly + GLYPH,
            hex(FAILED_RGB),
            cx + GLYPH + 4,
            ly + GLYPH
        );
        s.push_str("</svg>\n");
        s
    }
}

const LEGEND_EMPTY: &str = "no images";
const LEGEND_FAILED: &str = "failed image(s)";
/// Characters of both legend texts, for the layout's width.
const LEGEND_CHARS: usize = LEGEND_EMPTY.len() + 2 + LEGEND_FAILED.len();

/// A value as the colour bar and the SVG's tooltips print it: whole numbers whole, others with
/// three significant digits.
pub fn value_label(v: f64) -> String {
    if (v.fract() == 0.0 && v.abs() < 1e9) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An RGB picture to draw on.
struct Canvas {
    width: usize,
    height: usize,
    rgb: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        let rgb = BACKGROUND_RGB
            .iter()
            .copied()
            .cycle()
            .take(width * height * 3)
            .collect();
        Self { width, height, rgb }
    }

    fn set(&mut self, x: usize, y: usize, c: [u8; 3]) {
        if x < self.width && y < self.height {
            let i = (y * self.width + x) * 3;
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, c: [u8; 3]) {
        for yy in y..y + h {
            for xx in x..x + w {
                self.set(xx, yy, c);
            }
        }
    }

    /// Both diagonals of the `size`² square at (x, y), 2 pixels thick.
    fn cross(&mut self, x: usize, y: usize, size: usize, c: [u8; 3]) {
        for d in 0..size {
            for t in 0..2 {
                self.set(x + d + t, y + d, c);
                self.set(x + size - 1 - d + t, y + d, c);
            }
        }
    }

    /// `text` in the 8×8 public-domain bitmap font (ASCII and Latin-1, so µ and ² too; other
    /// characters as '?'), each font pixel drawn `scale`² pixels large.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, c: [u8; 3]) {
        for (k, ch) in text.chars().enumerate() {
            let glyph = glyph(ch);
            for (gy, bits) in glyph.iter().enumerate() {
                for gx in 0..GLYPH {
                    if bits & (1 << gx) != 0 {
                        let px = x + (k * GLYPH + gx) * scale;
                        self.rect(px, y + gy * scale, scale, scale, c);
                    }
                }
            }
        }
    }
}

/// The 8×8 bitmap of `ch` (one byte per row, lowest bit leftmost).
fn glyph(ch: char) -> [u8; 8] {
    let code = ch as u32;
    match code {
        0x20..=0x7e => font8x8::legacy::BASIC_LEGACY[code as usize],
        0xa0..=0xff => font8x8::legacy::LATIN_LEGACY[(code - 0xa0) as usize],
        _ => font8x8::legacy::BASIC_LEGACY[usize::from(b'?')],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn well(value: f64) -> WellValue {
        WellValue {
            value: Some(value),
            failed_images: 0,
        }
    }

    /// The instruments' plate files give the layout, however few wells were imaged.
    #[test]
    fn the_layout_comes_from_a_harmony_index_or_a_metaxpress_htd_beside_the_images() {
        let dir = tempfile::tempdir().expect("tempdir");
        let images = dir.path().join("Screen-7").join("Images");
        std::fs::create_dir_all(&images).expect("folders");
        let image = images.join("r02c02f01p01-ch1sk1fk1fl1.tiff");
        assert_eq!(PlateFormat::beside(&image), None);
        std::fs::write(
            images.join("Index.idx.xml"),
            "<EvaluationInputData><Plates><Plate><PlateID>7</PlateID><PlateRows>16</PlateRows>\
             <PlateColumns>24</PlateColumns></Plate></Plates><Images><Image>\
             <URL>r02c02f01p01-ch1sk1fk1fl1.tiff</URL><Row>2</Row><Col>2</Col><FieldID>1</FieldID>\
             <ChannelID>1</ChannelID></Image></Images></EvaluationInputData>",
        )
        .expect("index");
        assert_eq!(
            PlateFormat::beside(&image),
            Some(PlateFormat {
                rows: 16,
                columns: 24
            })
        );
        let time_point = dir.path().join("Plate_0042").join("TimePoint_1");
        std::fs::create_dir_all(&time_point).expect("folders");
        std::fs::write(
            dir.path().join("Plate_0042").join("Plate_0042.HTD"),
            "\"HTSInfoFile\", Version 1.0\r\n\"XWells\", 6\r\n\"YWells\", 4\r\n\"EndFile\"\r\n",
        )
        .expect("htd");
        assert_eq!(
            PlateFormat::beside(&time_point.join("Plate_0042_B03_s1_w1.tif")),
            Some(PlateFormat {
                rows: 4,
                columns: 6
            })
        );
    }

    #[test]
    fn well_names_parse_as_plate_readers_write_them() {
        assert_eq!(parse_well("B03"), Some((2, 3)));
        assert_eq!(parse_well("b3"), Some((2, 3)));
        assert_eq!(parse_well("P24"), Some((16, 24)));
        assert_eq!(parse_well("AA01"), Some((27, 1)));
        assert_eq!(parse_well("AF48"), Some((32, 48)));
        for bad in ["", "B", "03", "B0", "B3x", "ABC1", "B-3", "field 1"] {
            assert_eq!(parse_well(bad), None, "{bad}");
        }
        for row in [1, 2, 16, 26, 27, 32] {
            assert_eq!(parse_well(&format!("{}7", row_label(row))), Some((row, 7)));
        }
        assert_eq!(row_label(27), "AA");
        assert_eq!(row_label(32), "AF");
    }

    #[test]
    fn the_smallest_screening_plate_that_holds_the_wells_is_drawn() {
        assert_eq!(PlateFormat::fitting(2, 3).wells(), 96);
        assert_eq!(PlateFormat::fitting(8, 12).wells(), 96);
        assert_eq!(PlateFormat::fitting(2, 13).wells(), 384);
        assert_eq!(PlateFormat::fitting(17, 1).wells(), 1536);
        assert_eq!(
            PlateFormat::fitting(40, 50),
            PlateFormat {
                rows: 40,
                columns: 50
            }
        );
        assert_eq!(
            PlateFormat::standard(24),
            Some(PlateFormat {
                rows: 4,
                columns: 6
            })
        );
        assert_eq!(PlateFormat::standard(100), None);
        assert_eq!(PlateFormat::holding([(2, 3), (9, 1)]).wells(), 384);
        assert_eq!(PlateFormat::holding([]).wells(), 96);
    }

    #[test]
    fn the_scale_runs_from_viridis_dark_to_yellow() {
        assert_eq!(colour(0.0), VIRIDIS[0]);
        assert_eq!(colour(1.0), VIRIDIS[8]);
        assert_eq!(colour(0.5), VIRIDIS[4]);
        assert_eq!(colour(-3.0), VIRIDIS[0]);
        assert_eq!(colour(f64::NAN), VIRIDIS[0]);
        // Brightness rises along the scale, so grey print keeps the order.
        let luma =
            |c: [u8; 3]| 0.3 * f64::from(c[0]) + 0.59 * f64::from(c[1]) + 0.11 * f64::from(c[2]);
        let steps: Vec<f64> = (0..=20)
            .map(|k| luma(colour(f64::from(k) / 20.0)))
            .collect();
        assert!(steps.windows(2).all(|w| w[1] > w[0]), "{steps:?}");
    }

    #[test]
    fn bad_or_repeated_well_names_are_refused_with_the_name() {
        let err = PlateMap::new("P1", "n", [("X".to_owned(), well(1.0))], None).expect_err("bad");
        assert!(err.message().contains("\"X\" is not a well name"), "{err}");
        let err = PlateMap::new(
            "P1",
            "n",
            [("B03".to_owned(), well(1.0)), ("b3".to_owned(), well(2.0))],
            None,
        )
        .expect_err("twice");
        assert!(err.message().contains("given twice"), "{err}");
        let err = PlateMap::new(
            "P1",
            "n",
            [("E01".to_owned(), well(1.0))],
            PlateFormat::standard(24),
        )
        .expect_err("outside");
        assert!(err.message().contains("outside a 24-well plate"), "{err}");
        let err = PlateMap::new("P1", "n", [("A99999".to_owned(), well(1.0))], None)
            .expect_err("beyond any plate");
        assert!(err.message().contains("beyond any plate"), "{err}");
    }

    /// The pixel at the centre of a well's square.
    fn centre(map: &PlateMap, rgb: &(usize, usize, Vec<u8>), row: u32, column: u32) -> [u8; 3] {
        let l = map.layout();
        let x = l.grid_left + (column as usize - 1) * l.cell + l.cell / 2 - 1;
        let y = l.grid_top + (row as usize - 1) * l.cell + l.cell / 3;
        let i = (y * rgb.0 + x) * 3;
        [rgb.2[i], rgb.2[i + 1], rgb.2[i + 2]]
    }

    #[test]
    fn each_well_is_drawn_in_the_colour_of_its_value_and_empty_or_failed_wells_are_marked() {
        let map = PlateMap::new(
            "Plate 1",
            "Number of Objects",
            [
                ("A01".to_owned(), well(10.0)),
                ("A02".to_owned(), well(30.0)),
                ("H12".to_owned(), well(20.0)),
                (
                    "C05".to_owned(),
                    WellValue {
                        value: None,
                        failed_images: 2,
                    },
                ),
                (
                    "D07".to_owned(),
                    WellValue {
                        value: Some(30.0),
                        failed_images: 1,
                    },
                ),
            ],
            None,
        )
        .expect("map");
        assert_eq!(map.format.wells(), 96);
        let rgb = map.to_rgb();
        assert_eq!(rgb.2.len(), rgb.0 * rgb.1 * 3);
        assert_eq!(centre(&map, &rgb, 1, 1), VIRIDIS[0]);
        assert_eq!(centre(&map, &rgb, 1, 2), VIRIDIS[8]);
        assert_eq!(centre(&map, &rgb, 8, 12), VIRIDIS[4]);
        assert_eq!(centre(&map, &rgb, 2, 2), EMPTY_RGB);
        assert_eq!(centre(&map, &rgb, 3, 5), NO_VALUE_RGB);
        // The cross crosses the centre of a well with failed images.
        let l = map.layout();
        let (x, y) = (
            l.grid_left + 6 * l.cell + l.cell / 2,
            l.grid_top + 3 * l.cell + l.cell / 2,
        );
        let near_centre: Vec<[u8; 3]> = (x - 2..x + 2)
            .map(|xx| {
                let i = (y * rgb.0 + xx) * 3;
                [rgb.2[i], rgb.2[i + 1], rgb.2[i + 2]]
            })
            .collect();
        assert!(near_centre.contains(&FAILED_RGB), "{near_centre:?}");
        // Labels are drawn: the row labels' column holds black pixels, one letter per row.
        let label_rows = (0..rgb.1)
            .filter(|&y| (MARGIN..l.grid_left - 6).any(|x| rgb.2[(y * rgb.0 + x) * 3] == 0))
            .count();
        assert!(label_rows >= 8 * 5, "{label_rows} rows of row-label pixels");
        let svg = map.to_svg();
        let parsed = roxmltree::Document::parse(&svg).expect("well-formed XML");
        assert_eq!(parsed.root_element().tag_name().name(), "svg");
        assert_eq!(
            svg.matches("<rect x=").count(),
            96 + 2,
            "wells, bar, legend"
        );
        assert!(svg.contains("<title>A2: 30</title>"), "{svg}");
        assert!(svg.contains("<title>D7: 30; 1 failed image(s)</title>"));
        assert!(svg.contains("<title>B2: no images</title>"));
        assert!(svg.contains(">Plate 1 - Number of Objects</text>"));
        assert!(svg.contains(">H</text>") && svg.contains(">12</text>"));
    }

    #[test]
    fn a_1536_well_plate_and_a_single_value_still_draw() {
        let map = PlateMap::new(
            "big",
            "Size [µm²] Mean",
            [("AF48".to_owned(), well(7.5))],
            None,
        )
        .expect("map");
        assert_eq!(map.format.wells(), 1536);
        let rgb = map.to_rgb();
        assert_eq!(centre(&map, &rgb, 32, 48), colour(0.5));
        assert!(map.to_svg().contains(">AF</text>"));
        let empty = PlateMap::new("none", "n", Vec::new(), PlateFormat::standard(6)).expect("map");
        assert_eq!(empty.format.wells(), 6);
        assert!(empty.to_svg().contains(">no values</text>"));
    }
}
