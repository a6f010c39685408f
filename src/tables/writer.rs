//! Writing one table's partition: `DIR/<table>/date=<D>/<file>.parquet`, atomically. The file is
//! written under a hidden temporary name in the same folder, synced, then renamed over the old one,
//! so a reader sees the old file or the new one, never half of one. Files are created without
//! world access (0640, folders 0750): they are audit data.

use anyhow::{Context, Result};
use polars::prelude::*;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Creates a folder (and its parents) with mode 0750.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o750)
        .create(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))
}

/// The partition folder of a table for one date.
pub fn partition_dir(out: &Path, table: &str, date: &str) -> PathBuf {
    out.join(table).join(format!("date={date}"))
}

/// Writes `df` as `<dir>/<file_name>` atomically, with key-value metadata in the footer. Other
/// Parquet files in the folder whose names start with `stale_prefix` but differ from ours (another
/// shard layout of an earlier run) are removed afterwards.
pub fn write_partition(
    out: &Path,
    table: &str,
    date: &str,
    file_name: &str,
    df: &mut DataFrame,
    metadata: &[(String, String)],
) -> Result<PathBuf> {
    let dir = partition_dir(out, table, date);
    create_private_dir(&dir)?;
    let target = dir.join(file_name);
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| -> Result<()> {
        let file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut file = std::io::BufWriter::new(file);
        ParquetWriter::new(&mut file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata.to_vec())))
            .finish(df)
            .map_err(|e| anyhow::anyhow!("cannot write the {table} table: {e}"))?;
        file.flush()?;
        file.get_ref().sync_all()?;
        fs::rename(&tmp, &target)
            .with_context(|| format!("cannot move the {table} table into place"))?;
        if let Ok(d) = fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    Ok(target)
}

/// Removes the Parquet files of a partition that are not `keep` and match `is_ours` (files of an
/// earlier run with another shard layout).
pub fn remove_others(dir: &Path, keep: &str, is_ours: impl Fn(&str) -> bool) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name != keep && name.ends_with(".parquet") && is_ours(&name) {
            fs::remove_file(e.path())
                .with_context(|| format!("cannot remove the stale file {}", e.path().display()))?;
        }
    }
    Ok(())
}
