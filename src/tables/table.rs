//! `Table`: a table under construction, column by column (text, integer, flag, UTC timestamp),
//! finished into a polars `DataFrame` for the writer.

use crate::ingest::intern::{Strings, Sym};
use anyhow::Result;
use polars::prelude::*;

/// The text of the symbol looked up last: consecutive rows often name the same one, which is
/// then not looked up again.
#[derive(Default)]
pub struct LastText {
    sym: Sym,
    text: String,
}

impl LastText {
    /// Appends the text of `sym` to `out`.
    pub fn push_to(&mut self, strings: &Strings, sym: Sym, out: &mut String) {
        if sym != self.sym {
            self.text.clear();
            strings.push_to(sym, &mut self.text);
            self.sym = sym;
        }
        out.push_str(&self.text);
    }
}

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

    /// A text column of interned texts (`Sym::NONE`: null).
    pub fn syms(self, col: &str, strings: &Strings, values: Vec<Sym>) -> Self {
        let mut last = LastText::default();
        self.text_with(col, values.len(), |k, buf| {
            strings.prefetch_ahead(&values, k);
            let v = values[k];
            v.is_some() && {
                last.push_to(strings, v, buf);
                true
            }
        })
    }

    /// A text column of `n` rows, each written by `fill` into a reused buffer (`false`: null).
    pub fn text_with(
        mut self,
        col: &str,
        n: usize,
        mut fill: impl FnMut(usize, &mut String) -> bool,
    ) -> Self {
        let mut b = StringChunkedBuilder::new(col.into(), n);
        let mut buf = String::new();
        for k in 0..n {
            buf.clear();
            if fill(k, &mut buf) {
                b.append_value(&buf);
            } else {
                b.append_null();
            }
        }
        self.columns.push(b.finish().into_series().into_column());
        self
    }

    /// A text column holding one value in every row.
    pub fn text_all(mut self, col: &str, value: &str, n: usize) -> Self {
        let c = StringChunked::full(col.into(), value, n);
        self.columns.push(c.into_series().into_column());
        self
    }

    /// An integer column without nulls.
    pub fn ints(mut self, col: &str, values: impl IntoIterator<Item = i64>) -> Self {
        let v: Vec<i64> = values.into_iter().collect();
        self.columns.push(Column::new(col.into(), v));
        self
    }

    /// A flag column without nulls.
    pub fn flags(mut self, col: &str, values: impl IntoIterator<Item = bool>) -> Self {
        let v: Vec<bool> = values.into_iter().collect();
        self.columns.push(Column::new(col.into(), v));
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
