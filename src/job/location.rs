//! Where in a job file a key or a bad value sits: line and column for error messages, found with
//! toml's span-keeping parser.

use toml::de::{DeTable, DeValue};

pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// The offset of a key (`["senders", "[1]", "base"]`) in the text, when it is written there.
pub(super) fn span_of_key(text: &str, key: &[String]) -> Option<usize> {
    let root = DeTable::parse(text).ok()?;
    let mut table = root.get_ref();
    let mut found = None;
    let mut iter = key.iter().peekable();
    while let Some(k) = iter.next() {
        let (kspan, value) = table
            .iter()
            .find(|(name, _)| name.get_ref() == k.as_str())?;
        found = Some(kspan.span().start);
        let mut value = value.get_ref();
        if let (DeValue::Array(a), Some(idx)) = (value, iter.peek()) {
            let i: usize = idx.trim_matches(['[', ']']).parse().ok()?;
            iter.next();
            let item = a.get(i)?;
            found = Some(item.span().start);
            value = item.get_ref();
        }
        match value {
            DeValue::Table(t) => table = t,
            _ => break,
        }
    }
    found
}

/// The key path (`windows.grace`, `senders[1].base`) of the key or value at a text offset (a
/// table's span is its header only, so every entry is searched, the deepest match first).
pub(super) fn key_path_at(text: &str, offset: usize) -> String {
    fn in_value(v: &DeValue<'_>, offset: usize, path: &str) -> Option<String> {
        match v {
            DeValue::Table(t) => in_table(t, offset, path),
            DeValue::Array(a) => a.iter().enumerate().find_map(|(i, item)| {
                let p = format!("{path}[{i}]");
                in_value(item.get_ref(), offset, &p)
                    .or_else(|| item.span().contains(&offset).then_some(p))
            }),
            _ => None,
        }
    }
    fn in_table(t: &DeTable<'_>, offset: usize, path: &str) -> Option<String> {
        t.iter().find_map(|(k, v)| {
            let p = if path.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{path}.{}", k.get_ref())
            };
            in_value(v.get_ref(), offset, &p)
                .or_else(|| (k.span().contains(&offset) || v.span().contains(&offset)).then_some(p))
        })
    }
    DeTable::parse(text)
        .ok()
        .and_then(|root| in_table(root.get_ref(), offset, ""))
        .unwrap_or_default()
}
