//! GPT-2's reversible map between bytes and printable characters.
//!
//! Byte-level BPE vocabularies store every token as text in which each byte
//! is one character: printable Latin-1 bytes stand for themselves and the
//! other 68 bytes are moved to U+0100.. in byte order (so a space is `Ġ`,
//! U+0120, and a newline is `Ċ`, U+010A).

/// The character that stands for each byte.
pub const fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    let mut b = 0usize;
    while b < 256 {
        let printable = (b >= b'!' as usize && b <= b'~' as usize)
            || (b >= 0xA1 && b <= 0xAC)
            || (b >= 0xAE && b <= 0xFF);
        let cp = if printable {
            b as u32
        } else {
            let cp = next;
            next += 1;
            cp
        };
        table[b] = match char::from_u32(cp) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    table
}

/// The character for each byte.
pub static BYTE_TO_CHAR: [char; 256] = byte_to_char_table();

/// The byte a character stands for, if it is one of the 256.
#[inline]
pub fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if cp < 0x100 {
        let b = cp as u8;
        (BYTE_TO_CHAR[b as usize] == c).then_some(b)
    } else if cp < 0x100 + 68 {
        // The moved bytes, in byte order.
        REMAPPED[(cp - 0x100) as usize]
    } else {
        None
    }
}

static REMAPPED: [Option<u8>; 68] = {
    let mut out = [None; 68];
    let table = byte_to_char_table();
    let mut b = 0;
    while b < 256 {
        let cp = table[b] as u32;
        if cp >= 0x100 {
            out[(cp - 0x100) as usize] = Some(b as u8);
        }
        b += 1;
    }
    out
};

/// Bytes → vocabulary text (`"a b"` → `"aĠb"`).
pub fn bytes_to_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| BYTE_TO_CHAR[b as usize]).collect()
}

/// Vocabulary text → bytes, or `None` if a character is not one of the 256.
pub fn text_to_bytes(text: &str) -> Option<Vec<u8>> {
    text.chars().map(char_to_byte).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_bytes() {
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(BYTE_TO_CHAR[b as usize]), Some(b));
        }
        assert_eq!(BYTE_TO_CHAR[b' ' as usize], 'Ġ');
        assert_eq!(BYTE_TO_CHAR[b'\n' as usize], 'Ċ');
        assert_eq!(BYTE_TO_CHAR[b'a' as usize], 'a');
        assert_eq!(char_to_byte('é'), Some(0xE9));
        assert_eq!(char_to_byte('\u{144}'), None);
        assert_eq!(char_to_byte(' '), None);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(text_to_bytes(&bytes_to_text(&all)).unwrap(), all);
    }
}
