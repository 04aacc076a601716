//! Keyframe detection on RTP payloads, without depacketizing. A subscriber may only switch
//! to a new simulcast layer (or start a stream) on a keyframe, since it cannot decode the
//! delta frames of a stream it has not seen the start of.

use str0m::rtp::Vp8Descriptor;

/// The video codecs whose keyframes Huiyi can recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    Vp8,
    H264,
}

/// Whether this RTP payload begins a keyframe.
pub fn starts_keyframe(codec: VideoCodec, payload: &[u8]) -> bool {
    match codec {
        VideoCodec::Vp8 => match Vp8Descriptor::parse(payload) {
            Ok(d) => d.starts_keyframe(payload),
            Err(_) => false,
        },
        VideoCodec::H264 => h264_starts_keyframe(payload),
    }
}

/// H.264 (RFC 6184): a keyframe starts with an SPS (7) or an IDR slice (5), either as a single
/// NAL unit, inside a STAP-A aggregate (24), or as the first fragment of an FU-A (28).
fn h264_starts_keyframe(payload: &[u8]) -> bool {
    const SPS: u8 = 7;
    const IDR: u8 = 5;
    let Some(&first) = payload.first() else { return false };
    match first & 0x1f {
        SPS | IDR => true,
        24 => {
            // STAP-A: [hdr][len16][nal]...
            let mut rest = &payload[1..];
            while rest.len() > 2 {
                let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                let Some(&nal) = rest.get(2) else { return false };
                if matches!(nal & 0x1f, SPS | IDR) {
                    return true;
                }
                rest = rest.get(2 + len..).unwrap_or(&[]);
            }
            false
        }
        28 => match payload.get(1) {
            // FU-A: start bit set and the fragmented NAL type is IDR or SPS.
            Some(&fu) => fu & 0x80 != 0 && matches!(fu & 0x1f, SPS | IDR),
            None => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_keyframe_bit() {
        // Descriptor: X=0, S=1, PID=0, then VP8 header byte with P=0 (keyframe).
        assert!(starts_keyframe(VideoCodec::Vp8, &[0x10, 0x00, 0x9d, 0x01, 0x2a]));
        // P=1: an interframe.
        assert!(!starts_keyframe(VideoCodec::Vp8, &[0x10, 0x01, 0x00, 0x00]));
        assert!(!starts_keyframe(VideoCodec::Vp8, &[]));
    }

    #[test]
    fn h264_forms() {
        assert!(starts_keyframe(VideoCodec::H264, &[0x67, 0x42]));
        assert!(starts_keyframe(VideoCodec::H264, &[0x65, 0x88]));
        assert!(!starts_keyframe(VideoCodec::H264, &[0x41, 0x9a]));
        // STAP-A with a SEI (6) then an SPS (7).
        assert!(starts_keyframe(VideoCodec::H264, &[0x78, 0x00, 0x01, 0x06, 0x00, 0x01, 0x67]));
        // FU-A start of IDR, and a middle fragment.
        assert!(starts_keyframe(VideoCodec::H264, &[0x7c, 0x85]));
        assert!(!starts_keyframe(VideoCodec::H264, &[0x7c, 0x05]));
        // Truncated STAP-A must not panic.
        assert!(!starts_keyframe(VideoCodec::H264, &[0x78, 0xff]));
    }
}
