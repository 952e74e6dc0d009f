//! Where a tensor's bytes live. Storage is cheap to clone: every tensor of a
//! memory-mapped model file shares the one mapping, so loading a model copies
//! nothing into the heap; pages are read from disk when a kernel touches them.

use std::ops::Range;
use std::sync::Arc;

/// A heap buffer aligned to 64 bytes (a cache line, and the widest SIMD load),
/// so kernels may use aligned loads on owned tensors.
pub struct AlignedBuf {
    chunks: Vec<Align64>,
    len: usize,
}

#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(64))]
struct Align64([u8; 64]);

impl AlignedBuf {
    pub fn zeroed(len: usize) -> Self {
        AlignedBuf {
            chunks: vec![Align64([0; 64]); len.div_ceil(64)],
            len,
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut buf = AlignedBuf::zeroed(bytes.len());
        buf.as_mut_slice().copy_from_slice(bytes);
        buf
    }

    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.chunks)[..self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.chunks)[..self.len]
    }
}

/// Where the bytes came from; shown by `inspect` and checked by memory tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// Allocated on the heap by the engine.
    Owned,
    /// A zero-copy window into a memory-mapped file.
    Mapped,
}

#[derive(Clone)]
enum Backing {
    Owned(Arc<AlignedBuf>),
    #[cfg(feature = "mmap")]
    Mapped(Arc<memmap2::Mmap>),
}

/// A read-only window of bytes, shared between tensors.
#[derive(Clone)]
pub struct Storage {
    backing: Backing,
    range: Range<usize>,
}

impl Storage {
    pub fn owned(buf: AlignedBuf) -> Self {
        let len = buf.len;
        Storage {
            backing: Backing::Owned(Arc::new(buf)),
            range: 0..len,
        }
    }

    pub fn from_f32(data: &[f32]) -> Self {
        Storage::owned(AlignedBuf::from_bytes(bytemuck::cast_slice(data)))
    }

    /// The whole of a memory-mapped file.
    #[cfg(feature = "mmap")]
    pub fn mapped(map: Arc<memmap2::Mmap>) -> Self {
        let len = map.len();
        Storage {
            backing: Backing::Mapped(map),
            range: 0..len,
        }
    }

    /// A sub-window, or `None` if `range` reaches past the end.
    pub fn slice(&self, range: Range<usize>) -> Option<Storage> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        Some(Storage {
            backing: self.backing.clone(),
            range: self.range.start + range.start..self.range.start + range.end,
        })
    }

    pub fn len(&self) -> usize {
        self.range.len()
    }

    pub fn is_empty(&self) -> bool {
        self.range.is_empty()
    }

    pub fn kind(&self) -> StorageKind {
        match self.backing {
            Backing::Owned(_) => StorageKind::Owned,
            #[cfg(feature = "mmap")]
            Backing::Mapped(_) => StorageKind::Mapped,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        let all: &[u8] = match &self.backing {
            Backing::Owned(buf) => buf.as_slice(),
            #[cfg(feature = "mmap")]
            Backing::Mapped(map) => map,
        };
        &all[self.range.clone()]
    }
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({:?}, {} bytes)", self.kind(), self.len())
    }
}
