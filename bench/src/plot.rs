//! The two pictures, as SVG: efficiency per workload (bars) and ns per
//! operation against the live-set size (lines, log scales). One colour per
//! allocator in both, with the names on the chart.

use std::path::Path;

use plotters::prelude::*;

use crate::Row;

pub struct Chart<'a> {
    pub rows: &'a [Row],
    pub scaling_live: [usize; 3],
    pub arena: usize,
}

type Result = std::result::Result<(), Box<dyn std::error::Error>>;

/// A colour per allocator: tmalloc's policies in blues and greens, the
/// peers in warm colours, so the two families read apart.
fn colour(i: usize, name: &str) -> RGBColor {
    const TMALLOC: [RGBColor; 8] = [
        RGBColor(0, 70, 180),
        RGBColor(30, 130, 220),
        RGBColor(0, 150, 150),
        RGBColor(60, 170, 90),
        RGBColor(110, 110, 200),
        RGBColor(0, 110, 90),
        RGBColor(90, 160, 200),
        RGBColor(40, 90, 120),
    ];
    const PEERS: [RGBColor; 7] = [
        RGBColor(220, 60, 40),
        RGBColor(240, 140, 0),
        RGBColor(180, 40, 140),
        RGBColor(150, 90, 40),
        RGBColor(230, 90, 150),
        RGBColor(200, 160, 0),
        RGBColor(120, 30, 30),
    ];
    if name.starts_with("tmalloc") { TMALLOC[i % TMALLOC.len()] } else { PEERS[i % PEERS.len()] }
}

impl Chart<'_> {
    fn colours(&self) -> Vec<RGBColor> {
        let (mut t, mut p) = (0, 0);
        self.rows
            .iter()
            .map(|r| {
                let counter = if r.name.starts_with("tmalloc") { &mut t } else { &mut p };
                *counter += 1;
                colour(*counter - 1, &r.name)
            })
            .collect()
    }

    /// Horizontal bars, one panel per workload, one bar per allocator.
    pub fn efficiency(&self, path: &Path) -> Result {
        let n = self.rows.len().max(1);
        let height = 120 + 2 * (40 + 22 * n as u32);
        let root = SVGBackend::new(path, (900, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(height / 2);
        let colours = self.colours();
        let panels: [(&str, Vec<Option<f64>>); 2] = [
            (
                "seed: live payload / arena at the first failure (LIFO, 20/24/32 B)",
                self.rows.iter().map(|r| r.seed.map(|s| s.0)).collect(),
            ),
            (
                "fragmenting: live payload / arena at the first failure (random frees, 20 B-4 KiB)",
                self.rows.iter().map(|r| r.fragmenting).collect(),
            ),
        ];
        for (area, (title, values)) in [top, bottom].into_iter().zip(panels) {
            let mut chart = ChartBuilder::on(&area)
                .caption(format!("{title}, {} KiB", self.arena >> 10), ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(190)
                .build_cartesian_2d(0.0..1.1f64, (0..n).into_segmented())?;
            let names: Vec<&str> = self.rows.iter().map(|r| r.name.as_str()).collect();
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(n)
                .y_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => names.get(*i).map_or(String::new(), |s| s.to_string()),
                    _ => String::new(),
                })
                .x_desc("fraction of the arena holding live payload")
                .draw()?;
            for (i, value) in values.iter().enumerate() {
                let v = value.unwrap_or(0.0);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(0.0, SegmentValue::Exact(i)), (v, SegmentValue::Exact(i + 1))],
                    colours[i].filled(),
                )))?;
                let label = value.map_or("failed".to_string(), |v| format!("{v:.3}"));
                chart.draw_series(std::iter::once(Text::new(
                    label,
                    (v + 0.01, SegmentValue::CenterOf(i)),
                    ("sans-serif", 13).into_font().color(&BLACK),
                )))?;
            }
        }
        root.present()?;
        Ok(())
    }

    /// ns per operation against live blocks, both axes logarithmic; the
    /// legend in a column of its own, so no line hides behind it. The
    /// default policy is drawn thicker.
    pub fn scaling(&self, path: &Path) -> Result {
        let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
        root.fill(&WHITE)?;
        let (plot, legend) = root.split_horizontally(760);
        let colours = self.colours();
        let [lo, _, hi] = self.scaling_live;
        let all = self.rows.iter().flat_map(|r| r.scaling);
        let max = all.clone().fold(1.0f64, f64::max) * 2.0;
        let min = all.fold(f64::MAX, f64::min).max(0.1) / 2.0;
        let mut chart = ChartBuilder::on(&plot)
            .caption("steady state: ns per operation against live blocks", ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(((lo as f64) / 1.5..(hi as f64) * 1.5).log_scale(), (min..max).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("live blocks (8-512 B each)")
            .y_desc("ns per alloc or free")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v}"))
            .draw()?;
        for (i, r) in self.rows.iter().enumerate() {
            let points: Vec<(f64, f64)> =
                self.scaling_live.iter().zip(r.scaling).map(|(&n, ns)| (n as f64, ns)).collect();
            let width = if i == 0 { 4 } else { 2 };
            chart.draw_series(LineSeries::new(
                points.clone(),
                ShapeStyle::from(&colours[i]).stroke_width(width),
            ))?;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colours[i].filled())))?;
            let y = 50 + 22 * i as i32;
            legend.draw(&PathElement::new(
                vec![(10, y), (40, y)],
                ShapeStyle::from(&colours[i]).stroke_width(width),
            ))?;
            legend.draw(&Text::new(r.name.clone(), (48, y - 7), ("sans-serif", 13).into_font()))?;
        }
        root.present()?;
        Ok(())
    }
}
