//! `Table`: a table under construction, column by column (text, integer, flag, UTC timestamp),
//! finished into a polars `DataFrame` for the writer.

use anyhow::Result;
use polars::prelude::*;

/// A table under construction: named columns of equal length.
pub struct Table {
    pub name: &'static str,
    columns: Vec<Column>,
}

impl Table {
    pub fn new(name: &'static str) -> Self {
        Table {
            name,
            columns: Vec::new(),
        }
    }

    pub fn text<S: AsRef<str>>(
        mut self,
        col: &str,
        values: impl IntoIterator<Item = Option<S>>,
    ) -> Self {
        let values = values.into_iter();
        let mut b = StringChunkedBuilder::new(col.into(), values.size_hint().0);
        for v in values {
            b.append_option(v.as_ref().map(|s| s.as_ref()));
        }
        self.columns.push(b.finish().into_series().into_column());
        self
    }

    pub fn int(mut self, col: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        let v: Vec<Option<i64>> = values.into_iter().collect();
        self.columns.push(Column::new(col.into(), v));
        self
    }

    pub fn flag(mut self, col: &str, values: impl IntoIterator<Item = Option<bool>>) -> Self {
        let v: Vec<Option<bool>> = values.into_iter().collect();
        self.columns.push(Column::new(col.into(), v));
        self
    }

    /// A timestamp column (UTC microseconds → `Timestamp(us, UTC)`).
    pub fn ts(mut self, col: &str, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        let v: Vec<Option<i64>> = values.into_iter().collect();
        let s =
            Series::new(col.into(), v).into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
        self.columns.push(s.into_column());
        self
    }

    pub fn finish(self) -> Result<DataFrame> {
        Ok(DataFrame::new_infer_height(self.columns)?)
    }
}
