//! PNG line charts (plotters, bitmap backend) with an embedded font, so figures render the
//! same on any machine, with or without system fonts.

use std::path::Path;
use std::sync::Once;

use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "icrl-sans";

fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in; failing to parse it would be a build defect.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// One curve: points, an optional spread band (low, high per point) and a dashed style.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Per point `(x, low, high)`, drawn as a translucent band.
    pub band: Vec<(f64, f64, f64)>,
    pub dashed: bool,
    /// Index into the palette.
    pub color: usize,
}

/// One panel of a figure.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Fixed y range; `None` fits the data.
    pub y_range: Option<(f64, f64)>,
    /// Legend in the upper right corner, above the data (a fitted y range leaves room for
    /// it), instead of the lower right, where rising curves end.
    pub legend_upper: bool,
}

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

pub fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Draw `panels` in a grid (`cols` columns) into a PNG at `path`, written atomically.
pub fn save_panels(path: &Path, title: &str, panels: &[Panel], cols: usize) -> Result<()> {
    register();
    if panels.is_empty() {
        return Err(anyhow!("nothing to plot for {}", path.display()));
    }
    let cols = cols.clamp(1, panels.len());
    let rows = panels.len().div_ceil(cols);
    let (w, h) = (520 * cols as u32, 380 * rows as u32 + 50);
    let draw = |tmp: &Path| -> Result<()> {
        let root = BitMapBackend::new(tmp, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let (top, body) = root.split_vertically(50);
        // The largest size up to 26 px at which the title fits the figure's width.
        let fits = |size: u32| {
            top.estimate_text_size(title, &(FAMILY, size as f64).into_text_style(&top))
                .is_ok_and(|(tw, _)| tw + 20 <= w)
        };
        let size = (12..=26).rev().find(|&s| fits(s)).unwrap_or(12);
        top.titled(title, (FAMILY, size as f64)).map_err(|e| anyhow!("{e}"))?;
        let areas = body.split_evenly((rows, cols));
        for (panel, area) in panels.iter().zip(areas.iter()) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(|e| anyhow!("writing {}: {e}", tmp.display()))
    };
    histories::fsio::write_atomic_with(path, draw, |e| {
        anyhow!(e).context(format!("writing {}", path.display()))
    })
}

fn draw_panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    panel: &Panel,
) -> Result<()> {
    let xs = panel.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (x0, x1) = if x0.is_finite() && x1 > x0 { (x0, x1) } else { (0.0, 1.0) };
    let (y0, y1) = panel.y_range.unwrap_or_else(|| {
        let ys = panel.series.iter().flat_map(|s| {
            s.points.iter().map(|p| p.1).chain(s.band.iter().flat_map(|b| [b.1, b.2]))
        });
        let (a, b) = ys
            .filter(|y| y.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
        if !a.is_finite() {
            (0.0, 1.0)
        } else {
            let pad = ((b - a) * 0.05).max(1e-6);
            // An upper legend gets the top of the panel to itself.
            let top = if panel.legend_upper { (b - a) * 0.6 } else { pad };
            (a - pad, b + top)
        }
    });
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FAMILY, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .label_style((FAMILY, 13))
        .axis_desc_style((FAMILY, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    for s in &panel.series {
        let c = color(s.color);
        if !s.band.is_empty() {
            let mut poly: Vec<(f64, f64)> = s.band.iter().map(|b| (b.0, b.2)).collect();
            poly.extend(s.band.iter().rev().map(|b| (b.0, b.1)));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, c.mix(0.18).filled())))
                .map_err(|e| anyhow!("{e}"))?;
        }
        let style = ShapeStyle { color: c.to_rgba(), filled: false, stroke_width: 2 };
        let drawn = if s.dashed {
            chart.draw_series(DashedLineSeries::new(s.points.iter().copied(), 6, 4, style))
        } else {
            chart.draw_series(LineSeries::new(s.points.iter().copied(), style))
        }
        .map_err(|e| anyhow!("{e}"))?;
        if !s.name.is_empty() {
            drawn
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
        }
    }
    if panel.series.iter().any(|s| !s.name.is_empty()) {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FAMILY, 12))
            .position(if panel.legend_upper {
                SeriesLabelPosition::UpperRight
            } else {
                SeriesLabelPosition::LowerRight
            })
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}
