//! The HTML page of a report: one self-contained file (inline CSS and SVG, no script, no font,
//! no image, no link to fetch: it opens offline and in a mail client). Every value from the
//! tables is HTML-escaped. Pseudonyms are shortened; a BSN is in no table, so in no page.

use super::charts::{self, Bar, ERROR, GREY, INFO, OK, WARNING};
use super::{ReportData, SenderCount};
use crate::time::format_ts;
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1040px; color: #222; background: #fff; }
h1 { font-size: 26px; margin-bottom: 4px; }
h2 { font-size: 20px; margin-top: 36px; border-bottom: 2px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 10px 0; font-size: 14px; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.zero td { color: #999; }
.sev-error { color: #c0392b; font-weight: 600; }
.sev-warning { color: #d35400; font-weight: 600; }
.sev-info { color: #2980b9; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 13px; }
.b-ok { background: #27ae60; } .b-error { background: #c0392b; } .b-skipped { background: #95a5a6; } .b-partial { background: #e67e22; } .b-failed { background: #c0392b; }
.meta td:first-child { font-weight: 600; background: #fafafa; }
.mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
.note { color: #555; font-size: 13px; }
.chart svg { max-width: 100%; height: auto; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 14px 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 16px; min-width: 120px; }
.card .n { font-size: 28px; font-weight: 700; }
"#;

fn sev_class(sev: &str) -> &'static str {
    match sev {
        "error" => "sev-error",
        "warning" => "sev-warning",
        _ => "sev-info",
    }
}

fn badge(status: &str) -> String {
    let class = match status {
        "ok" => "b-ok",
        "error" => "b-error",
        "partial" => "b-partial",
        "failed" => "b-failed",
        _ => "b-skipped",
    };
    format!("<span class=\"badge {class}\">{}</span>", esc(status))
}

fn ts(t: Option<i64>) -> String {
    t.map(format_ts).unwrap_or_else(|| "—".into())
}

/// The whole page.
pub fn render(d: &ReportData) -> Result<String> {
    let r = &d.run;
    let mut h = String::new();
    let title = format!("pullrecon report {} (run {})", r.date, r.run_id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(h, "<h1>pullrecon report: {}</h1>", esc(&r.date));
    let job = d.job_run.as_ref().and_then(|j| j.job.clone());
    let status = d.job_run.as_ref().and_then(|j| j.status.clone());
    let _ = writeln!(h, "<table class=\"meta\" id=\"run\">");
    let mut meta = |k: &str, v: String| {
        let _ = writeln!(h, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
    };
    if let Some(j) = &job {
        meta("job", esc(j));
    }
    meta(
        "run id",
        format!(
            "<span class=\"mono\" id=\"run-id\">{}</span>",
            esc(&r.run_id)
        ),
    );
    meta("as of", esc(&format_ts(r.as_of)));
    meta("window from", esc(&ts(r.window_from)));
    meta("date partition", esc(&r.date));
    meta("time zone", esc(&r.time_zone));
    meta("finished", esc(&ts(r.finished_at)));
    meta(
        "inputs",
        format!(
            "{} files, {} events used, {} notifications, {} rejects",
            r.input_files, r.events_used, r.notifications, r.rejects
        ),
    );
    if let Some(s) = &status {
        let exit = d
            .job_run
            .as_ref()
            .and_then(|j| j.exit_code)
            .map(|c| format!(" (exit status {c})"))
            .unwrap_or_default();
        meta("run status", format!("{}{}", badge(s), esc(&exit)));
    }
    let _ = writeln!(h, "</table>");

    let _ = writeln!(
        h,
        "<div class=\"cards\">\
         <div class=\"card\"><div class=\"n sev-error\" id=\"total-error\">{}</div>error findings</div>\
         <div class=\"card\"><div class=\"n sev-warning\" id=\"total-warning\">{}</div>warnings</div>\
         <div class=\"card\"><div class=\"n sev-info\" id=\"total-info\">{}</div>info</div>\
         <div class=\"card\"><div class=\"n\" id=\"total-replayable\">{}</div>replayable</div></div>",
        r.errors, r.warnings, r.infos, r.replayable
    );

    steps_section(&mut h, d);
    categories_section(&mut h, d)?;
    senders_section(&mut h, &d.senders)?;
    trend_section(&mut h, d)?;
    replay_section(&mut h, d)?;
    oldest_section(&mut h, d);
    bsn_section(&mut h, d);

    let _ = writeln!(
        h,
        "<p class=\"note\">Written by pullrecon {} from the tables under {}. Identifiers are those of \
         notifications, messages and organisations; patients appear only as keyed pseudonyms \
         (shortened), never as a BSN.</p>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION"),
        esc(&d.out.display().to_string())
    );
    Ok(h)
}

fn steps_section(h: &mut String, d: &ReportData) {
    let Some(j) = &d.job_run else {
        return;
    };
    let _ = writeln!(
        h,
        "<h2>Steps</h2>\n<table id=\"steps\"><tr><th>step</th><th>status</th><th>duration</th><th>detail</th></tr>"
    );
    let steps: Vec<serde_json::Value> = j
        .steps_json
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    for s in steps {
        let name = s["step"].as_str().unwrap_or("");
        let status = s["status"].as_str().unwrap_or("");
        let ms = s["duration_ms"].as_i64().unwrap_or(0);
        let detail = s["detail"].as_str().unwrap_or("");
        let _ = writeln!(
            h,
            "<tr data-step=\"{}\"><td>{}</td><td>{}</td><td class=\"num\">{:.1} s</td><td>{}</td></tr>",
            esc(name),
            esc(name),
            badge(status),
            ms as f64 / 1000.0,
            esc(detail)
        );
    }
    let _ = writeln!(h, "</table>");
    if let Some(e) = j.threshold_errors.as_deref().filter(|s| !s.is_empty()) {
        let _ = writeln!(
            h,
            "<p><span class=\"sev-error\">Over the error threshold:</span> {}</p>",
            esc(e)
        );
    }
    if let Some(w) = j.threshold_warnings.as_deref().filter(|s| !s.is_empty()) {
        let _ = writeln!(
            h,
            "<p><span class=\"sev-warning\">Over the warning threshold:</span> {}</p>",
            esc(w)
        );
    }
}

fn colour(sev: &str) -> plotters::style::RGBColor {
    match sev {
        "error" => ERROR,
        "warning" => WARNING,
        "info" => INFO,
        _ => GREY,
    }
}

fn categories_section(h: &mut String, d: &ReportData) -> Result<()> {
    let _ = writeln!(h, "<h2>Findings per category</h2>");
    let bars: Vec<Bar> = d
        .categories
        .iter()
        .filter(|c| c.count > 0)
        .map(|c| Bar {
            label: c.category.clone(),
            segments: vec![(c.count, colour(&c.severity))],
        })
        .collect();
    if bars.is_empty() {
        let _ = writeln!(h, "<p>No findings.</p>");
    } else {
        let svg = charts::hbars(
            "Findings per category",
            &bars,
            &[("error", ERROR), ("warning", WARNING), ("info", INFO)],
            250,
        )?;
        let _ = writeln!(
            h,
            "<div class=\"chart\" id=\"chart-categories\">{svg}</div>"
        );
    }
    let _ = writeln!(
        h,
        "<table id=\"categories\"><tr><th>category</th><th>severity</th><th>count</th><th>replayable</th></tr>"
    );
    for c in &d.categories {
        let _ = writeln!(
            h,
            "<tr data-category=\"{cat}\"{zero}><td>{cat}</td><td class=\"{cls}\">{sev}</td>\
             <td class=\"num count\" id=\"count-{cat}\">{n}</td><td class=\"num\">{rp}</td></tr>",
            cat = esc(&c.category),
            zero = if c.count == 0 { " class=\"zero\"" } else { "" },
            cls = sev_class(&c.severity),
            sev = esc(&c.severity),
            n = c.count,
            rp = c.replayable
        );
    }
    let _ = writeln!(h, "</table>");
    Ok(())
}

fn senders_section(h: &mut String, senders: &[SenderCount]) -> Result<()> {
    let _ = writeln!(h, "<h2>Findings per sender</h2>");
    if senders.is_empty() {
        let _ = writeln!(h, "<p>No findings.</p>");
        return Ok(());
    }
    let bars: Vec<Bar> = senders
        .iter()
        .take(25)
        .map(|s| Bar {
            label: s.sender.clone(),
            segments: vec![(s.error, ERROR), (s.warning, WARNING), (s.info, INFO)],
        })
        .collect();
    let svg = charts::hbars(
        "Findings per sending organisation",
        &bars,
        &[("error", ERROR), ("warning", WARNING), ("info", INFO)],
        330,
    )?;
    let _ = writeln!(h, "<div class=\"chart\" id=\"chart-senders\">{svg}</div>");
    let _ = writeln!(
        h,
        "<table id=\"senders\"><tr><th>sender</th><th>error</th><th>warning</th><th>info</th></tr>"
    );
    for s in senders {
        let _ = writeln!(
            h,
            "<tr><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&s.sender),
            s.error,
            s.warning,
            s.info
        );
    }
    let _ = writeln!(h, "</table>");
    Ok(())
}

fn trend_section(h: &mut String, d: &ReportData) -> Result<()> {
    let _ = writeln!(h, "<h2>Trend over the runs in this folder</h2>");
    let points: Vec<(String, [i64; 3])> = d
        .trend
        .iter()
        .map(|t| (t.date.clone(), [t.errors, t.warnings, t.infos]))
        .collect();
    if points.len() > 1 {
        let svg = charts::trend(&points)?;
        let _ = writeln!(h, "<div class=\"chart\" id=\"chart-trend\">{svg}</div>");
    } else {
        let _ = writeln!(
            h,
            "<p class=\"note\">One run so far: the trend appears from the second date on.</p>"
        );
    }
    let _ = writeln!(
        h,
        "<table id=\"trend\"><tr><th>date</th><th>run</th><th>error</th><th>warning</th><th>info</th></tr>"
    );
    for t in d.trend.iter().rev().take(60) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&t.date),
            esc(&t.run_id),
            t.errors,
            t.warnings,
            t.infos
        );
    }
    let _ = writeln!(h, "</table>");
    Ok(())
}

fn replay_section(h: &mut String, d: &ReportData) -> Result<()> {
    let _ = writeln!(h, "<h2>Replay</h2>");
    match &d.job_run {
        None => {
            let _ = writeln!(
                h,
                "<p id=\"replay-status\">Not recorded: this run was a plain <code>reconcile</code>.</p>"
            );
        }
        Some(j) => {
            let rp = &j.replay;
            let _ = writeln!(
                h,
                "<p id=\"replay-status\">Status: {}</p>",
                badge(&rp.status)
            );
            if let Some(e) = &rp.error {
                let _ = writeln!(
                    h,
                    "<p class=\"sev-error\" id=\"replay-error\">{}</p>",
                    esc(e)
                );
            }
            let outcomes = [
                ("planned", rp.planned, GREY),
                ("succeeded", rp.succeeded, OK),
                ("failed", rp.failed, ERROR),
                ("parked", rp.parked, WARNING),
                ("refused", rp.refused, INFO),
                ("deferred", rp.deferred, GREY),
            ];
            if rp.status == "ok" && outcomes.iter().any(|o| o.1 > 0) {
                let bars: Vec<Bar> = outcomes
                    .iter()
                    .map(|(n, v, c)| Bar {
                        label: (*n).to_owned(),
                        segments: vec![((*v).max(0) as u64, *c)],
                    })
                    .collect();
                let svg = charts::hbars("Replay outcomes", &bars, &[], 120)?;
                let _ = writeln!(h, "<div class=\"chart\" id=\"chart-replay\">{svg}</div>");
            }
            let _ = writeln!(
                h,
                "<table id=\"replay\"><tr><th>outcome</th><th>items</th></tr>"
            );
            for (n, v, _) in outcomes {
                let _ = writeln!(h, "<tr><td>{n}</td><td class=\"num\">{v}</td></tr>");
            }
            let _ = writeln!(
                h,
                "<tr><td>attempts</td><td class=\"num\">{}</td></tr></table>",
                rp.attempts
            );
        }
    }
    if let Some(a) = &d.replay_attempts {
        let _ = writeln!(
            h,
            "<table id=\"replay-attempts\"><tr><th>replay_attempts: outcome</th><th>rows</th></tr>"
        );
        for (o, n) in a {
            let _ = writeln!(h, "<tr><td>{}</td><td class=\"num\">{n}</td></tr>", esc(o));
        }
        let _ = writeln!(h, "</table>");
    }
    Ok(())
}

fn oldest_section(h: &mut String, d: &ReportData) {
    let _ = writeln!(
        h,
        "<h2>Oldest unresolved items</h2>\n<p class=\"note\">{} findings of severity error or warning; the {} oldest (by when the problem began):</p>",
        d.unresolved,
        d.oldest.len()
    );
    if d.oldest.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<table id=\"oldest\"><tr><th>since</th><th>age at as-of</th><th>category</th><th>notification / message</th><th>request</th><th>sender</th><th>replayable</th></tr>"
    );
    for i in &d.oldest {
        let age = i
            .since
            .map(|s| crate::time::format_duration(((d.run.as_of - s) / 1_000_000).max(0)))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"{}\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td></tr>",
            esc(&ts(i.since)),
            esc(&age),
            sev_class(&i.severity),
            esc(&i.category),
            esc(&i.subject),
            esc(i.request.as_deref().unwrap_or("")),
            esc(i.sender.as_deref().unwrap_or("")),
            if i.replayable { "yes" } else { "no" }
        );
    }
    let _ = writeln!(h, "</table>");
}

fn bsn_section(h: &mut String, d: &ReportData) {
    let _ = writeln!(h, "<h2>BSN routes</h2>");
    if !d.pseudonym_key {
        let _ = writeln!(
            h,
            "<p class=\"note\">No pseudonymisation key was set for this run: the pseudonym columns are empty.</p>"
        );
    }
    let _ = writeln!(
        h,
        "<table id=\"bsn-summary\"><tr><th>routes carrying a BSN</th><th>notifications</th><th>invalid</th><th>mismatch</th><th>unavailable</th></tr>"
    );
    for s in &d.bsn_summary {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&s.routes),
            s.notifications,
            s.invalid,
            s.mismatch,
            s.unavailable
        );
    }
    let _ = writeln!(h, "</table>");
    if d.bsn_rows.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<p class=\"note\">Per notification ({} of {}; those with a problem first). Each cell: pseudonym (first 12 hex digits) and elfproef.</p>",
        d.bsn_rows.len(),
        d.bsn_total
    );
    let _ = writeln!(
        h,
        "<table id=\"bsn\"><tr><th>notification</th><th>sender</th><th>task</th><th>workflow task</th><th>assertion</th><th>mismatch</th><th>unavailable</th><th>state</th></tr>"
    );
    for r in &d.bsn_rows {
        let cells: Vec<String> = r
            .routes
            .iter()
            .map(|(_, carried, p, valid)| {
                if !carried {
                    return "—".to_owned();
                }
                let v = match valid {
                    Some(true) => "valid",
                    Some(false) => "<span class=\"sev-error\">invalid</span>",
                    None => "value not logged",
                };
                match (p, valid) {
                    (Some(p), _) => format!("<span class=\"mono\">{}</span> {v}", esc(p)),
                    (None, None) => v.to_owned(),
                    (None, Some(_)) => format!("<span class=\"mono\">(no key)</span> {v}"),
                }
            })
            .collect();
        let state = match (r.current, r.cancelled) {
            (_, true) => "cancelled",
            (true, false) => "current",
            (false, false) => "superseded",
        };
        let yes = |b: bool| {
            if b {
                "<span class=\"sev-error\">yes</span>"
            } else {
                "no"
            }
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.notification),
            esc(r.sender.as_deref().unwrap_or("")),
            cells.first().cloned().unwrap_or_default(),
            cells.get(1).cloned().unwrap_or_default(),
            cells.get(2).cloned().unwrap_or_default(),
            yes(r.mismatch),
            yes(r.unavailable),
            state
        );
    }
    let _ = writeln!(h, "</table>");
}

/// Writes the page atomically (hidden temporary file, then rename), mode 0640.
pub fn write_atomic(path: &Path, page: &str) -> Result<()> {
    crate::tables::writer::write_file_atomic(path, page.as_bytes(), "report")
}
