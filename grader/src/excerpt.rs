//! Reading a bounded part of a file that may be huge or hostile (an agent's
//! log, a diff, an events file): the last or first N bytes, never more, cut
//! at a line boundary and decoded leniently, with what was left out counted.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// A bounded part of a file, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Excerpt {
    /// The bytes shown, decoded as UTF-8 (invalid sequences replaced).
    pub text: String,
    /// Bytes in `text` before decoding.
    pub shown_bytes: u64,
    /// The file's size when it was read.
    pub total_bytes: u64,
}

impl Excerpt {
    /// Whether part of the file is left out.
    pub fn is_cut(&self) -> bool {
        self.shown_bytes < self.total_bytes
    }

    /// `showing the last 6 of 29 bytes` when the tail was cut.
    pub fn tail_note(&self) -> Option<String> {
        self.is_cut().then(|| {
            format!(
                "showing the last {} of {} bytes",
                self.shown_bytes, self.total_bytes
            )
        })
    }

    /// `showing the first 6 of 29 bytes` when the head was cut.
    pub fn head_note(&self) -> Option<String> {
        self.is_cut().then(|| {
            format!(
                "showing the first {} of {} bytes",
                self.shown_bytes, self.total_bytes
            )
        })
    }

    fn of(bytes: &[u8], total: u64) -> Excerpt {
        Excerpt {
            text: String::from_utf8_lossy(bytes).into_owned(),
            shown_bytes: bytes.len() as u64,
            total_bytes: total.max(bytes.len() as u64),
        }
    }
}

/// The last `max` bytes of the file at `path`, starting after the first line
/// break in them when the file is longer (so no half line is shown). Reads at
/// most `max` bytes whatever the file's size.
pub fn read_tail(path: &Path, max: u64) -> io::Result<Excerpt> {
    let mut file = File::open(path)?;
    let total = file.metadata()?.len();
    let start = total.saturating_sub(max);
    if start > 0 {
        file.seek(SeekFrom::Start(start))?;
    }
    let bytes = read_at_most(&mut file, max)?;
    Ok(Excerpt::of(tail(&bytes, start > 0), total))
}

/// The first `max` bytes of the file at `path`, ending at the last line break
/// in them when the file is longer. Reads at most `max` bytes.
pub fn read_head(path: &Path, max: u64) -> io::Result<Excerpt> {
    let mut file = File::open(path)?;
    let total = file.metadata()?.len();
    // One byte more tells a file of exactly `max` bytes from a longer one
    // (the size may be wrong: a file that grows, or not a regular file).
    let mut bytes = read_at_most(&mut file, max.saturating_add(1))?;
    let cut = bytes.len() as u64 > max;
    if cut {
        bytes.truncate(max as usize);
        if let Some(end) = bytes.iter().rposition(|&b| b == b'\n') {
            bytes.truncate(end + 1);
        }
    }
    let total = if cut {
        total.max(max + 1)
    } else {
        bytes.len() as u64
    };
    Ok(Excerpt::of(&bytes, total))
}

fn read_at_most(file: &mut File, max: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(max.min(1024 * 1024) as usize);
    file.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The part of a tail to show: after its first line break when it starts
/// inside the file, else past any UTF-8 continuation bytes of a cut character.
fn tail(bytes: &[u8], cut: bool) -> &[u8] {
    if !cut {
        return bytes;
    }
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => &bytes[i + 1..],
        None => {
            let skip = bytes
                .iter()
                .take(3)
                .take_while(|&&b| b & 0xC0 == 0x80)
                .count();
            &bytes[skip..]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        f
    }

    #[test]
    fn a_long_file_keeps_its_last_whole_lines() {
        let f = file(b"first line\nsecond line\nthird\n");
        let tail = read_tail(f.path(), 12).unwrap();
        assert_eq!(tail.text, "third\n");
        assert_eq!((tail.shown_bytes, tail.total_bytes), (6, 29));
        assert_eq!(tail.tail_note().unwrap(), "showing the last 6 of 29 bytes");
    }

    #[test]
    fn a_short_file_is_read_whole_without_a_note() {
        let f = file(b"short\n");
        let tail = read_tail(f.path(), 12).unwrap();
        assert_eq!(tail.text, "short\n");
        assert!(!tail.is_cut());
        assert_eq!(tail.tail_note(), None);
        let head = read_head(f.path(), 6).unwrap();
        assert_eq!(head.text, "short\n");
        assert_eq!(head.head_note(), None, "exactly the cap is not cut");
    }

    #[test]
    fn a_tail_without_line_breaks_starts_at_a_whole_character() {
        // "é" is two bytes; a cut through it must not show half of it.
        let f = file("aaaé€bb".as_bytes());
        let tail = read_tail(f.path(), 6).unwrap();
        assert_eq!(tail.text, "€bb");
        assert_eq!(tail.total_bytes, 10);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_refused() {
        let f = file(b"ok \xff\xfe bytes\n");
        assert_eq!(
            read_tail(f.path(), 64).unwrap().text,
            "ok \u{fffd}\u{fffd} bytes\n"
        );
    }

    #[test]
    fn a_huge_file_is_read_only_at_its_end() {
        // A sparse 2 GiB file: reading it whole would take 2 GiB of memory.
        let f = tempfile::NamedTempFile::new().unwrap();
        f.as_file().set_len(2 * 1024 * 1024 * 1024).unwrap();
        let mut handle = f.reopen().unwrap();
        handle.seek(SeekFrom::End(0)).unwrap();
        std::io::Write::write_all(&mut handle, b"\nthe end\n").unwrap();
        let tail = read_tail(f.path(), 1024).unwrap();
        assert_eq!(tail.shown_bytes, "the end\n".len() as u64);
        assert_eq!(tail.text, "the end\n");
        assert_eq!(tail.total_bytes, 2 * 1024 * 1024 * 1024 + 9);
        let head = read_head(f.path(), 1024).unwrap();
        assert_eq!(head.shown_bytes, 1024, "no line break: cut at the cap");
        assert!(head.is_cut());
    }

    #[test]
    fn a_long_file_keeps_its_first_whole_lines() {
        let f = file(b"one\ntwo\nthree\n");
        let head = read_head(f.path(), 10).unwrap();
        assert_eq!(head.text, "one\ntwo\n");
        assert_eq!(head.head_note().unwrap(), "showing the first 8 of 14 bytes");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(read_tail(&tmp.path().join("none"), 10).is_err());
        assert!(read_head(&tmp.path().join("none"), 10).is_err());
    }
}
