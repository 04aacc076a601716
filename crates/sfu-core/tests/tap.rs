//! Media taps on the virtual network: a tap receives a room's tracks as plain RTP (its own
//! SSRCs, fixed payload types, continuous sequence numbers, starting on a keyframe), follows
//! tracks published and unpublished later, is seen by nobody, and is refused outside
//! loopback.

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;

use huiyi_proto::lk::signal_response::Message as Resp;
use huiyi_sfu_core::{RoomEvent, ServiceError, TapScope, TapSpec};
use str0m::media::KeyframeRequest;
use str0m::Event;
use support::{publish, subscribe, Net, Sender};

const SINK: &str = "127.0.0.1:5004";

fn spec(scope: TapScope) -> TapSpec {
    TapSpec { room: "virtual".into(), to: SINK.parse().unwrap(), scope, audio: true, video: true }
}

/// (pt, marker, seq, timestamp, ssrc, payload) of a plain 12-byte-header RTP packet.
fn parse(packet: &[u8]) -> (u8, bool, u16, u32, u32, &[u8]) {
    assert!(packet.len() >= 12);
    assert_eq!(packet[0], 0x80, "version 2, no padding, no extension, no CSRC");
    (
        packet[1] & 0x7f,
        packet[1] & 0x80 != 0,
        u16::from_be_bytes([packet[2], packet[3]]),
        u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
        u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        &packet[12..],
    )
}

fn of_ssrc(net: &Net, ssrc: u32) -> Vec<Vec<u8>> {
    let sink: SocketAddr = SINK.parse().unwrap();
    net.taps.iter().filter(|(to, p)| *to == sink && parse(p).4 == ssrc).map(|(_, p)| p.clone()).collect()
}

#[test]
fn a_tap_receives_the_rooms_tracks_as_plain_rtp() {
    let mut net = Net::new();
    let alice = publish(&mut net, "alice", "10.0.0.1:5000", &[], true);
    let mut sender = Sender::new();
    for _ in 0..10 {
        sender.send_frame(&mut net, &alice, &[None]);
    }
    let (bob, _) = subscribe(&mut net, "bob", "10.0.0.2:5000");
    // Past the rate limit of keyframe requests that bob's subscription used.
    net.run_for(std::time::Duration::from_millis(600));
    net.signals.clear();
    net.peers[alice.peer].events.clear();

    let (tap, tracks) = net.engine.open_tap(net.now, 0, spec(TapScope::Room)).unwrap();
    assert_eq!(tracks.len(), 2);
    let video = tracks.iter().find(|t| t.mime == "video/VP8").expect("the camera");
    let audio = tracks.iter().find(|t| t.mime == "audio/opus").expect("the microphone");
    assert_eq!((video.pt, audio.pt), (96, 111));
    assert_ne!(video.ssrc, audio.ssrc);
    assert_eq!((video.identity.as_str(), video.source.as_str(), audio.source.as_str()), ("alice", "camera", "microphone"));

    // Opening asks the publisher for a keyframe to start the recording on.
    net.run_for(std::time::Duration::from_millis(50));
    assert!(
        net.peers[alice.peer].events.iter().any(|e| matches!(e, Event::KeyframeRequest(KeyframeRequest { .. }))),
        "the publisher was asked for a keyframe"
    );
    for _ in 0..40 {
        sender.send_frame(&mut net, &alice, &[None]);
    }

    let v = of_ssrc(&net, video.ssrc);
    assert!(v.len() >= 35, "video packets reached the tap: {}", v.len());
    let (pt, marker, first_seq, _, _, payload) = parse(&v[0]);
    assert_eq!(pt, 96);
    assert!(marker);
    assert_eq!(payload[4] & 0x01, 0, "the first video packet starts a keyframe");
    for (i, p) in v.iter().enumerate() {
        assert_eq!(parse(p).2, first_seq.wrapping_add(i as u16), "sequence numbers are continuous");
    }
    let a = of_ssrc(&net, audio.ssrc);
    assert!(a.len() >= 35, "audio packets reached the tap: {}", a.len());
    assert!(a.iter().all(|p| parse(p).0 == 111 && parse(p).5 == [0xfc, 0xff, 0xfe]), "plain Opus, payload untouched");

    // Nobody sees the tap: no update names it, the participant list does not hold it.
    let told: Vec<String> = net
        .signals
        .get(&bob)
        .map(|q| q.iter().filter_map(|m| if let Resp::Update(u) = m { Some(u.participants.iter().map(|p| p.identity.clone()).collect::<Vec<_>>()) } else { None }).flatten().collect())
        .unwrap_or_default();
    assert!(told.iter().all(|i| !i.starts_with("EG_")), "{told:?}");
    let listed: Vec<String> = net.engine.list_participants("virtual").unwrap().into_iter().map(|p| p.identity).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");

    // Closed, it receives nothing more.
    assert!(net.engine.close_tap(tap));
    assert!(!net.engine.close_tap(tap));
    let before = net.taps.len();
    for _ in 0..5 {
        sender.send_frame(&mut net, &alice, &[None]);
    }
    assert_eq!(net.taps.len(), before);
}

