//! Where a run's tables go and how they are put there: one `part-I-of-N.parquet` per shard in each
//! table's date partition, the tables staged side by side (each building its batches on the
//! shared pool), then all moved into place together once every one is staged (a run whose tables
//! cannot all be written replaces none), and the parts of another shard layout (another N)
//! removed once this run's part is in place.

use super::writer::Staged;
use super::{RunRecord, TableData, writer};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// The file name of a shard's part within a partition.
pub fn part_name(shard: Option<(u32, u32)>) -> String {
    let (i, n) = shard.unwrap_or((0, 1));
    format!("part-{i}-of-{n}.parquet")
}

/// Whether a file name is a part of another shard layout than `of_n` (`part-I-of-N.parquet` with
/// another N): such files are stale and replaced. The other shards of the same N are kept.
pub fn is_other_layout(name: &str, of_n: u32) -> bool {
    let Some(rest) = name
        .strip_prefix("part-")
        .and_then(|r| r.strip_suffix(".parquet"))
    else {
        return false;
    };
    match rest.split_once("-of-") {
        Some((i, n)) => match (i.parse::<u32>(), n.parse::<u32>()) {
            (Ok(_), Ok(n)) => n != of_n,
            _ => false,
        },
        None => false,
    }
}

/// Stages every table of a run as this shard's part (`commit_all` puts them in place). On an
/// error nothing is staged: the files staged so far are removed.
pub fn stage_all(
    out: &Path,
    run: &RunRecord,
    shard: Option<(u32, u32)>,
    tables: Vec<(&'static str, TableData)>,
) -> Result<Vec<Staged>> {
    let meta = vec![
        ("pullrecon.run_id".to_owned(), run.run_id.clone()),
        (
            "pullrecon.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        (
            "pullrecon.as_of".to_owned(),
            crate::time::format_ts(run.as_of),
        ),
    ];
    let name = part_name(shard);
    // The tables are written side by side, each on a thread of its own: a table's writer
    // (encoding and compressing in order) is serial, and its batches are built on the shared
    // pool, so several tables keep both cores busy where one would leave one idle. Each builds
    // one batch ahead of the one it writes, so that the batches in memory at once stay about as
    // many as one table building a batch per core would hold.
    let batched = tables
        .iter()
        .filter(|(_, d)| matches!(d, TableData::Batches(_)))
        .count();
    let group = rayon::current_num_threads() / batched.max(1);
    let write = |table: &'static str, data: TableData<'_>| -> Result<Staged> {
        let t0 = std::time::Instant::now();
        let staged = match data {
            TableData::Frame(mut df) => {
                writer::stage_partition(out, table, &run.date, &name, &mut df, &meta)
            }
            TableData::Batches(b) => {
                writer::stage_partition_batched(out, table, &run.date, &name, b, &meta, group)
            }
        }?;
        tracing::debug!(
            table,
            ms = t0.elapsed().as_millis() as u64,
            cpu = crate::process::cpu_ms(),
            rss_anon_mb = crate::process::rss_anon_mb(),
            "staged"
        );
        Ok(staged)
    };
    std::thread::scope(|scope| {
        let write = &write;
        let handles: Vec<_> = tables
            .into_iter()
            .map(|(table, data)| (table, scope.spawn(move || write(table, data))))
            .collect();
        handles
            .into_iter()
            .map(|(table, h)| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("writing the {table} table failed")))
            })
            .collect()
    })
}

/// Moves a run's staged files into place, in order (the `runs` table last), and removes the
/// parts of the same date written by another shard layout (another N); the other shards' parts
/// of this layout stay. Returns the files' paths.
pub fn commit_all(staged: Vec<Staged>, shard: Option<(u32, u32)>) -> Result<Vec<PathBuf>> {
    let of_n = shard.map_or(1, |(_, n)| n);
    let mut written = Vec::with_capacity(staged.len());
    // A failed move leaves the files after it staged, and they are removed when dropped.
    for s in staged {
        let path = s.commit()?;
        if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        {
            writer::remove_others(dir, name, |f| is_other_layout(f, of_n))?;
        }
        written.push(path);
    }
    Ok(written)
}
