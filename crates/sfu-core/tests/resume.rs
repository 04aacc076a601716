//! A resume after a real outage, in virtual time. A client's subscriber connection hears
//! nothing for 30 s, long enough for ICE to give up on both sides; its signalling socket is
//! gone too. The resume must then restart ICE on that connection with new credentials (an
//! offer the client answers), and the client's checks with those credentials must reach the
//! same peer, so that it connects again. The browser test `tests/browser/reconnect.test.mjs`
//! shows the same with Chromium over a real network namespace.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use huiyi_proto::lk::{self, signal_request::Message as Req, signal_response::Message as Resp};
use huiyi_sfu_core::{Engine, EngineConfig, JoinParams, MuteOnEntry, Output, ParticipantIdentity, Protocol, RoomName, SessionKey};
use str0m::change::SdpOffer;
use str0m::net::Receive;
use str0m::{Candidate, Event, IceConnectionState, Input, Output as RtcOutput, Rtc};

const SERVER: &str = "10.0.0.100:7882";
const CLIENT: &str = "10.0.0.1:1000";

/// The engine and one client's subscriber connection, on a network that may drop everything.
struct Net {
    now: Instant,
    engine: Engine,
    client: Rtc,
    key: SessionKey,
    /// Subscriber offers from the engine, as SDP.
    offers: Vec<String>,
    /// The client's ICE states, in order.
    ice: Vec<IceConnectionState>,
    connected: bool,
}

impl Net {
    /// Moves every packet in flight, or drops them all when `up` is false.
    fn exchange(&mut self, up: bool) {
        let (server, client): (SocketAddr, SocketAddr) = (SERVER.parse().unwrap(), CLIENT.parse().unwrap());
        for _ in 0..16 {
            let mut to_engine = Vec::new();
            let mut to_client = Vec::new();
            while let Ok(out) = self.client.poll_output() {
                match out {
                    RtcOutput::Timeout(_) => break,
                    RtcOutput::Transmit(t) => to_engine.push(t.contents.to_vec()),
                    RtcOutput::Event(Event::Connected) => self.connected = true,
                    RtcOutput::Event(Event::IceConnectionStateChange(s)) => self.ice.push(s),
                    RtcOutput::Event(_) => {}
                }
            }
            loop {
                match self.engine.poll_output() {
                    Output::Timeout(_) => break,
                    Output::Transmit(t) => to_client.push(t.contents.to_vec()),
                    Output::Signal(k, Resp::Offer(o)) if k == self.key => self.offers.push(o.sdp),
                    _ => {}
                }
            }
            if !up || (to_engine.is_empty() && to_client.is_empty()) {
                return;
            }
            for data in to_engine {
                self.engine.handle_datagram(self.now, Protocol::Udp, client, server, &data);
            }
            for data in to_client {
                let input = Input::Receive(self.now, Receive { proto: Protocol::Udp, source: server, destination: client, contents: data.as_slice().try_into().unwrap() });
                self.client.handle_input(input).unwrap();
            }
        }
    }

    /// Advances virtual time by `d` in 10 ms steps, with the network `up` or not.
    fn run_for(&mut self, d: Duration, up: bool) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(10);
            self.client.handle_input(Input::Timeout(self.now)).unwrap();
            self.engine.handle_timeout(self.now);
            self.exchange(up);
        }
    }

    /// Answers the engine's newest subscriber offer.
    fn answer(&mut self) {
        let sdp = self.offers.last().expect("a subscriber offer").clone();
        let answer = self.client.sdp_api().accept_offer(SdpOffer::from_sdp_string(&sdp).unwrap()).unwrap();
        let answer = lk::SessionDescription { r#type: "answer".into(), sdp: answer.to_sdp_string(), ..Default::default() };
        self.engine.handle_signal(self.now, self.key, Req::Answer(answer)).unwrap();
        self.exchange(true);
    }
}

fn ufrag(sdp: &str) -> &str {
    sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).expect("an ice-ufrag").trim()
}

#[test]
fn a_resume_after_an_outage_restarts_ice_on_the_subscriber_connection() {
    let now = Instant::now();
    let mut engine = Engine::new(EngineConfig { udp_candidate: SERVER.parse().unwrap(), ..EngineConfig::default() }, now);
    let (room, identity) = (RoomName::parse("outage").unwrap(), ParticipantIdentity::parse("alice").unwrap());
    let params = JoinParams {
        room: room.clone(),
        identity: identity.clone(),
        name: "Alice".into(),
        metadata: String::new(),
        attributes: HashMap::new(),
        permission: lk::ParticipantPermission { can_publish: true, can_subscribe: true, can_publish_data: true, ..Default::default() },
        auto_subscribe: true,
        now_ms: 0,
        client_addr: None,
        mute_on_entry: MuteOnEntry::Never,
        chat: huiyi_sfu_core::ChatRule::Free,
        waiting: false,
        may_rename: false,
    };
    let (key, joined) = engine.join(now, params).unwrap();
    let sid = joined.participant.unwrap().sid;
    let mut client = Rtc::new(now);
    client.add_local_candidate(Candidate::host(CLIENT.parse().unwrap(), "udp").unwrap());
    let mut net = Net { now, engine, client, key, offers: Vec::new(), ice: Vec::new(), connected: false };
    net.exchange(true);
    net.answer();
    net.run_for(Duration::from_secs(2), true);
    assert!(net.connected, "the subscriber connection is up before the outage");
    let first_ufrag = ufrag(&net.offers[0]).to_owned();

    // Nothing gets through for 30 s: ICE gives up on both sides, and the socket is gone.
    net.run_for(Duration::from_secs(30), false);
    assert_eq!(net.ice.last(), Some(&IceConnectionState::Disconnected), "the client's ICE gave up: {:?}", net.ice);
    net.engine.handle_socket_closed(net.now, key);

    // The client resumes: the engine offers an ICE restart on the subscriber connection.
    let offers_before = net.offers.len();
    let (resumed, _) = net.engine.resume(net.now, &room, &sid, &identity).expect("the session is still held");
    assert_eq!(resumed, key);
    net.exchange(true);
    assert_eq!(net.offers.len(), offers_before + 1, "a resume re-offers the subscriber connection");
    assert_ne!(ufrag(net.offers.last().unwrap()), first_ufrag, "with new ICE credentials: an ICE restart");

    // The client answers; its checks with the new credentials reach the same peer.
    net.ice.clear();
    net.answer();
    net.run_for(Duration::from_secs(3), true);
    assert!(net.ice.iter().any(IceConnectionState::is_connected), "ICE connects again after the restart: {:?}", net.ice);
}
