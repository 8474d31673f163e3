//! The .cvimodel container, device-memory accounting, and (later) the CVI_NN-style runtime API.
