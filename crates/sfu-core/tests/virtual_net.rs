//! The whole engine in virtual time: LiveKit-style clients, each two str0m peers, talk to an
//! [`Engine`] over an in-memory network that can drop packets. No sockets, no sleeps: time
//! jumps to the next deadline, so these run faster than real time and deterministically.
//!
//! What they show: a subscriber's losses are repaired by NACK and RTX from the engine's
//! per-stream packet cache; a simulcast layer switch happens on a keyframe after a PLI and
//! keeps sequence numbers, timestamps and VP8 picture ids continuous; audio levels become
//! speaker updates; the engine's metrics count what went through. The network and the clients
//! are in `support/`, shared with the allocation test and the packet-path benchmark.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_proto::lk::{self, signal_request::Message as Req, signal_response::Message as Resp};
use huiyi_sfu_core::{MuteOnEntry, Protocol, SessionKey};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind};
use str0m::rtp::RtpWrite;
use str0m::Event;

mod support;
use support::{publish, rtp_header, sdp_attr, subscribe, vp8, Net, Sender, SERVER};

/// What a subscriber received on its video media line: (seq, timestamp, picture id, layer).
fn received_video(net: &mut Net, sub: usize) -> Vec<(u64, u32, u16, u8)> {
    let mut out = Vec::new();
    let events = std::mem::take(&mut net.peers[sub].events);
    for e in events {
        match e {
            Event::RtpPacket(p) if p.payload.len() == 9 => {
                let pic = (((p.payload[2] & 0x7f) as u16) << 8) | p.payload[3] as u16;
                out.push((*p.seq_no, p.header.timestamp, pic, p.payload[8]));
            }
            other => net.peers[sub].events.push(other),
        }
    }
    out
}

/// The newest dynacast announcement to a publisher (earlier ones are superseded).
fn last_quality_update(net: &mut Net, key: SessionKey) -> Option<lk::SubscribedQualityUpdate> {
    let mut last = None;
    while let Some(u) = net.take_signal(key, |m| if let Resp::SubscribedQualityUpdate(u) = m { Some(u.clone()) } else { None }) {
        last = Some(u);
    }
    last
}

#[test]
fn subscriber_losses_are_repaired_by_nack_and_rtx() {
    let mut net = Net::new();
    let p = publish(&mut net, "pub", "10.0.0.1:1000", &[], false);
    let (_key, sub) = subscribe(&mut net, "sub", "10.0.0.2:2000");
    // Drop every 7th video packet on its first way to the subscriber. Retransmissions travel
    // on the RTX SSRC and get through.
    let mut video_ssrc: Option<u32> = None;
    let dropped = std::rc::Rc::new(std::cell::RefCell::new(BTreeSet::new()));
    let dropped_in_net = dropped.clone();
    net.loss = Box::new(move |data| {
        let Some((ssrc, seq)) = rtp_header(data) else { return false };
        if data.len() < 60 {
            // Our 9-byte VP8 payloads make short SRTP packets; padding probes are longer.
            let main = *video_ssrc.get_or_insert(ssrc);
            if ssrc == main && seq % 7 == 3 && dropped_in_net.borrow_mut().insert(seq) {
                return true;
            }
        }
        false
    });
    let mut sender = Sender::new();
    let mut got = Vec::new();
    for _ in 0..150 {
        sender.send_frame(&mut net, &p, &[None]);
        net.run_for(Duration::from_millis(33));
        got.extend(received_video(&mut net, sub));
    }
    net.run_for(Duration::from_millis(500));
    got.extend(received_video(&mut net, sub));

    let seqs: BTreeSet<u64> = got.iter().map(|g| g.0).collect();
    assert!(got.len() >= 150, "subscriber received {} packets", got.len());
    let (first, last) = (*seqs.first().unwrap(), *seqs.last().unwrap());
    let missing: Vec<u64> = (first..=last).filter(|s| !seqs.contains(s)).collect();
    let dropped = dropped.borrow();
    assert!(dropped.len() >= 15, "the network really dropped packets: {}", dropped.len());
    assert!(missing.is_empty(), "every lost packet was retransmitted; still missing {missing:?}");
    // Each dropped sequence number was delivered later, by retransmission.
    for seq in dropped.iter() {
        assert!(seqs.iter().any(|s| (*s as u16) == *seq), "dropped seq {seq} was repaired");
    }
    assert!(first < 65_536, "sequence starts below the first rollover");
    // Connection quality is reported to the room for every participant.
    let quality = net
        .take_signal(p.key, |m| if let Resp::ConnectionQuality(q) = m { Some(q.clone()) } else { None })
        .expect("a ConnectionQualityUpdate");
    assert_eq!(quality.updates.len(), 2, "{quality:?}");
}

