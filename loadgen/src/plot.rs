//! SVG plots of the results, drawn with `plotters`.

use std::{fmt::Write as _, path::Path};

use anyhow::anyhow;
use plotters::prelude::*;

use crate::{
    report::{NODE_P99_MS, Results},
    util::{f, median},
    workloads::{Scale, throughput},
};

const SIZE: (u32, u32) = (820, 480);

fn err(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plotting: {error}")
}

/// One named line of (x, y) points.
struct Line {
    name: String,
    points: Vec<(f64, f64)>,
    color: RGBColor,
    dashed: bool,
}

fn line(name: &str, points: Vec<(f64, f64)>, color: RGBColor) -> Line {
    Line {
        name: name.to_owned(),
        points: points
            .into_iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect(),
        color,
        dashed: false,
    }
}

fn bounds(lines: &[Line], pick: fn(&(f64, f64)) -> f64) -> (f64, f64) {
    let values = lines.iter().flat_map(|l| l.points.iter().map(pick));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
}

/// Draws `lines` into an SVG; `log` puts both axes on log scales.
fn draw(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    lines: &[Line],
    log: bool,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (x_lo, x_hi) = bounds(lines, |p| p.0);
    let (y_lo, y_hi) = bounds(lines, |p| p.1);
    let mut builder = ChartBuilder::on(&root);
    builder
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(64);
    if log {
        let mut chart = builder
            .build_cartesian_2d(
                (x_lo.max(1e-3) * 0.8..x_hi * 1.25).log_scale(),
                (y_lo.max(1e-2) * 0.7..y_hi * 1.5).log_scale(),
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        for l in lines {
            let style = ShapeStyle::from(&l.color).stroke_width(2);
            if l.dashed {
                chart
                    .draw_series(PointSeries::of_element(
                        l.points.clone(),
                        5,
                        style,
                        &|c, s, st| EmptyElement::at(c) + Cross::new((0, 0), s, st),
                    ))
                    .map_err(err)?
                    .label(l.name.clone())
                    .legend(move |(x, y)| Cross::new((x + 10, y), 5, style));
            } else {
                chart
                    .draw_series(LineSeries::new(l.points.clone(), style).point_size(3))
                    .map_err(err)?
                    .label(l.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    } else {
        let mut chart = builder
            .build_cartesian_2d(x_lo.min(0.0)..x_hi * 1.05, y_lo.min(0.0)..y_hi * 1.1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        for l in lines {
            let style = ShapeStyle::from(&l.color).stroke_width(2);
            chart
                .draw_series(LineSeries::new(l.points.clone(), style))
                .map_err(err)?
                .label(l.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const RED_: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(110, 110, 110);

/// Draws every plot the results allow into `dir`; returns markdown that shows them, with
/// paths relative to `doc_dir`.
pub fn all(
    results: &Results,
    scale: &Scale,
    dir: &Path,
    link_prefix: &str,
) -> anyhow::Result<String> {
    std::fs::create_dir_all(dir)?;
    let mut md = String::new();
    let mut add = |file: &str, alt: &str| {
        let _ = writeln!(md, "![{alt}]({link_prefix}{file})\n");
    };
    if let Some(repeats) = &results.fanout {
        fanout_plot(scale, repeats, &dir.join("fanout.svg"))?;
        add("fanout.svg", "Fan-out latency by rate");
    }
    if let Some(repeats) = &results.throughput {
        let rows = throughput::median_by_rate(scale, repeats);
        let pts = |pick: fn(&throughput::RateRun) -> f64| {
            rows.iter()
                .map(|(r, _)| (r.stored_per_s.max(1.0), pick(r)))
                .collect::<Vec<_>>()
        };
        let bound = scale.throughput_p99_ms;
        let x_max = rows.iter().map(|(r, _)| r.stored_per_s).fold(1.0, f64::max);
        let mut limit = line(
            "p99 bound",
            vec![
                (
                    rows.first().map_or(1.0, |(r, _)| r.stored_per_s.max(1.0)),
                    bound,
                ),
                (x_max, bound),
            ],
            GREY,
        );
        limit.dashed = true;
        let lines = vec![
            line("deliveries p99", pts(|r| r.all.p99_ms), RED_),
            line("deliveries p50", pts(|r| r.all.p50_ms), ORANGE),
            line("last recipient p99", pts(|r| r.last.p99_ms), BLUE_),
            limit,
        ];
        draw(
            &dir.join("throughput.svg"),
            "Throughput: 100 rooms × 20, every message stored",
            "stored messages/s",
            "ms",
            &lines,
            true,
        )?;
        add("throughput.svg", "Throughput latency by stored rate");
    }
    if let Some(runs) = &results.idle {
        let per = runs
            .iter()
            .map(|r| r.per_connection_kib)
            .collect::<Vec<_>>();
        let mid = median(&per);
        if let Some(run) = runs.iter().min_by(|a, b| {
            (a.per_connection_kib - mid)
                .abs()
                .total_cmp(&(b.per_connection_kib - mid).abs())
        }) {
            let lines = vec![line("server RSS", run.samples.clone(), BLUE_)];
            draw(
                &dir.join("idle.svg"),
                "Idle authenticated sockets: server RSS (MiB)",
                "open sockets",
                "MiB",
                &lines,
                false,
            )?;
            add("idle.svg", "Server RSS by idle sockets");
        }
    }
    if let Some(run) = results.slow.as_ref().and_then(|runs| runs.first()) {
        let lines = vec![
            line("every member reading", run.series_baseline.clone(), BLUE_),
            line("one member never reading", run.series_slow.clone(), RED_),
        ];
        draw(
            &dir.join("slow.svg"),
            "Slow consumer: server RSS during the run (MiB)",
            "seconds",
            "MiB",
            &lines,
            false,
        )?;
        add("slow.svg", "Server RSS with and without a slow consumer");
    }
    let _ = f;
    Ok(md)
}

fn fanout_plot(
    scale: &Scale,
    repeats: &[Vec<crate::workloads::fanout::StepRun>],
    path: &Path,
) -> anyhow::Result<()> {
    let steps: Vec<_> = (0..scale.fanout_steps.len())
        .map(|i| {
            let runs: Vec<_> = repeats.iter().filter_map(|r| r.get(i).cloned()).collect();
            crate::workloads::fanout::median_step(&runs)
        })
        .collect();
    let pts = |pick: fn(&crate::workloads::fanout::StepRun) -> f64| {
        steps.iter().map(|s| (s.rate, pick(s))).collect::<Vec<_>>()
    };
    let mut lines = vec![
        line("last recipient p99", pts(|s| s.last.p99_ms), RED_),
        line("last recipient p50", pts(|s| s.last.p50_ms), ORANGE),
        line("first recipient p99", pts(|s| s.first.p99_ms), BLUE_),
        line("first recipient p50", pts(|s| s.first.p50_ms), GREEN_),
    ];
    let mut node = line(
        "Node.js ws p99 (issue 5, not re-measured)",
        NODE_P99_MS.to_vec(),
        GREY,
    );
    node.dashed = true;
    lines.push(node);
    let mut goal = line(
        "targets (p99 last)",
        vec![(10.0, 10.0), (100.0, 20.0)],
        RED_,
    );
    goal.dashed = true;
    lines.push(goal);
    draw(
        path,
        "Fan-out, 1,000-member room: send → delivery (ms)",
        "messages/s into the room",
        "ms",
        &lines,
        true,
    )?;
    Ok(())
}
