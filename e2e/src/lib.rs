//! End-to-end tests live in `tests/`: loadgen's library drives the real
//! backend (spawned in-process on port 0, a fresh database on the
//! throwaway cluster of `scripts/test.sh`), sometimes behind mock-llm, and
//! the tests check what loadgen concluded (diagnosis, comparison) against
//! how the backend was configured. This crate has no code of its own.
