//! A brotli encoder that finishes its stream.
//!
//! Pingora 0.9.1's brotli `Compressor` (`protocols::http::compression::brotli`) ends a body
//! with `flush()`: that emits the buffered data as a flushed, non-final meta-block, but a
//! brotli stream is only complete once a meta-block with ISLAST set has been written, and
//! `CompressorWriter` writes that only when it is finished (`into_inner`, or on drop — where
//! Pingora's writer drops it with the output it would have produced). So every `br` body
//! lacked its end: strict decoders (`brotli -t`, Python's `brotli`) refuse it and curl
//! silently stopped after its first 16 KiB of output. This encoder is the same
//! `CompressorWriter` (same window, same buffer), finished on the last call.

use std::io::Write;
use std::time::{Duration, Instant};

use brotli::CompressorWriter;
use bytes::Bytes;
use pingora::protocols::http::compression::{Encode, COMPRESSION_ERROR};
use pingora::{Error, OrErr, Result};

/// Pingora's choices: 4 KiB internal buffer, 512 KiB window (`lgwin` 19).
const BUFFER: usize = 4096;
const LGWIN: u32 = 19;

/// Brotli at a quality (0–11); finished when `encode` is called with `end`.
pub struct BrotliEncoder {
    writer: Option<CompressorWriter<Vec<u8>>>,
    total_in: usize,
    total_out: usize,
    duration: Duration,
}

impl BrotliEncoder {
    /// An encoder at `quality` (clamped to 11 by the brotli crate).
    pub fn new(quality: u32) -> Self {
        BrotliEncoder {
            writer: Some(CompressorWriter::new(Vec::new(), BUFFER, quality, LGWIN)),
            total_in: 0,
            total_out: 0,
            duration: Duration::ZERO,
        }
    }
}

impl Encode for BrotliEncoder {
    fn encode(&mut self, input: &[u8], end: bool) -> Result<Bytes> {
        let start = Instant::now();
        let Some(writer) = self.writer.as_mut() else {
            if input.is_empty() {
                return Ok(Bytes::new()); // finished already: nothing more to say
            }
            return Error::e_explain(COMPRESSION_ERROR, "brotli stream already finished");
        };
        self.total_in += input.len();
        writer
            .write_all(input)
            .or_err(COMPRESSION_ERROR, "while compressing brotli")?;
        let out = match end {
            // Writes the last meta-block (ISLAST) after whatever is still buffered.
            true => self.writer.take().map(CompressorWriter::into_inner),
            false => Some(std::mem::take(writer.get_mut())),
        }
        .unwrap_or_default();
        self.total_out += out.len();
        self.duration += start.elapsed();
        Ok(out.into())
    }

    fn stat(&self) -> (&'static str, usize, usize, Duration) {
        ("brotli", self.total_in, self.total_out, self.duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Text that compresses but is not trivial, `n` bytes or more.
    fn text(n: usize) -> Vec<u8> {
        let mut s = String::new();
        let mut i = 0u64;
        while s.len() < n {
            s.push_str(&format!(
                "<p class=\"row\">row {i}: {}</p>\n",
                i * 7919 % 1000
            ));
            i += 1;
        }
        s.into_bytes()
    }

    /// Strict decoding: an unfinished stream is an error (`InvalidData` at its end).
    fn strict_decode(data: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut state = brotli::Decompressor::new(data, 4096);
        state.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_body_in_many_pieces_ends_with_the_last_block() {
        let body = text(200 * 1024);
        let mut enc = BrotliEncoder::new(5);
        let mut out = Vec::new();
        let pieces: Vec<&[u8]> = body.chunks(7000).collect();
        for (i, piece) in pieces.iter().enumerate() {
            out.extend_from_slice(&enc.encode(piece, i + 1 == pieces.len()).unwrap());
        }
        assert_eq!(strict_decode(&out).unwrap(), body);
        assert!(out.len() * 5 < body.len());
        let (_, inn, outn, _) = enc.stat();
        assert_eq!((inn, outn), (body.len(), out.len()));
        // After the end: an empty call is harmless, more data is an error.
        assert!(enc.encode(b"", true).unwrap().is_empty());
        assert!(enc.encode(b"x", false).is_err());
    }

    #[test]
    fn the_end_may_come_alone_and_an_empty_body_is_a_valid_stream() {
        let body = text(40 * 1024);
        let mut enc = BrotliEncoder::new(4);
        let mut out = enc.encode(&body, false).unwrap().to_vec();
        out.extend_from_slice(&enc.encode(&[], true).unwrap());
        assert_eq!(strict_decode(&out).unwrap(), body);

        let empty = BrotliEncoder::new(4).encode(&[], true).unwrap();
        assert!(strict_decode(&empty).unwrap().is_empty());
    }

    #[test]
    fn pingoras_own_encoder_leaves_the_stream_unfinished() {
        // Why this file exists: if a Pingora upgrade fixes it, this test says so.
        let body = text(40 * 1024);
        let mut theirs = pingora::protocols::http::compression::Algorithm::Brotli
            .compressor(4)
            .unwrap();
        let out = theirs.encode(&body, true).unwrap();
        assert!(strict_decode(&out).is_err());
    }
}
