//! ringfence-pg
