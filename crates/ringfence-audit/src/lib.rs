//! ringfence-audit
