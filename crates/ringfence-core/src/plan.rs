//! Planner: orders tenants into rings and batches.
