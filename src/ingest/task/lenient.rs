//! The tolerant leaves of the serde Task reader, borrowing from the line (as `fhir::lenient`,
//! with lifetimes): a field of the wrong JSON type reads as absent, one object or an array of
//! them reads the same.

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A string-ish leaf; `None` when the JSON value was an object, array or null.
#[derive(Debug, Default, Clone)]
pub struct BText<'a>(pub Option<Cow<'a, str>>);

impl BText<'_> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for BText<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BText<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<BText<'a>, E> {
                Ok(BText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<BText<'a>, E> {
                Ok(BText(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<BText<'a>, E> {
                Ok(BText(None))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<BText<'a>, D2::Error> {
                d.deserialize_any(self)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<BText<'a>, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(BText(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<BText<'a>, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(BText(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A boolean leaf: `true`/`false`, or those words as strings (any case).
#[derive(Debug, Default, Clone, Copy)]
pub struct BFlag(pub Option<bool>);

impl<'de> Deserialize<'de> for BFlag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = BText::deserialize(d)?;
        Ok(BFlag(match t.get() {
            Some(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Some(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }))
    }
}

/// An object of shape `T` (an array: its first object); `None` for other types.
#[derive(Debug, Clone)]
pub struct BObj<T>(pub Option<T>);

impl<T> Default for BObj<T> {
    fn default() -> Self {
        BObj(None)
    }
}

impl<T> BObj<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for BObj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = BObj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<BObj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(m)).map(|t| BObj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<BObj<T>, A::Error> {
                let mut first = None;
                while let Some(BObj(item)) = s.next_element::<BObj<T>>()? {
                    if first.is_none() {
                        first = item;
                    }
                }
                Ok(BObj(first))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<BObj<T>, E> {
                Ok(BObj(None))
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<BObj<T>, D2::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// One object or an array of objects.
#[derive(Debug, Clone)]
pub struct BMany<T>(pub Vec<T>);

impl<T> Default for BMany<T> {
    fn default() -> Self {
        BMany(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for BMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = BMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object or an array")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<BMany<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(m)).map(|t| BMany(vec![t]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<BMany<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(BObj(item)) = s.next_element::<BObj<T>>()? {
                    out.extend(item);
                }
                Ok(BMany(out))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<BMany<T>, E> {
                Ok(BMany::default())
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<BMany<T>, D2::Error> {
                d.deserialize_any(self)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}
