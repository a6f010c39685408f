//! `pullrecon report`: the human report of the latest run in an output folder (or of a named run):
//! one self-contained HTML file plus a text summary on stdout (`crate::report`). Reads only.
//!
//! Usage: pullrecon report --out DIR [--run-id ID] [--html PATH] [--quiet]
//!
//! The latest run is the one with the greatest as-of. The HTML goes to DIR/report.html unless
//! --html names another file. Exit status: 0 written; 1 no run in DIR or not writable; 2 usage.

use anyhow::Result;
use std::path::PathBuf;

/// The human report of the latest run in DIR: an HTML file and a text summary on stdout.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The output folder holding the runs.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Report this run instead of the latest.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// Where to write the HTML file (default DIR/report.html).
    #[arg(long, value_name = "PATH")]
    pub html: Option<PathBuf>,
    /// Print nothing on stdout.
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(args: &Args, _command: String) -> Result<i32> {
    let path = args
        .html
        .clone()
        .unwrap_or_else(|| args.out.join("report.html"));
    let data = crate::report::write_report(&args.out, args.run_id.as_deref(), &path)?;
    if args.quiet {
        return Ok(0);
    }
    if crate::cli::json_output() {
        let cats: serde_json::Map<String, serde_json::Value> = data
            .categories
            .iter()
            .map(|c| (c.category.clone(), c.count.into()))
            .collect();
        crate::nightly::out(&format!(
            "{}\n",
            serde_json::json!({
                "ts": crate::time::format_ts(crate::reconcile::now_micros()),
                "event": "report",
                "run_id": data.run.run_id,
                "as_of": crate::time::format_ts(data.run.as_of),
                "date": data.run.date,
                "findings": cats,
                "unresolved": data.unresolved,
                "html": path.display().to_string(),
            })
        ));
    } else {
        crate::nightly::out(&crate::report::text_summary(&data, Some(&path)));
    }
    Ok(0)
}
