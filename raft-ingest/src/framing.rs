//! The record framing of the segment-file logs: `[len: u32][crc32: u32][payload]`, so a torn
//! or damaged record is found on replay.

use std::io;

/// Bytes before each payload.
pub const HEADER: usize = 8;

/// Appends `payload`, framed, to `out`; returns the payload's offset in `out` and its length.
pub fn frame(payload: &[u8], out: &mut Vec<u8>) -> io::Result<(u64, u32)> {
    let len = u32::try_from(payload.len()).map_err(|_| io::Error::other("log record over 4 GiB"))?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    let at = out.len() as u64;
    out.extend_from_slice(payload);
    Ok((at, len))
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
