//! The engine's GGUF writer, which the tests also use to build files byte
//! by byte: `build` writes exactly what it is told (including nonsense),
//! and records the offset of every section boundary so tests can truncate
//! there.

#[allow(unused_imports)] // test binaries that write no GGUF
pub use monologue::io::gguf::writer::*;
