//! Byte-level BPE training (to come).
