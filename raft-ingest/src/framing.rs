//! The record framing of the segment-file logs: `[len: u32][crc32: u32][payload]`, so a torn
//! or damaged record is found on replay.

use std::io;

/// Bytes before each payload.
pub const HEADER: usize = 8;

/// Appends `value`, postcard-encoded and framed, to `out` (encoded in place, no copy);
/// returns the payload's offset in `out` and its length.
pub fn frame<T: serde::Serialize>(value: &T, out: &mut Vec<u8>) -> io::Result<(u64, u32)> {
    let head = out.len();
    out.extend_from_slice(&[0; HEADER]);
    let at = out.len();
    let mut buf = postcard::to_extend(value, std::mem::take(out)).map_err(io::Error::other)?;
    let len = u32::try_from(buf.len() - at).map_err(|_| io::Error::other("log record over 4 GiB"))?;
    let crc = crc32fast::hash(&buf[at..]);
    buf[head..head + 4].copy_from_slice(&len.to_le_bytes());
    buf[head + 4..at].copy_from_slice(&crc.to_le_bytes());
    *out = buf;
    Ok((at as u64, len))
}

/// Calls `f(offset, payload)` for each whole record with a good checksum at the start of
/// `bytes`, in order; returns the length of that valid prefix.
pub fn read_frames(bytes: &[u8], mut f: impl FnMut(usize, &[u8]) -> io::Result<()>) -> io::Result<usize> {
    let mut pos = 0usize;
    while pos + HEADER <= bytes.len() {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]]);
        let crc = u32::from_le_bytes([bytes[pos + 4], bytes[pos + 5], bytes[pos + 6], bytes[pos + 7]]);
        let start = pos + HEADER;
        let Some(end) = start.checked_add(len as usize).filter(|e| *e <= bytes.len()) else { break };
        let payload = &bytes[start..end];
        if crc32fast::hash(payload) != crc {
            break;
        }
        f(start, payload)?;
        pos = end;
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_and_a_torn_tail_is_left_out() {
        let mut out = vec![7u8];
        let (at, len) = frame(&"hello", &mut out).expect("frame");
        frame(&42u64, &mut out).expect("frame");
        assert_eq!((at, len), (1 + HEADER as u64, 6));
        out.extend_from_slice(&[9, 0, 0, 0, 1]);
        let mut seen = Vec::new();
        let valid = read_frames(&out[1..], |_, p| {
            seen.push(p.to_vec());
            Ok(())
        })
        .expect("read");
        assert_eq!(seen, vec![postcard::to_stdvec(&"hello").expect("enc"), postcard::to_stdvec(&42u64).expect("enc")]);
        assert_eq!(valid, out.len() - 1 - 5);
    }
}