#[test]
fn a_tap_follows_tracks_published_and_removed_later() {
    let mut net = Net::new();
    let _host = net.join("host");
    let (tap, tracks) = net.engine.open_tap(net.now, 0, spec(TapScope::Room)).unwrap();
    assert!(tracks.is_empty());
    let alice = publish(&mut net, "alice", "10.0.0.1:5000", &[], false);
    net.exchange();
    let added: Vec<_> = net.events.iter().filter_map(|e| if let RoomEvent::TapTrackAdded { tap: t, track } = e { Some((*t, track.clone())) } else { None }).collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert_eq!((added[0].0, added[0].1.mime.as_str(), added[0].1.identity.as_str()), (tap, "video/VP8", "alice"));
    let ssrc = added[0].1.ssrc;
    let mut sender = Sender::new();
    for _ in 0..10 {
        sender.send_frame(&mut net, &alice, &[None]);
    }
    assert!(!of_ssrc(&net, ssrc).is_empty());

    // The publisher leaves: the tap hears that the track is gone.
    net.engine.remove_participant(net.now, "virtual", "alice").unwrap();
    net.exchange();
    assert!(net.events.iter().any(|e| matches!(e, RoomEvent::TapTrackRemoved { tap: t, ssrc: s, .. } if *t == tap && *s == ssrc)));
}

