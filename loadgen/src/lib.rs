//! loadgen: filled by its own issue.
