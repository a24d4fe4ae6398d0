//! Charts drawn on the server as inline SVG (no script, no chart library): the pipeline by stage,
//! activities per week, and what a co-worker read and exported per day.

use holdfast_core::storage::StageTotal;
use holdfast_core::time::{MICROS_PER_DAY, format_timestamp};

use super::view::money;

/// One day of a co-worker's reading: rows opened, listed or searched, and rows exported.
pub struct DayVolume {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub read: i64,
    pub exported: i64,
}

/// The pipeline as horizontal bars (amount per stage).
pub(crate) fn pipeline_chart(stages: &[StageTotal]) -> String {
    let max = stages.iter().map(|s| s.cents).max().unwrap_or(0).max(1) as f64;
    let row = 22.0;
    let height = row * stages.len() as f64;
    let mut svg =
        format!("<svg class=\"pipeline\" viewBox=\"0 0 400 {height}\" role=\"img\" aria-label=\"Pipeline by stage\">");
    for (i, s) in stages.iter().enumerate() {
        let y = i as f64 * row;
        let w = (s.cents as f64 / max) * 160.0;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect x=\"110\" y=\"{:.1}\" width=\"{w:.1}\" height=\"14\"></rect><text x=\"{:.1}\" y=\"{:.1}\">{} · {}</text>",
            y + 15.0,
            s.stage.replace('_', " "),
            y + 4.0,
            115.0 + w,
            y + 15.0,
            money(s.cents),
            s.deals,
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// One bar of a bar chart: its height's value, the figure above it, the label under it, its
/// tooltip, and whether it stands out (the period under way).
struct Bar {
    value: i64,
    figure: String,
    label: String,
    title: String,
    now: bool,
}

/// Bars side by side over a 600-wide chart, each with its figure above and its label below.
fn bar_chart(class: &str, aria: &str, (top, height): (f64, f64), bars: &[Bar]) -> String {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1) as f64;
    let width = 600.0;
    let slot = width / bars.len().max(1) as f64;
    let mut svg = format!(
        "<svg class=\"{class}\" viewBox=\"0 0 {width} {}\" role=\"img\" aria-label=\"{aria}\">",
        top + height + 18.0
    );
    for (i, b) in bars.iter().enumerate() {
        let h = (b.value as f64 / max) * height;
        let x = i as f64 * slot;
        svg.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"{}><title>{}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" class=\"axis\">{}</text>",
            x + slot * 0.15,
            top + height - h,
            slot * 0.7,
            if b.now { " class=\"now\"" } else { "" },
            b.title,
            x + slot / 2.0,
            top + height - h - 3.0,
            b.figure,
            x + slot / 2.0,
            top + height + 13.0,
            b.label,
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// Activities per week as bars, the current week last, each bar labelled with its count and the
/// date its week starts.
pub(crate) fn week_chart(per_week: &[i64], now: i64) -> String {
    let n = per_week.len();
    let bars: Vec<Bar> = per_week
        .iter()
        .enumerate()
        .map(|(i, count)| {
            let start = now - (n - i) as i64 * 7 * MICROS_PER_DAY;
            let day = format_timestamp(start)[5..10].to_string();
            Bar {
                value: *count,
                figure: count.to_string(),
                title: format!("week from {day}: {count}"),
                label: day,
                now: false,
            }
        })
        .collect();
    bar_chart("weeks", "Activities per week", (16.0, 100.0), &bars)
}

/// Walk-out exposure month by month: the annual value hanging on one co-worker at each month's end
/// (the month under way as of now, lighter).
pub(crate) fn trend_chart(months: &[holdfast_core::service::TrendMonth]) -> String {
    let bars: Vec<Bar> = months
        .iter()
        .map(|m| {
            let label = if m.current { format!("{} (now)", m.month) } else { m.month.clone() };
            Bar {
                value: m.value_at_stake,
                figure: money(m.value_at_stake),
                title: format!("{label}: {} a year on {} accounts", money(m.value_at_stake), m.accounts),
                label,
                now: m.current,
            }
        })
        .collect();
    bar_chart("weeks trend", "Value at stake month by month", (18.0, 110.0), &bars)
}

/// Daily reading and exporting as stacked bars, exports on top in the warning colour, so a day of
/// bulk reading or exporting stands out.
pub(crate) fn volume_chart(days: &[DayVolume]) -> String {
    let max = days.iter().map(|d| d.read + d.exported).max().unwrap_or(0).max(1) as f64;
    let w = 100.0 / days.len().max(1) as f64;
    let mut svg = String::from(
        "<svg class=\"chart\" viewBox=\"0 0 100 50\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"Rows read and exported per day\">",
    );
    let clean = |d: &str| d.chars().filter(|c| c.is_ascii_digit() || *c == '-').collect::<String>();
    for (i, d) in days.iter().enumerate() {
        let hr = (d.read as f64 / max) * 45.0;
        let he = (d.exported as f64 / max) * 45.0;
        let x = i as f64 * w + w * 0.1;
        let title = format!("{}: {} read, {} exported", clean(&d.date), d.read, d.exported);
        svg.push_str(&format!(
            "<rect x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{hr:.2}\"><title>{title}</title></rect>",
            48.0 - hr,
            w * 0.8
        ));
        if d.exported > 0 {
            svg.push_str(&format!(
                "<rect class=\"export\" x=\"{x:.2}\" y=\"{:.2}\" width=\"{:.2}\" height=\"{he:.2}\"><title>{title}</title></rect>",
                48.0 - hr - he,
                w * 0.8
            ));
        }
    }
    svg.push_str("</svg>");
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        svg.push_str(&format!(
            "<p class=\"muted\">{} to {}; the tallest day is {} rows. <span class=\"key read\">read</span> \
             <span class=\"key export\">exported</span>. Hover a bar for its day.</p>",
            clean(&first.date),
            clean(&last.date),
            max as i64
        ));
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_stack_on_top_only_on_days_with_exports() {
        let days = [
            DayVolume { date: "2026-11-01".into(), read: 10, exported: 0 },
            DayVolume { date: "2026-11-02".into(), read: 5, exported: 500 },
        ];
        let svg = volume_chart(&days);
        assert_eq!(svg.matches("class=\"export\"").count(), 1);
        assert!(svg.contains("the tallest day is 505 rows"));
        let pipe = pipeline_chart(&[StageTotal { stage: "closed_won", deals: 2, cents: 150_000 }]);
        assert!(pipe.contains("closed won") && pipe.contains("1,500 · 2"));
    }
}
