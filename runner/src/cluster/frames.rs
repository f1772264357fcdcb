//! Decoding the framed output a task on a swarm writes to its standard output
//! (`frames.sh`, version 1): files as base64 lines between a `BEGIN` carrying
//! size and SHA-256 and an `END`, numbered, then a `DONE` trailer with the
//! count. Anything that does not check out means the output did not arrive
//! whole: an infrastructure error, never a verdict on the candidate.

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest, Sha256};

/// The shell side, for images to install and tasks to source.
pub const FRAMES_SH: &str = include_str!("frames.sh");

const PREFIX: &str = "RBX1 ";

/// Why framed output was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("failed to read framed output: no DONE trailer (the output was cut short)")]
    NoTrailer,
    #[error("failed to read framed output: the trailer counts {said} files, {found} arrived")]
    CountMismatch { said: usize, found: usize },
    #[error("failed to read framed output: line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    #[error("failed to read framed output: {name}: {reason}")]
    Corrupt { name: String, reason: String },
}

/// The files a task handed back, by name, and its other output lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frames {
    pub files: BTreeMap<String, Vec<u8>>,
    /// Output lines that were not frames, in order.
    pub other: Vec<String>,
}

struct Open {
    size: usize,
    sha256: String,
    next_seq: usize,
    data: Vec<u8>,
}

/// Decodes a task's standard output.
pub fn decode(stdout: &[u8]) -> Result<Frames, FrameError> {
    let text = String::from_utf8_lossy(stdout);
    let mut frames = Frames::default();
    let mut open: Option<(String, Open)> = None;
    let mut done = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let malformed = |reason: &str| FrameError::Malformed {
            line: number,
            reason: reason.to_string(),
        };
        let Some(rest) = line.strip_prefix(PREFIX) else {
            frames.other.push(line.to_string());
            continue;
        };
        if done.is_some() {
            return Err(malformed("a frame after the DONE trailer"));
        }
        let fields: Vec<&str> = rest.split(' ').collect();
        match fields.as_slice() {
            ["BEGIN", name, size, sha256] => {
                if open.is_some() {
                    return Err(malformed("BEGIN inside another file"));
                }
                if !valid_name(name) || frames.files.contains_key(*name) {
                    return Err(malformed("a bad or repeated file name"));
                }
                let size = size.parse().map_err(|_| malformed("a bad size"))?;
                open = Some((
                    name.to_string(),
                    Open {
                        size,
                        sha256: sha256.to_string(),
                        next_seq: 0,
                        data: Vec::with_capacity(size),
                    },
                ));
            }
            ["DATA", name, seq, chunk] => {
                let Some((open_name, file)) = open.as_mut().filter(|(n, _)| n == name) else {
                    return Err(malformed("DATA outside its file"));
                };
                let seq: usize = seq
                    .parse()
                    .map_err(|_| malformed("a bad sequence number"))?;
                if seq != file.next_seq {
                    return Err(FrameError::Corrupt {
                        name: open_name.clone(),
                        reason: format!("chunk {} missing (got {seq})", file.next_seq),
                    });
                }
                file.next_seq += 1;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(chunk)
                    .map_err(|e| malformed(&format!("bad base64: {e}")))?;
                file.data.extend_from_slice(&bytes);
            }
            ["END", name] => {
                let Some((open_name, file)) = open.take().filter(|(n, _)| n == name) else {
                    return Err(malformed("END outside its file"));
                };
                let corrupt = |reason: String| FrameError::Corrupt {
                    name: open_name.clone(),
                    reason,
                };
                if file.data.len() != file.size {
                    return Err(corrupt(format!(
                        "{} bytes arrived, {} were sent",
                        file.data.len(),
                        file.size
                    )));
                }
                let sum = hex::encode(Sha256::digest(&file.data));
                if sum != file.sha256 {
                    return Err(corrupt("its SHA-256 does not match".into()));
                }
                frames.files.insert(open_name, file.data);
            }
            ["DONE", count] => {
                if open.is_some() {
                    return Err(malformed("DONE inside a file"));
                }
                done = Some(
                    count
                        .parse::<usize>()
                        .map_err(|_| malformed("a bad count"))?,
                );
            }
            _ => return Err(malformed("an unknown frame")),
        }
    }
    let said = done.ok_or(FrameError::NoTrailer)?;
    if said != frames.files.len() {
        return Err(FrameError::CountMismatch {
            said,
            found: frames.files.len(),
        });
    }
    Ok(frames)
}