#[test]
fn simulcast_switch_on_keyframe_keeps_numbers_continuous() {
    let mut net = Net::new();
    let rids = [Some("q"), Some("h"), Some("f")];
    let p = publish(&mut net, "pub", "10.0.0.1:1000", &["q", "h", "f"], false);
    let (key, sub) = subscribe(&mut net, "sub", "10.0.0.2:2000");
    let track_sid = net.engine.list_participants("virtual").unwrap().iter().find(|x| x.identity == "pub").unwrap().tracks[0].sid.clone();

    // A small tile: the low layer.
    net.signal(key, Req::TrackSetting(lk::UpdateTrackSettings { track_sids: vec![track_sid.clone()], width: 160, height: 90, ..Default::default() }));
    let mut sender = Sender::new();
    let mut got = Vec::new();
    for _ in 0..60 {
        sender.send_frame(&mut net, &p, &rids);
        net.run_for(Duration::from_millis(33));
        got.extend(received_video(&mut net, sub));
    }
    assert!(!got.is_empty() && got.iter().all(|g| g.3 == 0), "only the low layer while the tile is small");
    // Dynacast: the publisher is told that only the low layer is wanted.
    let wanted = last_quality_update(&mut net, p.key).expect("a SubscribedQualityUpdate for the publisher");
    let enabled: Vec<bool> = wanted.subscribed_codecs[0].qualities.iter().map(|q| q.enabled).collect();
    assert_eq!(enabled, vec![true, false, false], "low only: {wanted:?}");

    // Full screen: the high layer, from its next keyframe, which the engine asks for.
    net.signal(key, Req::TrackSetting(lk::UpdateTrackSettings { track_sids: vec![track_sid], width: 1280, height: 720, ..Default::default() }));
    let switch_at = got.len();
    for _ in 0..60 {
        sender.send_frame(&mut net, &p, &rids);
        net.run_for(Duration::from_millis(33));
        got.extend(received_video(&mut net, sub));
    }
    let after: Vec<_> = got[switch_at..].to_vec();
    let high_from = after.iter().position(|g| g.3 == 2).expect("switched to the high layer");
    let enabled: Vec<bool> = last_quality_update(&mut net, p.key).expect("dynacast update after the switch").subscribed_codecs[0].qualities.iter().map(|q| q.enabled).collect();
    assert_eq!(enabled, vec![true, true, true], "the high layer (and the fallbacks below it) is wanted again");
    assert!(after[high_from..].iter().all(|g| g.3 == 2), "no flapping back after the switch");
    assert!(high_from < 15, "the switch came within a few frames (a PLI, then a keyframe), not at the periodic keyframe");

    // Continuity across the switch, as the subscriber sees it.
    for w in got.windows(2) {
        let (a, b) = (w[0], w[1]);
        assert_eq!(b.0, a.0 + 1, "sequence numbers continue without gaps or repeats: {a:?} then {b:?}");
        assert!(b.1.wrapping_sub(a.1) < 90_000 * 2 && b.1 != a.1, "timestamps move forward: {a:?} then {b:?}");
        assert_eq!(b.2, (a.2 + 1) % 32768, "picture ids continue: {a:?} then {b:?}");
    }
}

