//! Deserialising string-shaped values through `TryFrom<String>` so a bad value is
//! reported at its own line and column.
//!
//! `#[serde(try_from = "String")]` raises its error after the scalar was read, where
//! serde_norway can only pin it on the enclosing mapping; a visitor that validates inside
//! `visit_str` keeps the scalar's position.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};

/// Reads a scalar as text and converts it with `T::try_from`, failing at the scalar.
pub fn deserialize<'de, D, T>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<String, Error = String>,
{
    struct V<T>(&'static str, PhantomData<T>);
    impl<T: TryFrom<String, Error = String>> Visitor<'_> for V<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
            T::try_from(s.to_string()).map_err(E::custom)
        }
    }
    d.deserialize_str(V(expecting, PhantomData))
}

/// Implements `Deserialize` for a `TryFrom<String, Error = String>` type via [`deserialize`].
#[macro_export]
#[doc(hidden)]
macro_rules! from_str_scalar {
    ($t:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::parsed::deserialize(d, $expecting)
            }
        }
    };
}
pub use from_str_scalar;
