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
pub enum Format {
    /// The whole story, with aligned tables.
    Table,
    /// One header line with stable column names and one line per row.
    Csv,
}

/// One column: where it appears and how wide it is in the table.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// Its name in the CSV header; `None`: table only.
    pub csv: Option<&'static str>,
    /// Its heading in the table; `None`: CSV only.
    pub heading: Option<&'static str>,
    /// Its width in the table, right-aligned (negative: left-aligned).
    pub width: i8,
}

impl Column {
    /// In both the table and the CSV.
    pub const fn both(csv: &'static str, heading: &'static str, width: i8) -> Column {
        Column { csv: Some(csv), heading: Some(heading), width }
    }

    pub const fn csv(csv: &'static str) -> Column {
        Column { csv: Some(csv), heading: None, width: 0 }
    }

    pub const fn table(heading: &'static str, width: i8) -> Column {
        Column { csv: None, heading: Some(heading), width }
    }
}

/// One value of a row.
#[derive(Clone, Copy)]
pub enum Cell<'a> {
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
pub struct Table<'c> {
    pub format: Format,
    pub columns: &'c [Column],
    /// Printed in front of every table line.
    pub indent: &'static str,
}

impl Table<'_> {
    /// The heading line, or the CSV header.
    pub fn header(&self) {
        let mut first = true;
        for c in self.columns {
            let (text, width) = match self.format {
                Format::Table => (c.heading, c.width),
                Format::Csv => (c.csv, 0),
            };
            if let Some(text) = text {
                self.separator(first);
                pad(&Cell::Text(text), width);
                first = false;
            }
        }
        println!();
    }

    /// One row; `cells` has one value per column.
    pub fn row(&self, cells: &[Cell<'_>]) {
        let mut first = true;
        for (c, cell) in self.columns.iter().zip(cells) {
            match self.format {
                Format::Table if c.heading.is_some() => {
                    self.separator(first);
                    pad(cell, c.width);
                }
                Format::Csv if c.csv.is_some() => {
                    self.separator(first);
                    print_csv(cell);
                }
                _ => continue,
            }
            first = false;
        }
        println!();
    }

    /// A row without results: in the table, its name and why; in CSV,
    /// `cells` (the caller puts [`Failed`] in the status column).
    pub fn failed_row(&self, name: &str, why: &ChildFailed, cells: &[Cell<'_>]) {
        match self.format {
            Format::Table => {
                let width = self.columns.iter().find_map(|c| c.heading.map(|_| c.width)).unwrap_or(0);
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
pub struct Failed<'a>(pub &'a ChildFailed);

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
