//! Decoding of enums whose variants are all units (`ErrorCode`, `MemberStatus`) from their
//! wire names through one table lookup.
//!
//! It accepts exactly what serde's derive accepts from JSON (`"name"`, or `{"name": null}`)
//! with the same errors, but the derive writes a matcher of its own for every enum (a
//! `visit_str`, a `visit_bytes` and a `visit_u64` with one arm per variant), several
//! kilobytes of the browser client's WebAssembly for `ErrorCode` alone.

use std::fmt;

use serde::de::{self, Deserializer, EnumAccess, VariantAccess, Visitor};

/// Decodes `all[i]` from `names[i]`.
pub(crate) fn deserialize<'de, D, T>(
    deserializer: D,
    name: &'static str,
    names: &'static [&'static str],
    all: &'static [T],
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Copy,
{
    deserializer.deserialize_enum(name, names, UnitEnum { name, names, all })
}

struct UnitEnum<T: 'static> {
    name: &'static str,
    names: &'static [&'static str],
    all: &'static [T],
}

impl<'de, T: Copy> Visitor<'de> for UnitEnum<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enum {}", self.name)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<T, A::Error> {
        let (index, variant) = data.variant_seed(VariantName(self.names))?;
        variant.unit_variant()?;
        Ok(self.all[index])
    }
}

/// A variant's name, as its index in the table.
struct VariantName(&'static [&'static str]);

impl<'de> de::DeserializeSeed<'de> for VariantName {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for VariantName {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("variant identifier")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<usize, E> {
        self.0
            .iter()
            .position(|name| *name == value)
            .ok_or_else(|| E::unknown_variant(value, self.0))
    }
}
