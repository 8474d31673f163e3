//! VLC weight compression codec (filled by the VLC work).
