//! The signal decoder against random and mutated frames: whatever a client sends, decoding
//! returns a request or a `DecodeError`, never a panic, and valid requests survive a round
//! trip. Case counts are bounded so the run stays short in CI.

use huiyi_proto::lk::{self, signal_request::Message as Req};
use huiyi_proto::{decode_request, encode_request, DecodeError, MAX_SIGNAL_MESSAGE};
use proptest::prelude::*;

/// A few kinds of real client requests, with generated contents.
fn request() -> impl Strategy<Value = Req> {
    let text = || ".{0,64}";
    prop_oneof![
        (text(), any::<u32>()).prop_map(|(sdp, id)| Req::Offer(lk::SessionDescription { r#type: "offer".into(), sdp, id, ..Default::default() })),
        (text(), 0..2i32).prop_map(|(c, target)| Req::Trickle(lk::TrickleRequest { candidate_init: c, target, ..Default::default() })),
        (text(), text(), 0..3i32, 0..5i32, any::<u32>(), any::<u32>()).prop_map(|(cid, name, kind, source, width, height)| Req::AddTrack(lk::AddTrackRequest {
            cid,
            name,
            r#type: kind,
            source,
            width,
            height,
            ..Default::default()
        })),
        (text(), any::<bool>()).prop_map(|(sid, muted)| Req::Mute(lk::MuteTrackRequest { sid, muted })),
        any::<i64>().prop_map(Req::Ping),
        (text(), text(), proptest::collection::hash_map(text(), text(), 0..4))
            .prop_map(|(name, metadata, attributes)| Req::UpdateMetadata(lk::UpdateParticipantMetadata { name, metadata, attributes, ..Default::default() })),
        (proptest::collection::vec(text(), 0..4), any::<bool>()).prop_map(|(track_sids, subscribe)| Req::Subscription(lk::UpdateSubscription { track_sids, subscribe, ..Default::default() })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_are_a_request_or_an_error(frame in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_request(&frame);
    }

    #[test]
    fn valid_requests_round_trip(req in request()) {
        let frame = encode_request(req.clone());
        prop_assert_eq!(decode_request(&frame).ok(), Some(req));
    }

    #[test]
    fn mutated_requests_never_panic(
        req in request(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<Option<prop::sample::Index>>(),
    ) {
        let mut frame = encode_request(req);
        for (at, byte) in flips {
            if !frame.is_empty() {
                let i = at.index(frame.len());
                frame[i] ^= byte;
            }
        }
        if let (Some(cut), false) = (cut, frame.is_empty()) {
            frame.truncate(cut.index(frame.len()));
        }
        let _ = decode_request(&frame);
    }

    #[test]
    fn oversized_frames_are_refused_before_decoding(extra in 1usize..4096) {
        let frame = vec![0x0a; MAX_SIGNAL_MESSAGE + extra];
        prop_assert!(matches!(decode_request(&frame), Err(DecodeError::TooLarge(_))));
    }
}