/// A relative path of plain components: it becomes a path in the results folder.
fn valid_name(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `frames.sh` writes for one file, built here the same way.
    fn framed(name: &str, data: &[u8], chunk: usize) -> String {
        let mut out = format!(
            "RBX1 BEGIN {name} {} {}\n",
            data.len(),
            hex::encode(Sha256::digest(data))
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        for (seq, piece) in encoded.as_bytes().chunks(chunk).enumerate() {
            out += &format!(
                "RBX1 DATA {name} {seq} {}\n",
                std::str::from_utf8(piece).unwrap()
            );
        }
        out + &format!("RBX1 END {name}\n")
    }

    #[test]
    fn files_and_other_output_come_apart() {
        let out = format!(
            "starting\n{}noise\n{}RBX1 DONE 2\n",
            framed("report.xml", b"<testsuite/>", 8),
            framed("out/empty", b"", 8)
        );
        let frames = decode(out.as_bytes()).unwrap();
        assert_eq!(frames.files["report.xml"], b"<testsuite/>");
        assert_eq!(frames.files["out/empty"], b"");
        assert_eq!(frames.other, vec!["starting", "noise"]);
    }

    #[test]
    fn output_cut_short_is_refused() {
        let out = framed("a", b"hello", 4);
        assert_eq!(decode(out.as_bytes()), Err(FrameError::NoTrailer));
        let half: String = out.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert!(decode(format!("{half}RBX1 DONE 1\n").as_bytes()).is_err());
        let out = format!("{}RBX1 DONE 2\n", framed("a", b"hello", 4));
        assert_eq!(
            decode(out.as_bytes()),
            Err(FrameError::CountMismatch { said: 2, found: 1 })
        );
    }

    #[test]
    fn a_lost_or_altered_chunk_is_caught() {
        let out = framed("a", b"hello world, hello world", 4);
        let lines: Vec<&str> = out.lines().collect();
        let dropped: String = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 2)
            .map(|(_, l)| format!("{l}\n"))
            .collect();
        let err = decode(format!("{dropped}RBX1 DONE 1\n").as_bytes()).unwrap_err();
        assert!(
            matches!(err, FrameError::Corrupt { ref reason, .. } if reason.contains("chunk 1 missing")),
            "{err}"
        );
        let altered = out.replacen("aGVs", "aGVt", 1);
        let err = decode(format!("{altered}RBX1 DONE 1\n").as_bytes()).unwrap_err();
        assert!(
            matches!(err, FrameError::Corrupt { ref reason, .. } if reason.contains("SHA-256")),
            "{err}"
        );
    }

    #[test]
    fn bad_names_and_stray_frames_are_malformed() {
        for bad in [
            "RBX1 BEGIN a b 1 x\n",
            "RBX1 BEGIN ../x 1 x\n",
            "RBX1 BEGIN /etc/x 1 x\n",
            "RBX1 BEGIN a//b 1 x\n",
            "RBX1 DATA a 0 aGk=\n",
            "RBX1 END a\n",
            "RBX1 WHAT\n",
        ] {
            assert!(
                matches!(decode(bad.as_bytes()), Err(FrameError::Malformed { .. })),
                "{bad:?}"
            );
        }
        let after = format!("RBX1 DONE 0\n{}", framed("a", b"x", 4));
        assert!(matches!(
            decode(after.as_bytes()),
            Err(FrameError::Malformed { .. })
        ));
    }
}
