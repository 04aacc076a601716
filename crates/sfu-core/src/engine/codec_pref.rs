//! Honouring the publisher's codec choice in the SDP answer.
//!
//! A LiveKit client names the codec it wants per track (`AddTrackRequest.simulcast_codecs`)
//! and offers every codec it has. str0m answers in its own configured order, and a browser
//! sends with the first codec of the answer, so without this the choice would be ignored.
//! [`prefer_codec`] moves the wanted codec (and its RTX) to the front of one media line.

/// Reorders the payload types on the `m=` line of the section with `a=mid:<mid>` so that
/// those whose `a=rtpmap` names `codec` (case-insensitive, e.g. "h264") come first, each
/// followed by the RTX types that repair it. Other sections are untouched. Returns `None`
/// when nothing changes.
pub(crate) fn prefer_codec(sdp: &str, mid: &str, codec: &str) -> Option<String> {
    let lines: Vec<&str> = sdp.split("\r\n").collect();
    // Section boundaries: each starts at an m= line.
    let starts: Vec<usize> = lines.iter().enumerate().filter(|(_, l)| l.starts_with("m=")).map(|(i, _)| i).collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut changed = false;
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let section = &lines[start..end];
        if !section.iter().any(|l| *l == format!("a=mid:{mid}")) {
            continue;
        }
        let mut fields: Vec<&str> = lines[start].split(' ').collect();
        if fields.len() <= 3 {
            return None;
        }
        let pts: Vec<&str> = fields.split_off(3);
        let wanted: Vec<&str> = section
            .iter()
            .filter_map(|l| l.strip_prefix("a=rtpmap:"))
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, enc)| enc.split('/').next().is_some_and(|name| name.eq_ignore_ascii_case(codec)))
            .map(|(pt, _)| pt)
            .collect();
        if wanted.is_empty() {
            return None;
        }
        // RTX types name the type they repair in `a=fmtp:<rtx> apt=<pt>`.
        let rtx_of = |pt: &str| -> Vec<&str> {
            section
                .iter()
                .filter_map(|l| l.strip_prefix("a=fmtp:"))
                .filter_map(|l| l.split_once(' '))
                .filter(|(_, params)| params.split(';').any(|p| p.trim() == format!("apt={pt}")))
                .map(|(rtx, _)| rtx)
                .collect()
        };
        let mut front: Vec<&str> = Vec::new();
        for pt in pts.iter().filter(|p| wanted.contains(p)) {
            front.push(pt);
            for rtx in rtx_of(pt) {
                if pts.contains(&rtx) && !front.contains(&rtx) {
                    front.push(rtx);
                }
            }
        }
        let rest = pts.iter().filter(|p| !front.contains(p)).copied();
        let reordered: Vec<&str> = front.iter().copied().chain(rest).collect();
        if reordered != pts {
            out[start] = fields.into_iter().chain(reordered).collect::<Vec<_>>().join(" ");
            changed = true;
        }
    }
    changed.then(|| out.join("\r\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\n\
a=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1\r\n\
a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n";

    #[test]
    fn moves_the_wanted_codec_and_its_rtx_first() {
        let out = prefer_codec(ANSWER, "1", "h264").unwrap();
        assert!(out.contains("m=video 9 UDP/TLS/RTP/SAVPF 102 103 96 97\r\n"), "{out}");
        // Other sections stay as they were.
        assert!(out.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"));
    }

    #[test]
    fn no_change_when_already_first_or_absent() {
        assert_eq!(prefer_codec(ANSWER, "1", "vp8"), None);
        assert_eq!(prefer_codec(ANSWER, "1", "av1"), None);
        assert_eq!(prefer_codec(ANSWER, "9", "h264"), None);
        assert_eq!(prefer_codec("garbage", "1", "h264"), None);
    }
}