#[test]
fn a_track_tap_receives_only_its_track() {
    let mut net = Net::new();
    let alice = publish(&mut net, "alice", "10.0.0.1:5000", &[], true);
    let sid = net.engine.list_participants("virtual").unwrap()[0].tracks.iter().find(|t| t.r#type == huiyi_proto::lk::TrackType::Audio as i32).unwrap().sid.clone();
    let (_, tracks) = net.engine.open_tap(net.now, 0, spec(TapScope::Track(sid.clone()))).unwrap();
    assert_eq!(tracks.len(), 1);
    assert_eq!((tracks[0].track_sid.as_str(), tracks[0].mime.as_str()), (sid.as_str(), "audio/opus"));
    let mut sender = Sender::new();
    for _ in 0..10 {
        sender.send_frame(&mut net, &alice, &[None]);
    }
    let ssrcs: std::collections::HashSet<u32> = net.taps.iter().map(|(_, p)| parse(p).4).collect();
    assert_eq!(ssrcs.into_iter().collect::<Vec<_>>(), vec![tracks[0].ssrc]);
}

#[test]
fn taps_are_refused_outside_loopback_and_for_what_does_not_exist() {
    let mut net = Net::new();
    let _host = net.join("host");
    let now = net.now;
    let mut far = spec(TapScope::Room);
    far.to = "10.0.0.9:5004".parse().unwrap();
    assert!(matches!(net.engine.open_tap(now, 0, far), Err(ServiceError::InvalidArgument(_))));
    let mut nothing = spec(TapScope::Room);
    (nothing.audio, nothing.video) = (false, false);
    assert!(matches!(net.engine.open_tap(now, 0, nothing), Err(ServiceError::InvalidArgument(_))));
    let mut elsewhere = spec(TapScope::Room);
    elsewhere.room = "nowhere".into();
    assert!(matches!(net.engine.open_tap(now, 0, elsewhere), Err(ServiceError::RoomNotFound)));
    assert!(matches!(net.engine.open_tap(now, 0, spec(TapScope::Track("TR_nope".into()))), Err(ServiceError::TrackNotFound)));
    assert!(matches!(net.engine.open_tap(now, 0, spec(TapScope::Participant("nobody".into()))), Err(ServiceError::ParticipantNotFound)));
}

#[test]
fn deleting_the_room_closes_its_taps() {
    let mut net = Net::new();
    let _host = net.join("host");
    let (tap, _) = net.engine.open_tap(net.now, 0, spec(TapScope::Room)).unwrap();
    net.engine.delete_room(net.now, "virtual").unwrap();
    net.exchange();
    assert!(net.events.iter().any(|e| *e == RoomEvent::TapClosed { tap }));
    assert!(!net.engine.close_tap(tap), "already closed with its room");
}

#[test]
fn a_tap_passes_the_publishers_sender_reports_on_its_own_timeline() {
    let mut net = Net::new();
    let alice = publish(&mut net, "alice", "10.0.0.1:5000", &[], true);
    let mut sender = Sender::new();
    let (_tap, tracks) = net.engine.open_tap(net.now, 0, spec(TapScope::Room)).unwrap();
    let video = tracks.iter().find(|t| t.mime == "video/VP8").expect("the camera").ssrc;
    // Six seconds at 30 frames a second: the publisher sends sender reports on its own schedule.
    for _ in 0..180 {
        sender.send_frame(&mut net, &alice, &[None]);
        net.run_for(std::time::Duration::from_millis(33));
    }
    let sink: SocketAddr = SINK.parse().unwrap();
    let reports: Vec<(u32, u64, u32)> = net
        .taps
        .iter()
        .filter(|(to, p)| *to == sink && p.len() == 28 && p[1] == 200)
        .map(|(_, p)| {
            assert_eq!(&p[..4], &[0x80, 200, 0, 6], "a sender report with no report blocks");
            let word = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
            (word(4), (u64::from(word(8)) << 32) | u64::from(word(12)), word(16))
        })
        .collect();
    let of_video: Vec<_> = reports.iter().filter(|r| r.0 == video).collect();
    assert!(of_video.len() >= 2, "the camera's reports reached the tap: {reports:?}");
    // Each report once, not once per packet, and on the wallclock (NTP era 0, after 2020).
    let mut times: Vec<u64> = of_video.iter().map(|r| r.1).collect();
    times.dedup();
    assert_eq!(times.len(), of_video.len(), "a report is passed on once: {of_video:?}");
    assert!(of_video.iter().all(|r| (r.1 >> 32) > 3_786_825_600), "{of_video:?}");
    // Its RTP time is on the tap's timeline: within a second of the packets sent near it.
    let last_rtp = of_ssrc(&net, video).last().map(|p| parse(p).3).unwrap();
    let newest = of_video.last().unwrap();
    assert!(last_rtp.wrapping_sub(newest.2) < 90_000, "report at {} vs packets at {last_rtp}", newest.2);
}

/// Sends frame `k` of simulcast layer `layer`, captured at `captured` (`since` the first
/// frame): its RTP time is that capture time on the layer's own clock base, as browsers send
/// layers, and its sender reports say so.
fn send_layer(net: &mut Net, p: &support::Publisher, layer: usize, k: u32, captured: std::time::Instant, since: std::time::Duration, key: bool) {
    const BASES: [u32; 3] = [0, 7_000_000, 3_500_000_000];
    let rid = ["q", "h", "f"][layer];
    let pt = net.peers[p.peer].rtc.codec_config().find(|c| c.spec().codec == str0m::format::Codec::Vp8).unwrap().pt();
    let payload = support::vp8((k % 32768) as u16, key, layer as u8);
    let mut api = net.peers[p.peer].rtc.direct_api();
    let tx = api.stream_tx_by_mid(p.video, Some(str0m::media::Rid::from(rid))).expect("the layer's stream");
    let seq = 1000 + 20_000 * layer as u64 + u64::from(k);
    let ts = BASES[layer].wrapping_add((since.as_micros() * 90 / 1000) as u32);
    tx.write_rtp(str0m::rtp::RtpWrite::new(pt, seq.into(), ts, captured, payload).marker(true));
    net.step();
}

#[test]
fn a_layer_switch_keeps_the_taps_timeline_on_the_senders_wallclock() {
    // The low layer reaches the server 100 ms after its capture, the high layer at once (a
    // congested low layer; in a browser it is as often the high one). When the tap moves from
    // the low layer to the high one, the high layer's keyframe must go where its capture time
    // puts it, not where its arrival does, so that one sender report still maps the tap's
    // RTP time to the sender's wallclock across the switch: the recorder's lip sync relies on
    // that.
    let mut net = Net::new();
    let alice = publish(&mut net, "alice", "10.0.0.1:5000", &["q", "h", "f"], false);
    let (tap, tracks) = net.engine.open_tap(net.now, 0, spec(TapScope::Room)).unwrap();
    let video = tracks.iter().find(|t| t.mime == "video/VP8").expect("the camera").ssrc;
    net.engine.tap_set_video_size(net.now, tap, video, 160, 90);
    const LOW_DELAY: u32 = 3; // frames of 33 ms
    let mut captured = Vec::new();
    let mut force_key = [true; 3];
    for k in 0..300u32 {
        if k == 150 {
            net.engine.tap_set_video_size(net.now, tap, video, 0, 0);
        }
        captured.push(net.now);
        for e in net.peers[alice.peer].events.drain(..) {
            if let Event::KeyframeRequest(KeyframeRequest { rid, .. }) = e {
                let i = ["q", "h", "f"].iter().position(|r| rid.as_deref() == Some(*r)).unwrap_or(0);
                force_key[i] = true;
            }
        }
        if let Some(late) = k.checked_sub(LOW_DELAY) {
            let at = captured[late as usize];
            send_layer(&mut net, &alice, 0, late, at, at - captured[0], std::mem::take(&mut force_key[0]) || late % 90 == 0);
        }
        for layer in 1..3 {
            let now = net.now;
            send_layer(&mut net, &alice, layer, k, now, now - captured[0], std::mem::take(&mut force_key[layer]) || k % 90 == 0);
        }
        net.run_for(std::time::Duration::from_millis(33));
    }
    // The tap's video: low-layer packets, then high-layer ones (the layer is the payload's
    // last byte).
    let layers: Vec<u8> = of_ssrc(&net, video).iter().filter(|p| p[1] != 200).map(|p| *parse(p).5.last().unwrap()).collect();
    let switch = layers.iter().position(|l| *l == 2).expect("the tap moved to the high layer");
    assert!(switch > 30 && layers[..switch].iter().all(|l| *l == 0) && layers[switch..].iter().all(|l| *l == 2), "{layers:?}");
    // Its sender reports, before and after: each new one agrees with the last on the
    // wallclock behind an RTP time.
    let sink: SocketAddr = SINK.parse().unwrap();
    let reports: Vec<(u64, u32)> = net
        .taps
        .iter()
        .filter(|(to, p)| *to == sink && p.len() == 28 && p[1] == 200 && p[4..8] == video.to_be_bytes())
        .map(|(_, p)| {
            let word = |i: usize| u32::from_be_bytes([p[i], p[i + 1], p[i + 2], p[i + 3]]);
            ((u64::from(word(8)) << 32) | u64::from(word(12)), word(16))
        })
        .collect();
    assert!(reports.len() >= 6, "reports before and after the switch: {reports:?}");
    let ns = |ntp: u64| ((ntp >> 32) as i128) * 1_000_000_000 + ((((ntp & 0xffff_ffff) as i128) * 1_000_000_000) >> 32);
    let moved: Vec<i128> = reports
        .windows(2)
        .map(|w| (ns(w[1].0) - ns(w[0].0)) - i128::from(w[1].1.wrapping_sub(w[0].1) as i32) * 1_000_000_000 / 90_000)
        .collect();
    assert!(moved.iter().all(|m| m.abs() < 2_000_000), "the wallclock behind the tap's RTP time moved (ns): {moved:?}");
}
