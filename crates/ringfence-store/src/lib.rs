//! ringfence-store
