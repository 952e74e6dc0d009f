//! Character classes for the pre-tokenizer patterns: `\p{L}`, `\p{N}`,
//! `\p{M}`, `\s`.
//!
//! Every class comes from one table, generated for one Unicode version (see
//! `unicode_tables.rs`): the version of the regex engine that runs the
//! patterns without a hand-written scanner, so the two never disagree. The
//! references (Oniguruma in Hugging Face `tokenizers`, C++ tables in
//! llama.cpp) may use another version; only code points assigned in
//! between can be classed differently. `\s` is Unicode `White_Space`.

use super::unicode_tables::{STAGE1, STAGE2};

pub use super::unicode_tables::UNICODE_VERSION;

/// The class of one character as the patterns see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Letter,
    Number,
    /// A combining mark (`\p{M}`). Only the patterns that name marks see
    /// this class: [`class_of`] reports marks as `Other`.
    Mark,
    Space,
    Other,
}

static ASCII: [Class; 128] = {
    let mut t = [Class::Other; 128];
    let mut i = 0;
    while i < 128 {
        let c = i as u8;
        t[i] = if c.is_ascii_alphabetic() {
            Class::Letter
        } else if c.is_ascii_digit() {
            Class::Number
        } else if (c >= 9 && c <= 13) || c == b' ' {
            Class::Space
        } else {
            Class::Other
        };
        i += 1;
    }
    t
};

/// Class of a character, marks included.
#[inline]
pub fn class_with_marks(c: char) -> Class {
    let cp = c as u32;
    if cp < 128 {
        return ASCII[cp as usize];
    }
    let block = STAGE1[(cp >> 8) as usize] as usize;
    let i = (cp & 0xFF) as usize;
    match (STAGE2[block][i >> 1] >> ((i & 1) * 4)) & 0xF {
        1 => Class::Letter,
        2 => Class::Number,
        3 => Class::Mark,
        4 => Class::Space,
        _ => Class::Other,
    }
}

/// Class of a character as the patterns that do not name `\p{M}` see it:
/// a mark is `Other`.
#[inline]
pub fn class_of(c: char) -> Class {
    match class_with_marks(c) {
        Class::Mark => Class::Other,
        k => k,
    }
}

/// Class and UTF-8 length of the character starting at byte `i` of `s`
/// (which must be a character boundary), marks reported as `Other`.
#[inline(always)]
pub fn class_at(s: &[u8], i: usize) -> (Class, usize) {
    let b = s[i];
    if b < 0x80 {
        return (ASCII[b as usize], 1);
    }
    let (c, n) = decode_at(s, i);
    (class_of(c), n)
}

/// [`class_at`] with marks reported as `Mark`.
#[inline(always)]
pub fn class_with_marks_at(s: &[u8], i: usize) -> (Class, usize) {
    let b = s[i];
    if b < 0x80 {
        return (ASCII[b as usize], 1);
    }
    let (c, n) = decode_at(s, i);
    (class_with_marks(c), n)
}

/// The character starting at byte `i` of valid UTF-8 `s`, and its length.
#[inline(always)]
pub fn decode_at(s: &[u8], i: usize) -> (char, usize) {
    let b = s[i] as u32;
    let (cp, n) = if b < 0x80 {
        (b, 1)
    } else if b < 0xE0 {
        (((b & 0x1F) << 6) | (s[i + 1] as u32 & 0x3F), 2)
    } else if b < 0xF0 {
        (
            ((b & 0x0F) << 12) | ((s[i + 1] as u32 & 0x3F) << 6) | (s[i + 2] as u32 & 0x3F),
            3,
        )
    } else {
        (
            ((b & 0x07) << 18)
                | ((s[i + 1] as u32 & 0x3F) << 12)
                | ((s[i + 2] as u32 & 0x3F) << 6)
                | (s[i + 3] as u32 & 0x3F),
            4,
        )
    };
    // The input is a &str, so this is always a scalar value.
    (char::from_u32(cp).unwrap_or('\u{FFFD}'), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_agree_with_std_where_std_has_them() {
        for cp in 0..0x11_0000u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let k = class_of(c);
            // White_Space has not changed in years: std and the table agree.
            assert_eq!(c.is_whitespace(), k == Class::Space, "{cp:#x}");
            // std's is_alphabetic is the wider Alphabetic property, but every
            // letter is alphabetic, and every number is numeric.
            if k == Class::Letter {
                assert!(c.is_alphabetic(), "{cp:#x}");
            }
            if k == Class::Number {
                assert!(c.is_numeric(), "{cp:#x}");
            }
        }
        assert_eq!(class_of('é'), Class::Letter);
        assert_eq!(class_of('中'), Class::Letter);
        assert_eq!(class_of('٣'), Class::Number);
        assert_eq!(class_of('\u{3000}'), Class::Space);
        assert_eq!(class_of('\u{301}'), Class::Other);
        assert_eq!(class_with_marks('\u{301}'), Class::Mark);
    }

    /// The table and the regex engine (fancy-regex over regex-syntax) class
    /// every code point alike: they come from the same Unicode version.
    #[test]
    fn classes_agree_with_the_regex_engine() {
        let pattern = |p: &str| fancy_regex::Regex::new(&format!("^{p}$")).unwrap();
        let (l, n, m, s) = (
            pattern(r"\p{L}"),
            pattern(r"\p{N}"),
            pattern(r"\p{M}"),
            pattern(r"\s"),
        );
        let mut buf = [0u8; 4];
        for cp in 0..0x11_0000u32 {
            let Some(c) = char::from_u32(cp) else {
                continue;
            };
            let text: &str = c.encode_utf8(&mut buf);
            let want = if l.is_match(text).unwrap() {
                Class::Letter
            } else if n.is_match(text).unwrap() {
                Class::Number
            } else if m.is_match(text).unwrap() {
                Class::Mark
            } else if s.is_match(text).unwrap() {
                Class::Space
            } else {
                Class::Other
            };
            assert_eq!(class_with_marks(c), want, "{cp:#x}");
        }
    }
}