#[test]
fn metrics_count_packets_nacks_keyframe_requests_and_layer_switches() {
    let mut net = Net::new();
    let rids = [Some("q"), Some("h"), Some("f")];
    let p = publish(&mut net, "pub", "10.0.0.1:1000", &["q", "h", "f"], false);
    let (key, sub) = subscribe(&mut net, "sub", "10.0.0.2:2000");
    let track_sid = net.engine.list_participants("virtual").unwrap().iter().find(|x| x.identity == "pub").unwrap().tracks[0].sid.clone();
    let m = net.engine.metrics();
    assert_eq!((m.rooms, m.participants, m.published_tracks, m.subscriptions), (1, 2, 1, 1), "{m:?}");
    assert_eq!((m.rtp_packets_received, m.rtp_packets_sent, m.layer_switches), (0, 0, 0), "no media yet: {m:?}");

    // The low layer, with some packets to the subscriber lost on their first way: it NACKs them.
    net.signal(key, Req::TrackSetting(lk::UpdateTrackSettings { track_sids: vec![track_sid.clone()], width: 160, height: 90, ..Default::default() }));
    let mut lost: BTreeSet<(u32, u16)> = BTreeSet::new();
    net.loss = Box::new(move |data| rtp_header(data).is_some_and(|(ssrc, seq)| data.len() < 60 && seq % 10 == 3 && lost.insert((ssrc, seq))));
    let frames = 60u64;
    let mut sender = Sender::new();
    let mut got = Vec::new();
    for _ in 0..frames {
        sender.send_frame(&mut net, &p, &rids);
        net.run_for(Duration::from_millis(33));
        got.extend(received_video(&mut net, sub));
    }
    // str0m reports the NACKs it answered in its statistics, every 2 s.
    net.run_for(Duration::from_millis(2500));
    got.extend(received_video(&mut net, sub));
    let low = net.engine.metrics();
    let delivered: BTreeSet<u64> = got.iter().map(|g| g.0).collect();
    assert!(delivered.len() as u64 >= frames, "the subscriber got every low-layer packet: {}", delivered.len());
    assert!(low.rtp_packets_received >= 3 * frames, "each layer's packets are counted in: {low:?}");
    assert!(low.rtp_packets_sent >= frames && low.rtp_packets_sent >= delivered.len() as u64, "each forwarded packet is counted out: {low:?}");
    assert!(low.rtp_packets_sent < low.rtp_packets_received, "only one of three layers is forwarded: {low:?}");
    // Bytes are payload bytes, and every payload here is 9 bytes.
    assert_eq!(low.rtp_bytes_received, 9 * low.rtp_packets_received);
    assert_eq!(low.rtp_bytes_sent, 9 * low.rtp_packets_sent);
    assert!(low.nacks_received > 0, "the subscriber's NACKs are counted: {low:?}");
    assert_eq!(low.layer_switches, 0, "starting on a layer is not a switch: {low:?}");

    // Full screen: one switch to the high layer, on a keyframe the engine asks for.
    net.loss = Box::new(|_| false);
    net.signal(key, Req::TrackSetting(lk::UpdateTrackSettings { track_sids: vec![track_sid], width: 1280, height: 720, ..Default::default() }));
    for _ in 0..30 {
        sender.send_frame(&mut net, &p, &rids);
        net.run_for(Duration::from_millis(33));
    }
    assert!(received_video(&mut net, sub).iter().any(|g| g.3 == 2), "switched to the high layer");
    let high = net.engine.metrics();
    assert_eq!(high.layer_switches, 1, "{high:?}");
    assert!(high.plis_sent > low.plis_sent, "the switch asked the publisher for a keyframe: {high:?}");
    assert!(high.nacks_received >= low.nacks_received && high.rtp_packets_sent > low.rtp_packets_sent);

    // The subscriber leaves: its down track goes; the room and the track stay.
    net.engine.remove_participant(net.now, "virtual", "sub").unwrap();
    let m = net.engine.metrics();
    assert_eq!((m.rooms, m.participants, m.published_tracks, m.subscriptions), (1, 1, 1, 0), "{m:?}");
}

