//! ringfence-config
