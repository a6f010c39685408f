//! Writing one table's partition: `DIR/<table>/date=<D>/<file>.parquet`, atomically. The file is
//! written under a hidden temporary name in the same folder and synced (`stage`), then renamed
//! over the old one (`Staged::commit`), so a reader sees the old file or the new one, never half
//! of one; a run stages all its tables before it commits any (`layout`). Files are created
//! without world access (0640, folders 0750): they are audit data.

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

/// A file written in full under a hidden temporary name beside its target, and synced, but not
/// yet in place: `commit` moves it there. Dropped without a commit, it is removed, and the old
/// file (if any) stays.
#[derive(Debug)]
pub struct Staged {
    /// The target's folder (synced once the file is in place).
    dir: PathBuf,
    tmp: PathBuf,
    target: PathBuf,
    what: String,
    committed: bool,
}

impl Staged {
    /// Renames the file over its target (within one folder, so atomically) and syncs the folder.
    pub fn commit(mut self) -> Result<PathBuf> {
        fs::rename(&self.tmp, &self.target).with_context(|| {
            format!(
                "cannot move the {} into place at {}",
                self.what,
                self.target.display()
            )
        })?;
        self.committed = true;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(std::mem::take(&mut self.target))
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Stages a file: `fill` writes a hidden temporary file in the target's folder (mode 0640), which
/// is synced. On failure the temporary file is removed. `what` names the file in error messages.
pub fn stage(
    target: &Path,
    what: &str,
    fill: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> Result<()>,
) -> Result<Staged> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    remove_stale_temporaries(dir, name);
    let staged = Staged {
        dir: dir.to_path_buf(),
        tmp: dir.join(format!(".{name}.{}.tmp", std::process::id())),
        target: target.to_path_buf(),
        what: what.to_owned(),
        committed: false,
    };
    let file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o640)
        .open(&staged.tmp)
        .with_context(|| format!("cannot create {}", staged.tmp.display()))?;
    let mut file = std::io::BufWriter::new(file);
    fill(&mut file)?;
    file.flush()?;
    file.get_ref().sync_all()?;
    Ok(staged)
}

/// Removes the temporary files of `name` left in `dir` by processes that no longer run (a killed
/// run's: `.<name>.<pid>.tmp`), so that crashes do not pile up hidden copies of a table. A file of
/// a process that still runs, or whose name is not of that form, stays.
fn remove_stale_temporaries(dir: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|r| r.strip_suffix(".tmp"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Writes a file atomically: `stage`, then `Staged::commit`. On failure the old file stays.
pub fn atomic_write(
    target: &Path,
    what: &str,
    fill: impl FnOnce(&mut std::io::BufWriter<fs::File>) -> Result<()>,
) -> Result<()> {
    stage(target, what, fill)?.commit().map(|_| ())
}

/// Writes bytes to a file atomically (see `atomic_write`).
pub fn write_file_atomic(target: &Path, bytes: &[u8], what: &str) -> Result<()> {
    atomic_write(target, what, |f| Ok(f.write_all(bytes)?))
}

/// Stages `df` as `<dir>/<file_name>`, with key-value metadata in the footer (`Staged::commit`
/// puts it in place).
pub fn stage_partition(
    out: &Path,
    table: &str,
    date: &str,
    file_name: &str,
    df: &mut DataFrame,
    metadata: &[(String, String)],
) -> Result<Staged> {
    let target = partition_dir(out, table, date).join(file_name);
    stage(&target, &format!("{table} table"), |file| {
        ParquetWriter::new(file)
            .with_compression(ParquetCompression::Zstd(None))
            .with_statistics(StatisticsOptions::full())
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata.to_vec())))
            .finish(df)
            .map_err(|e| anyhow::anyhow!("cannot write the {table} table: {e}"))?;
        Ok(())
    })
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

/// Stages a table given in batches as `<dir>/<file_name>`, one row group per batch (empty
/// batches aside), so that a large table is never whole in memory. `group` batches at a time are
/// built side by side while the ones before them are written, in order.
pub fn stage_partition_batched(
    out: &Path,
    table: &str,
    date: &str,
    file_name: &str,
    batched: crate::tables::Batched<'_>,
    metadata: &[(String, String)],
    group: usize,
) -> Result<Staged> {
    use rayon::prelude::*;
    let target = partition_dir(out, table, date).join(file_name);
    let failed = |e: PolarsError| anyhow::anyhow!("cannot write the {table} table: {e}");
    let group = group.max(1);
    let build = |from: usize| -> Vec<Result<DataFrame>> {
        let to = (from + group).min(batched.parts);
        (from..to)
            .into_par_iter()
            .map(|i| (batched.build)(i))
            .collect()
    };
    stage(&target, &format!("{table} table"), |file| {
        let mut frames = build(0);
        // The first batch gives the schema (there is always one; it may be empty).
        let schema = match frames.first() {
            Some(Ok(df)) => df.schema().clone(),
            Some(Err(e)) => anyhow::bail!("cannot build the {table} table: {e:#}"),
            None => anyhow::bail!("the {table} table has no schema"),
        };
        let mut writer = ParquetWriter::new(&mut *file)
            .with_compression(ParquetCompression::Snappy)
            .with_statistics(StatisticsOptions::default())
            .with_key_value_metadata(Some(KeyValueMetadata::from_static(metadata.to_vec())))
            .batched(&schema)
            .map_err(failed)?;
        let mut from = 0;
        while !frames.is_empty() {
            from += frames.len();
            let w = &mut writer;
            let write = move || -> Result<()> {
                for batch in frames {
                    let batch = batch?;
                    if batch.height() > 0 {
                        w.write_batch(&batch).map_err(failed)?;
                    }
                }
                Ok(())
            };
            let (written, next) = rayon::join(write, || build(from));
            written?;
            frames = next;
        }
        writer.finish().map_err(failed)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_removes_the_temporaries_of_processes_that_no_longer_run() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("part-0-of-1.parquet");
        // pid_max is at most 2^22: no process has this number.
        let dead = dir.path().join(".part-0-of-1.parquet.999999999.tmp");
        // PID 1 always runs.
        let alive = dir.path().join(".part-0-of-1.parquet.1.tmp");
        let other_name = dir.path().join(".part-1-of-2.parquet.999999999.tmp");
        let not_ours = dir.path().join(".part-0-of-1.parquet.x.tmp");
        for f in [&dead, &alive, &other_name, &not_ours] {
            std::fs::write(f, b"left over").unwrap();
        }
        let staged = stage(&target, "test file", |f| Ok(f.write_all(b"new")?)).unwrap();
        assert!(!dead.exists());
        assert!(alive.exists() && other_name.exists() && not_ours.exists());
        // Dropped uncommitted: its own temporary file goes, the target was never made.
        drop(staged);
        assert!(!target.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 3);
        atomic_write(&target, "test file", |f| Ok(f.write_all(b"new")?)).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }
}
