//! Rollout state machine.
