//! Conversions shared by the backends: timestamps are stored as Unix
//! milliseconds (BIGINT), ids as text.

use std::str::FromStr;

use time::OffsetDateTime;

use gatehouse_core::Sealed;

use crate::StoreError;

/// Unix milliseconds.
pub(crate) fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// From Unix milliseconds.
pub(crate) fn from_ms(v: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .map_err(|e| StoreError::Corrupt(format!("timestamp {v}: {e}")))
}

pub(crate) fn from_ms_opt(v: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    v.map(from_ms).transpose()
}

/// A sealed value read back (`Corrupt` unless it has a sealed value's shape).
pub(crate) fn sealed(raw: Option<String>, what: &str) -> Result<Option<Sealed>, StoreError> {
    raw.map(|r| Sealed::parse(&r).ok_or_else(|| StoreError::Corrupt(format!("sealed {what}"))))
        .transpose()
}

pub(crate) fn parse_id<T: FromStr>(raw: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("invalid id {raw:?}")))
}
