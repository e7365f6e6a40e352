//! Request parsing and the response shape: hand-written serde visitors, so no serde message
//! (which would quote a submitted value) ever reaches an error, and parsed values are wiped.

use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize, de};
use zeroize::Zeroize;

/// Parsed feature values in graph order, wiped when dropped (on every return path).
pub(super) struct Slots(pub(super) Vec<Option<f64>>);

impl Drop for Slots {
    fn drop(&mut self) {
        for x in self.0.iter_mut().flatten() {
            x.zeroize();
        }
    }
}

// ------------------------------------------------------------------------------------ request

/// The request as parsed, before any check against the manifest. Parsing never fails on
/// content (only on malformed JSON), so that every semantic error is ours, not serde's.
pub(super) struct RawRequest {
    pub(super) features: Option<RawFeatures>,
    pub(super) duplicate_features: bool,
    pub(super) unknown_field: Option<String>,
}

pub(super) enum RawFeatures {
    Entries(Vec<(String, RawValue)>),
    NotAnObject,
}

#[derive(Clone, Copy)]
pub(super) enum RawValue {
    Number(f64),
    Other,
}

impl Drop for RawFeatures {
    fn drop(&mut self) {
        if let RawFeatures::Entries(entries) = self {
            for (_, value) in entries.iter_mut() {
                if let RawValue::Number(x) = value {
                    x.zeroize();
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for RawRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRequest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawRequest, A::Error> {
                let mut req = RawRequest {
                    features: None,
                    duplicate_features: false,
                    unknown_field: None,
                };
                while let Some(key) = map.next_key::<String>()? {
                    if key == "features" {
                        let value = map.next_value::<RawFeatures>()?;
                        if req.features.is_some() {
                            req.duplicate_features = true;
                        } else {
                            req.features = Some(value);
                        }
                    } else {
                        map.next_value::<IgnoredAny>()?;
                        req.unknown_field.get_or_insert(key);
                    }
                }
                Ok(req)
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for RawFeatures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawFeatures;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawFeatures, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    entries.push((key, map.next_value::<RawValue>()?));
                }
                Ok(RawFeatures::Entries(entries))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawFeatures, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawFeatures::NotAnObject)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawFeatures, E> {
                Ok(RawFeatures::NotAnObject)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<RawFeatures, E> {
                Ok(RawFeatures::NotAnObject)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<RawFeatures, E> {
                Ok(RawFeatures::NotAnObject)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<RawFeatures, E> {
                Ok(RawFeatures::NotAnObject)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawFeatures, E> {
                Ok(RawFeatures::NotAnObject)
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawFeatures, E> {
                Ok(RawFeatures::NotAnObject)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            #[allow(clippy::cast_precision_loss)] // range-checked against the manifest afterwards
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
                Ok(RawValue::Number(v as f64))
            }
            #[allow(clippy::cast_precision_loss)]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
                Ok(RawValue::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
                Ok(RawValue::Number(v))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<RawValue, E> {
                Ok(RawValue::Other)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<RawValue, E> {
                Ok(RawValue::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawValue, E> {
                Ok(RawValue::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(RawValue::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RawValue::Other)
            }
        }
        d.deserialize_any(V)
    }
}

// ------------------------------------------------------------------------------------ response

/// `{"model": .., "model_version": .., <output>: value}` in that key order.
pub(super) struct Response<'a> {
    pub(super) model: &'a str,
    pub(super) model_version: &'a str,
    pub(super) output: &'a str,
    pub(super) value: f64,
}

impl Serialize for Response<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("model", self.model)?;
        map.serialize_entry("model_version", self.model_version)?;
        map.serialize_entry(self.output, &self.value)?;
        map.end()
    }
}
