//! `pullrecon report`: the HTML page opened in headless Chromium (Debian's `chromium`, which
//! `.ci/run` installs) renders, its screenshot is not blank, and its DOM shows the run's category
//! counts as the `findings` table has them (read with the `parquet` crate); the page is
//! self-contained and holds no BSN; the text summary; the trend over runs; `replay_attempts`.

use crate::common::*;
use crate::jobs::{pullrecon, stderr, stdout};
use crate::run::{no_replay, sample_bsns, sample_job, sample_job_edit, strings};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn chromium() -> &'static str {
    for c in ["chromium", "chromium-browser"] {
        if Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return c;
        }
    }
    panic!("Chromium is needed for this test: `apt-get install -y chromium` (.ci/run installs it)");
}

/// Headless Chromium with a fresh profile and nothing that goes to the network.
fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,2000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// Category → count, from the findings table.
fn counts_from_table(out: &Path) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in strings(out, "findings", "category") {
        *m.entry(c.unwrap()).or_insert(0) += 1;
    }
    m
}

#[test]
fn the_report_renders_in_headless_chromium_with_the_runs_counts() {
    let s = sample_job_edit("", no_replay);
    assert_eq!(s.run(&["--quiet"]).status.code(), Some(3));
    let html = s.out.join("report.html");
    let url = format!("file://{}", html.display());

    // The screenshot: a PNG that is not blank (many non-white pixels, and the chart's colours).
    let shot = s.dir.path().join("shot.png");
    let profile = tempfile::tempdir().unwrap();
    let o = headless(profile.path())
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 2000));
    let channels = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let (mut non_white, mut red) = (0usize, 0usize);
    for p in px.chunks(channels) {
        let (r, g, b) = (p[0], p[1], p[2]);
        if (r, g, b) != (255, 255, 255) {
            non_white += 1;
        }
        // The error bars' colour (#c0392b).
        if r > 170 && g < 80 && b < 70 {
            red += 1;
        }
    }
    let total = (info.width * info.height) as usize;
    assert!(
        non_white * 50 > total,
        "blank page: {non_white} of {total} pixels"
    );
    assert!(red > 2_000, "no chart drawn: {red} red pixels");

    // The DOM after rendering: each category's count as the findings table has it.
    let profile = tempfile::tempdir().unwrap();
    let o = headless(profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let dom = stdout(&o);
    let counts = counts_from_table(&s.out);
    assert_eq!(counts.values().sum::<usize>(), 37);
    for (category, _) in pullrecon::checks::categories() {
        let n = counts.get(category).copied().unwrap_or(0);
        let cell = format!("id=\"count-{category}\">{n}</td>");
        assert!(dom.contains(&cell), "{cell} not in the rendered page");
    }
    assert!(dom.contains("id=\"total-error\">27<"));
    assert!(dom.contains("<svg"), "inline SVG charts");
    let run_id = strings(&s.out, "runs", "run_id")[0].clone().unwrap();
    assert!(dom.contains(&run_id));
}

#[test]
fn the_page_is_self_contained_and_holds_no_bsn() {
    let s = sample_job("");
    s.run(&["--quiet"]);
    let page = std::fs::read_to_string(s.out.join("report.html")).unwrap();
    for bad in [
        "<script", "<link", "<img", "<iframe", "@import", "url(", "src=", "href=",
    ] {
        assert!(!page.contains(bad), "{bad} in the page");
    }
    for bsn in sample_bsns() {
        assert!(!page.contains(&bsn), "a BSN in the page");
    }
    for section in [
        "id=\"categories\"",
        "id=\"senders\"",
        "id=\"trend\"",
        "id=\"replay-status\"",
        "id=\"oldest\"",
        "id=\"bsn-summary\"",
        "id=\"bsn\"",
    ] {
        assert!(page.contains(section), "{section}");
    }
}

#[test]
fn report_prints_a_summary_and_shows_the_trend_and_replay_attempts() {
    let s = sample_job_edit(
        "[pseudonymisation]\nkey_env = \"PULLRECON_TEST_KEY\"",
        no_replay,
    );
    // Two runs, two dates: the trend has two points.
    let run = |as_of: &str| {
        let o = bin()
            .args([
                "run",
                "--job",
                s.job.to_str().unwrap(),
                "--quiet",
                "--as-of",
                as_of,
            ])
            .env("PULLRECON_TEST_KEY", "report-test-key")
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    };
    run("2026-11-19T05:00:00Z");
    run(AS_OF);
    let run_id = parquet_files(&s.out.join("runs/date=2026-11-20"))
        .iter()
        .flat_map(|f| read_batches(f))
        .flat_map(|b| crate::tables::column_strings(&b, "run_id"))
        .next()
        .flatten()
        .unwrap();
    // A replay_attempts partition as replay writes one (two attempts of this run, one of another).
    write_replay_attempts(&s.out.join("replay_attempts/date=2026-11-20"), &run_id);

    let html = s.dir.path().join("r/report.html");
    let o = pullrecon(&[
        "report",
        "--out",
        s.out.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(text.contains("as of 2026-11-20T05:00:00Z"), "{text}");
    assert!(text.contains("pull-failed"), "{text}");
    assert!(text.contains("trend: 2 runs"), "{text}");
    assert!(text.contains(&html.display().to_string()));
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"chart-trend\""));
    assert!(
        page.contains("<td>succeeded</td><td class=\"num\">1</td>"),
        "replay_attempts counted"
    );
    assert!(page.contains("<td>failed</td><td class=\"num\">1</td>"));
    assert!(!page.contains("(no key)"), "pseudonyms shown with a key");
    for bsn in sample_bsns() {
        assert!(!page.contains(&bsn) && !text.contains(&bsn));
    }

    let empty = tempfile::tempdir().unwrap();
    let o = pullrecon(&["report", "--out", empty.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim_end().lines().count(), 1, "{}", stderr(&o));
}

fn write_replay_attempts(dir: &Path, run_id: &str) {
    use arrow_array::{RecordBatch, StringArray};
    use std::sync::Arc;
    std::fs::create_dir_all(dir).unwrap();
    let batch = RecordBatch::try_from_iter([
        (
            "run_id",
            Arc::new(StringArray::from(vec![run_id, run_id, "other-run"])) as _,
        ),
        (
            "outcome",
            Arc::new(StringArray::from(vec!["succeeded", "failed", "succeeded"])) as _,
        ),
    ])
    .unwrap();
    let f = std::fs::File::create(dir.join("part-0-of-1.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}