#[test]
fn audio_levels_become_speaker_updates() {
    let mut net = Net::new();
    let p = publish(&mut net, "talker", "10.0.0.1:1000", &[], true);
    let (key, _sub) = subscribe(&mut net, "listener", "10.0.0.2:2000");
    let talker_sid = net.engine.list_participants("virtual").unwrap().iter().find(|x| x.identity == "talker").unwrap().sid.clone();
    let mut sender = Sender::new();
    for _ in 0..30 {
        sender.send_frame(&mut net, &p, &[None]);
        net.run_for(Duration::from_millis(20));
    }
    let speakers = net
        .take_signal(key, |m| if let Resp::SpeakersChanged(s) = m { Some(s.speakers.clone()) } else { None })
        .expect("a SpeakersChanged update");
    assert!(speakers.iter().any(|s| s.sid == talker_sid && s.active && s.level > 0.0), "{speakers:?}");
    // Silence (no packets, as with DTX) ends it.
    net.run_for(Duration::from_secs(2));
    let ended = net
        .take_signal(key, |m| if let Resp::SpeakersChanged(s) = m { Some(s.speakers.clone()) } else { None })
        .expect("a second SpeakersChanged update");
    assert!(ended.iter().any(|s| s.sid == talker_sid && !s.active));
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// A STUN binding request to the server with `username`, signed with `password`.
fn stun_request(username: &str, password: &str) -> Vec<u8> {
    let msg = str0m::ice::StunMessage::binding_request(username, str0m::ice::TransId::new(), true, 1, 100, false);
    let mut buf = vec![0u8; 512];
    let n = msg.to_bytes(Some(password.as_bytes()), &mut buf, hmac_sha1).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn only_verified_stun_teaches_an_address_and_each_peer_keeps_a_few() {
    let mut net = Net::new();
    // A publisher whose offer and the engine's answer give us both ICE credentials.
    let key = net.join("pub");
    let peer = net.add_peer("10.0.0.1:5000");
    net.signal(key, Req::AddTrack(lk::AddTrackRequest { cid: "mic".into(), r#type: lk::TrackType::Audio as i32, source: lk::TrackSource::Microphone as i32, ..Default::default() }));
    let mut api = net.peers[peer].rtc.sdp_api();
    api.add_media(MediaKind::Audio, Direction::SendOnly, Some("s".into()), Some("mic".into()), None);
    let (offer, pending) = api.apply().unwrap();
    let client_ufrag = sdp_attr(&offer.to_sdp_string(), "ice-ufrag");
    net.signal(key, Req::Offer(lk::SessionDescription { r#type: "offer".into(), sdp: offer.to_sdp_string(), id: 1, ..Default::default() }));
    let answer = net.take_signal(key, |m| if let Resp::Answer(a) = m { Some(a.sdp.clone()) } else { None }).unwrap();
    let (server_ufrag, server_pwd) = (sdp_attr(&answer, "ice-ufrag"), sdp_attr(&answer, "ice-pwd"));
    net.peers[peer].rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
    net.run_until("publisher connected", |n| n.peers[peer].connected);
    let routed = net.engine.routed_addresses();
    let server: SocketAddr = SERVER.parse().unwrap();
    let username = format!("{server_ufrag}:{client_ufrag}");

    // The right ufrag with the wrong password, from a new address: not learnt.
    let forged = stun_request(&username, "not-the-password");
    net.engine.handle_datagram(net.now, Protocol::Udp, "10.9.9.9:9".parse().unwrap(), server, &forged);
    assert_eq!(net.engine.routed_addresses(), routed, "a forged STUN request taught an address");

    // Properly signed requests from many addresses: each is learnt, but the peer keeps only
    // the most recent few (EngineConfig::max_remote_addrs), so routes stay bounded.
    let max = net.engine.config().max_remote_addrs;
    for i in 0..50u16 {
        let from = SocketAddr::from(([10, 8, (i >> 8) as u8, i as u8], 4000 + i));
        net.engine.handle_datagram(net.now, Protocol::Udp, from, server, &stun_request(&username, &server_pwd));
    }
    // Only the publisher's peer has routes (the subscriber side was never answered).
    assert_eq!(routed, 1);
    assert_eq!(net.engine.routed_addresses(), max, "one peer keeps at most {max} addresses");
}

#[test]
fn a_pending_track_is_not_published_after_publish_permission_is_revoked() {
    let mut net = Net::new();
    let key = net.join("pub");
    let peer = net.add_peer("10.0.0.1:5000");
    net.signal(key, Req::AddTrack(lk::AddTrackRequest { cid: "mic".into(), r#type: lk::TrackType::Audio as i32, source: lk::TrackSource::Microphone as i32, ..Default::default() }));
    // The host revokes publishing while the AddTrack waits for its media.
    let revoked = lk::ParticipantPermission { can_publish: false, can_subscribe: true, can_publish_data: true, ..Default::default() };
    net.engine.update_participant(&lk::UpdateParticipantRequest { room: "virtual".into(), identity: "pub".into(), permission: Some(revoked), ..Default::default() }).unwrap();
    // The client goes on and offers the media line.
    let mut api = net.peers[peer].rtc.sdp_api();
    let mid = api.add_media(MediaKind::Audio, Direction::SendOnly, Some("s".into()), Some("mic".into()), None);
    let (offer, pending) = api.apply().unwrap();
    net.signal(key, Req::Offer(lk::SessionDescription { r#type: "offer".into(), sdp: offer.to_sdp_string(), id: 1, ..Default::default() }));
    let answer = net.take_signal(key, |m| if let Resp::Answer(a) = m { Some(a.sdp.clone()) } else { None }).unwrap();
    net.peers[peer].rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
    net.run_until("publisher connected", |n| n.peers[peer].connected);
    let (_sub_key, sub) = subscribe(&mut net, "sub", "10.0.0.2:5000");
    // Packets on the line are sent anyway, as a hand-written client would.
    let pt = net.peers[peer].rtc.codec_config().find(|c| c.spec().codec == Codec::Opus).map(|c| c.pt()).unwrap();
    let mut sent = 0;
    for i in 0..20u16 {
        let now = net.now;
        let mut api = net.peers[peer].rtc.direct_api();
        if let Some(tx) = api.stream_tx_by_mid(mid, None) {
            tx.write_rtp(RtpWrite::new(pt, (i as u64).into(), i as u32 * 960, now, vec![0xf8, 0xff, 0xfe]));
            sent += 1;
        }
        net.run_for(Duration::from_millis(20));
    }
    assert!(sent > 0, "the client could not send on its media line");
    let info = net.engine.get_participant("virtual", "pub").unwrap();
    assert!(info.tracks.is_empty(), "published after revocation: {:?}", info.tracks);
    let got_audio = net.peers[sub].events.iter().any(|e| matches!(e, Event::RtpPacket(_)));
    assert!(!got_audio, "the subscriber received the revoked participant's audio");
}

#[test]
fn tracks_waiting_for_media_are_bounded() {
    let mut net = Net::new();
    let key = net.join("pub");
    let max = net.engine.config().max_pending_tracks;
    for i in 0..max {
        let req = lk::AddTrackRequest { cid: format!("t{i}"), r#type: lk::TrackType::Audio as i32, source: lk::TrackSource::Microphone as i32, ..Default::default() };
        net.engine.handle_signal(net.now, key, Req::AddTrack(req)).unwrap();
    }
    let over = lk::AddTrackRequest { cid: "one-too-many".into(), r#type: lk::TrackType::Audio as i32, ..Default::default() };
    assert!(net.engine.handle_signal(net.now, key, Req::AddTrack(over)).is_err());
    net.exchange();
    let refused = net.take_signal(key, |m| if let Resp::RequestResponse(r) = m { Some(r.reason) } else { None });
    assert_eq!(refused, Some(lk::request_response::Reason::LimitExceeded as i32));
    // Oversized metadata from the client is refused too (the token allows self-updates here).
    let perm = lk::ParticipantPermission { can_publish: true, can_subscribe: true, can_update_metadata: true, ..Default::default() };
    net.engine.update_participant(&lk::UpdateParticipantRequest { room: "virtual".into(), identity: "pub".into(), permission: Some(perm), ..Default::default() }).unwrap();
    let huge = lk::UpdateParticipantMetadata { metadata: "x".repeat(net.engine.config().state_limits.max_metadata_bytes + 1), ..Default::default() };
    assert!(net.engine.handle_signal(net.now, key, Req::UpdateMetadata(huge)).is_err());
    let many = lk::UpdateParticipantMetadata { attributes: (0..100).map(|i| (format!("k{i}"), "v".to_owned())).collect(), ..Default::default() };
    assert!(net.engine.handle_signal(net.now, key, Req::UpdateMetadata(many)).is_err());
    assert!(net.engine.get_participant("virtual", "pub").unwrap().attributes.is_empty());
}

/// One generated datagram: its shape, its bytes, and whether it comes from the publisher's own
/// (ICE-verified) address, where it reaches str0m, or from an unknown one.
#[derive(Debug, Clone)]
struct Junk {
    from_publisher: bool,
    /// 0: the bytes as generated; 1: a STUN request with the publisher's real USERNAME signed
    /// with a wrong password; 2: the same, correctly signed (from any address).
    stun: u8,
    bytes: Vec<u8>,
}

fn junk() -> impl proptest::strategy::Strategy<Value = Junk> {
    use proptest::prelude::*;
    let tail = || proptest::collection::vec(any::<u8>(), 0..300);
    let shaped = prop_oneof![
        // Anything at all.
        tail(),
        // STUN-shaped: a binding request header with the magic cookie, then garbage.
        (tail(), any::<[u8; 12]>()).prop_map(|(t, id)| {
            let mut b = vec![0x00, 0x01, (t.len() >> 8) as u8, t.len() as u8, 0x21, 0x12, 0xa4, 0x42];
            b.extend(id);
            b.extend(t);
            b
        }),
        // DTLS-shaped: a record content type 20..=63 and a DTLS version.
        (20u8..=63, tail()).prop_map(|(ct, t)| [vec![ct, 0xfe, 0xfd], t].concat()),
        // RTP-shaped: version 2, any payload type.
        (any::<u8>(), tail()).prop_map(|(pt, t)| [vec![0x80, pt], t].concat()),
        // RTCP-shaped: version 2, a packet type 200..=206.
        (200u8..=206, tail()).prop_map(|(pt, t)| [vec![0x80, pt, 0, (t.len() / 4) as u8], t].concat()),
    ];
    (any::<bool>(), prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8)], shaped).prop_map(|(from_publisher, stun, bytes)| Junk { from_publisher, stun, bytes })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 24, failure_persistence: None, ..Default::default() })]

    /// Random and mutated datagrams of every shape, from strangers and from a connected
    /// publisher's own address: the engine never panics, and the other participant's session
    /// is not disturbed (a publisher whose own connection is broken may be dropped; no one else).
    #[test]
    fn random_datagrams_disturb_no_one_else(packets in proptest::collection::vec(junk(), 1..60)) {
        let mut net = Net::new();
        let p = publish(&mut net, "pub", "10.0.0.1:5000", &[], true);
        let (_sub_key, sub) = subscribe(&mut net, "sub", "10.0.0.2:5000");
        let server: SocketAddr = SERVER.parse().unwrap();
        let publisher_addr = net.peers[p.peer].addr;
        for (i, j) in packets.iter().enumerate() {
            let from = if j.from_publisher { publisher_addr } else { SocketAddr::from(([10, 7, 0, (i % 250) as u8], 6000)) };
            let bytes = match j.stun {
                1 => stun_request(&p.stun_username, "a wrong password"),
                2 => stun_request(&p.stun_username, &p.server_pwd),
                _ => j.bytes.clone(),
            };
            net.engine.handle_datagram(net.now, Protocol::Udp, from, server, &bytes);
            net.exchange();
        }
        net.run_for(Duration::from_millis(200));
        proptest::prop_assert!(net.engine.get_participant("virtual", "sub").is_ok(), "the other participant was dropped");
        proptest::prop_assert!(net.peers[sub].connected, "the other participant's connection was broken");
        // Routes stay bounded however many addresses sent correctly signed STUN.
        proptest::prop_assert!(net.engine.routed_addresses() <= 2 * net.engine.config().max_remote_addrs);
    }
}

#[test]
fn a_microphone_grant_does_not_carry_video() {
    let mut net = Net::new();
    let key = net.join("pub");
    // Only the microphone may be published.
    let mic_only = lk::ParticipantPermission { can_publish: true, can_subscribe: true, can_publish_sources: vec![lk::TrackSource::Microphone as i32], ..Default::default() };
    net.engine.update_participant(&lk::UpdateParticipantRequest { room: "virtual".into(), identity: "pub".into(), permission: Some(mic_only), ..Default::default() }).unwrap();
    // A video track called a microphone is refused outright.
    let disguised = lk::AddTrackRequest { cid: "cam".into(), r#type: lk::TrackType::Video as i32, source: lk::TrackSource::Microphone as i32, ..Default::default() };
    assert!(net.engine.handle_signal(net.now, key, Req::AddTrack(disguised)).is_err());
    // An honest microphone AddTrack, then a video line carrying its cid: the line is not bound.
    net.signal(key, Req::AddTrack(lk::AddTrackRequest { cid: "mic".into(), r#type: lk::TrackType::Audio as i32, source: lk::TrackSource::Microphone as i32, ..Default::default() }));
    let peer = net.add_peer("10.0.0.1:5000");
    let mut api = net.peers[peer].rtc.sdp_api();
    api.add_media(MediaKind::Video, Direction::SendOnly, Some("s".into()), Some("mic".into()), None);
    let (offer, pending) = api.apply().unwrap();
    net.signal(key, Req::Offer(lk::SessionDescription { r#type: "offer".into(), sdp: offer.to_sdp_string(), id: 1, ..Default::default() }));
    let answer = net.take_signal(key, |m| if let Resp::Answer(a) = m { Some(a.sdp.clone()) } else { None }).unwrap();
    net.peers[peer].rtc.sdp_api().accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap()).unwrap();
    net.run_until("publisher connected", |n| n.peers[peer].connected);
    net.run_for(Duration::from_millis(100));
    let info = net.engine.get_participant("virtual", "pub").unwrap();
    assert!(info.tracks.is_empty(), "video published under a microphone grant: {:?}", info.tracks);
}


#[test]
fn mute_on_entry_mutes_the_first_microphone_once() {
    let mut net = Net::new();
    // The first two join freely; from the third on (more than 2 in the room), mute on entry.
    net.mute_on_entry = MuteOnEntry::Above(2);
    let first = publish(&mut net, "first", "10.0.0.1:5000", &[], true);
    let info = net.engine.get_participant("virtual", "first").unwrap();
    assert!(info.tracks.iter().all(|t| !t.muted), "the first participant is not muted");
    let _second = net.join("second");
    let third = publish(&mut net, "third", "10.0.0.3:5000", &[], true);
    let info = net.engine.get_participant("virtual", "third").unwrap();
    let mic = info.tracks.iter().find(|t| t.source == lk::TrackSource::Microphone as i32).expect("a microphone track");
    assert!(mic.muted, "the newcomer's microphone is muted by the server");
    assert!(info.tracks.iter().filter(|t| t.source == lk::TrackSource::Camera as i32).all(|t| !t.muted), "only the microphone");
    let told = net.take_signal(third.key, |m| if let Resp::Mute(r) = m { Some((r.sid.clone(), r.muted)) } else { None });
    assert_eq!(told, Some((mic.sid.clone(), true)), "the publisher is told to mute");
    // Unmuting is theirs: the server does not mute it again.
    net.signal(third.key, Req::Mute(lk::MuteTrackRequest { sid: mic.sid.clone(), muted: false }));
    let info = net.engine.get_participant("virtual", "third").unwrap();
    assert!(info.tracks.iter().all(|t| !t.muted));
    let _ = first;
    assert!(MuteOnEntry::Always.applies(0) && !MuteOnEntry::Never.applies(99) && !MuteOnEntry::Above(6).applies(5) && MuteOnEntry::Above(6).applies(6));
}

#[test]
fn a_frames_packets_leave_together_not_one_per_pacer_tick() {
    let mut net = Net::new();
    let p = publish(&mut net, "pub", "10.0.0.1:1000", &[], false);
    let (_key, sub) = subscribe(&mut net, "sub", "10.0.0.2:2000");
    let mut sender = Sender::new();
    // A keyframe first, so the subscriber is being forwarded to.
    for _ in 0..10 {
        sender.send_frame(&mut net, &p, &[None]);
        net.run_for(Duration::from_millis(33));
    }
    net.peers[sub].events.clear();
    // One 12-packet frame, written in one instant as a publisher's burst arrives.
    let pt = net.peers[p.peer].rtc.codec_config().find(|c| c.spec().codec == Codec::Vp8).unwrap().pt();
    let sent_at = net.now;
    {
        let mut api = net.peers[p.peer].rtc.direct_api();
        let tx = api.stream_tx_by_mid(p.video, None).unwrap();
        for i in 0..12u64 {
            let payload = vp8(sender.frame as u16, false, 0);
            tx.write_rtp(RtpWrite::new(pt, (sender.seq[0] + i).into(), sender.frame * 3000, sent_at, payload).marker(i == 11).nackable(true));
        }
    }
    net.run_for(Duration::from_millis(30));
    let arrivals: Vec<Instant> = net.peers[sub]
        .events
        .iter()
        .filter_map(|e| if let Event::RtpPacket(p) = e { (p.payload.len() == 9).then_some(p.timestamp) } else { None })
        .collect();
    assert_eq!(arrivals.len(), 12, "every packet of the frame arrived");
    let spread = *arrivals.iter().max().unwrap() - *arrivals.iter().min().unwrap();
    // Through the pacer's one-packet-per-timeout gate, each packet waited for another turn of
    // the shell's timer (at least 100 µs in this virtual net, 1 ms under tokio).
    assert!(spread < Duration::from_micros(100), "the frame's packets left {spread:?} apart");
}
