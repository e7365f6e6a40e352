//! `#[serde(with = "crate::hex_field::optional")]` for the byte fields of policy files: lower-case
//! hex in JSON, `None` as absent or `null`. Fixed-size arrays are checked for length here, so a
//! policy that pins a 47-byte measurement is refused when it is read, not when it is compared.

pub(crate) mod optional {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer, T: AsRef<[u8]>>(
        v: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&hex::encode(b)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| {
            let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
            let len = v.len();
            T::try_from(v).map_err(|_| {
                let want = std::mem::size_of::<T>();
                serde::de::Error::custom(format!(
                    "{len} bytes, expected {want} ({} hex digits)",
                    2 * want
                ))
            })
        })
        .transpose()
    }
}
