//! Results as a table for people or as CSV for scripts: one printer for
//! both, so that a column is declared once (its CSV name, its heading and
//! width in the table, how its number reads) and every row of every
//! command goes through the same code.

use core::fmt;

use tmalloc_rt::fmt::{Hex, Ratio, Thousands};
use tmalloc_rt::process::ChildFailed;
use tmalloc_rt::{print, println};

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// The whole story, with aligned tables.
    Table,
    /// One header line with stable column names and one line per row.
    Csv,
}

/// One column: its CSV name and its table heading (an empty one leaves the
/// column out of that format), and its width in the table, right-aligned
/// (negative: left-aligned). Written with [`column!`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Column {
    /// The CSV name then the heading, one string: a table of columns is
    /// then half the size in the binary's data.
    names: &'static str,
    /// Where the heading starts in `names`.
    split: u8,
    width: i8,
}

/// `column!("csv_name", "heading", width)`: a [`Column`].
macro_rules! column {
    ($csv:literal, $heading:literal, $width:literal) => {
        $crate::report::Column::new(concat!($csv, $heading), $csv.len(), $width)
    };
}
pub(crate) use column;

impl Column {
    #[doc(hidden)]
    pub(crate) const fn new(names: &'static str, split: usize, width: i8) -> Column {
        assert!(split <= names.len() && split < 256);
        Column { names, split: split as u8, width }
    }

    fn name(&self, format: Format) -> Option<&'static str> {
        let (csv, heading) = self.names.as_bytes().split_at(self.split as usize);
        let name = if format == Format::Csv { csv } else { heading };
        // SAFETY: the two halves of a string joined by `column!`, each whole.
        (!name.is_empty()).then(|| unsafe { core::str::from_utf8_unchecked(name) })
    }
}

/// One value of a row.
#[derive(Clone, Copy)]
pub(crate) enum Cell<'a> {
    Text(&'a str),
    /// A count: `1,234,567` in the table, `1234567` in CSV.
    Count(u64),
    Ratio(Ratio),
    Hex(u64),
    /// Anything else that prints itself.
    Show(&'a dyn fmt::Display),
    /// Nothing to say (a failed row's numbers).
    Empty,
}

impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cell::Text(t) => f.pad(t),
            Cell::Count(n) => Thousands(n).fmt(f),
            Cell::Ratio(r) => r.fmt(f),
            Cell::Hex(n) => Hex(n).fmt(f),
            Cell::Show(d) => d.fmt(f),
            Cell::Empty => f.pad(""),
        }
    }
}

/// A table with its columns, printed in one [`Format`].
pub(crate) struct Table<'c> {
    pub(crate) format: Format,
    pub(crate) columns: &'c [Column],
    /// Printed in front of every table line.
    pub(crate) indent: &'static str,
}

impl Table<'_> {
    /// The heading line, or the CSV header.
    pub(crate) fn header(&self) {
        let mut first = true;
        for c in self.columns {
            if let Some(text) = c.name(self.format) {
                self.separator(first);
                pad(&Cell::Text(text), if self.format == Format::Table { c.width } else { 0 });
                first = false;
            }
        }
        println!();
    }

    /// One row; `cells` has one value per column.
    pub(crate) fn row(&self, cells: &[Cell<'_>]) {
        let mut first = true;
        for (c, cell) in self.columns.iter().zip(cells) {
            if c.name(self.format).is_none() {
                continue;
            }
            self.separator(first);
            match self.format {
                Format::Table => pad(cell, c.width),
                Format::Csv => print_csv(cell),
            }
            first = false;
        }
        println!();
    }

    /// A row without results: in the table, its name and why; in CSV,
    /// `cells` (the caller puts [`Failed`] in the status column).
    pub(crate) fn failed_row(&self, name: &str, why: &ChildFailed, cells: &[Cell<'_>]) {
        match self.format {
            Format::Table => {
                let width =
                    self.columns.iter().find(|c| c.name(Format::Table).is_some()).map_or(0, |c| c.width);
                self.separator(true);
                pad(&Cell::Text(name), width);
                println!(" failed: {why}");
            }
            Format::Csv => self.row(cells),
        }
    }

    fn separator(&self, first: bool) {
        match (self.format, first) {
            (Format::Table, true) => print!("{}", self.indent),
            (Format::Table, false) => print!(" "),
            (Format::Csv, true) => {}
            (Format::Csv, false) => print!(","),
        }
    }
}

/// The status of a row without results: `failed: why`.
pub(crate) struct Failed<'a>(pub &'a ChildFailed);

impl fmt::Display for Failed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed: {}", self.0)
    }
}

/// `cell` as CSV has it: counts without separators.
fn print_csv(cell: &Cell<'_>) {
    match *cell {
        Cell::Count(n) => print!("{n}"),
        _ => print!("{cell}"),
    }
}

/// `cell` padded to `width` (negative: left-aligned; 0: as it is).
fn pad(cell: &Cell<'_>, width: i8) {
    let w = width.unsigned_abs() as usize;
    if width < 0 { print!("{cell:<w$}") } else { print!("{cell:>w$}") }
}
