//! Arithmetic primitives (filled by the arithmetic work).
