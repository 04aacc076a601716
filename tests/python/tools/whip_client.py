#!/usr/bin/python3
"""A WHIP broadcaster built on GStreamer's own WebRTC stack (webrtcbin), behaving as
gst-plugins-rs' `whipsink` and OBS do: max-bundle, wait for every ICE candidate, POST one
offer with `Authorization: Bearer`, expect 201 with the answer and a `Location`, and DELETE
that location at the end. It publishes a moving test picture (VP8, or H.264 with --h264) and a
440 Hz tone (Opus); with --flash, a dark blue picture that turns white and a 1 kHz beep for the first
100 ms of every second, both driven from the pipeline's one clock (GstController), so they are
exactly in sync at the source: what an A/V sync measurement needs. Its sender reports map RTP
time to the moment of capture, not of sending, so a loaded machine's late encoder does not move
them.

Runs under Debian's /usr/bin/python3 (python3-gi, python3-gst-1.0): the tests' virtualenv has
no GObject bindings. Prints one JSON line per step on stdout.

    whip_client.py URL TOKEN SECONDS [--h264] [--flash] [--beep=HZ] [--size=WxH] [--fps=N]

--beep sets the flash's beep (default 1000 Hz); --size and --fps the picture (default 640x360 at
30 fps).
"""

import json
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstController", "1.0")
from gi.repository import GLib, Gst, GstController, GstSdp, GstWebRTC  # noqa: E402


def say(**fields):
    print(json.dumps(fields), flush=True)


def use_ecdsa_certificate(webrtc) -> str:
    """Gives webrtcbin an ECDSA certificate, as libdatachannel (OBS's WebRTC stack) and browsers
    use: GStreamer 1.22 makes an RSA one, which Huiyi's DTLS (str0m) does not accept from a
    client. Returns the offer's fingerprint line for it: webrtcbin wrote the fingerprint of its
    own certificate into the offer before the transport took this one."""
    pem = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", "-", "-out", "-", "-subj", "/CN=webrtc-http-client", "-days", "2"],
        capture_output=True, text=True, check=True,
    ).stdout

    def on_element(_bin, _sub, element):
        if element.get_factory() and element.get_factory().get_name() == "dtlssrtpdec":
            element.set_property("pem", pem)

    webrtc.connect("deep-element-added", on_element)
    fingerprint = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem,
                                 capture_output=True, text=True, check=True).stdout.strip().split("=", 1)[1]
    return f"a=fingerprint:sha-256 {fingerprint}"


def with_fingerprint(offer: str, line: str | None) -> str:
    if not line:
        return offer
    return "\r\n".join(line if l.startswith("a=fingerprint:") else l for l in offer.split("\r\n"))


def delete_session(location: str, token: str) -> int:
    req = urllib.request.Request(location, method="DELETE", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def option(name: str, default: str) -> str:
    """The value of `--name=value` on the command line, or `default`."""
    prefix = f"--{name}="
    return next((a[len(prefix):] for a in sys.argv if a.startswith(prefix)), default)


def main() -> int:
    url, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    width, height = (int(n) for n in option("size", "640x360").split("x"))
    fps = int(option("fps", "30"))
    h264 = "--h264" in sys.argv
    Gst.init(None)
    video = (
        f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bitrate=800 ! video/x-h264,profile=constrained-baseline ! rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency ! application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000"
        if h264
        else f"vp8enc deadline=1 target-bitrate=800000 keyframe-max-dist={fps} ! rtpvp8pay pt=96 ! application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000"
    )
    flash = "--flash" in sys.argv
    picture = "pattern=solid-color foreground-color=0xff283c78" if flash else "pattern=ball"
    tone = f"freq={int(option('beep', '1000'))} volume=0 samplesperbuffer=480" if flash else "freq=440 volume=0.4"
    pipeline = Gst.parse_launch(
        "webrtcbin name=w bundle-policy=max-bundle "
        f"videotestsrc name=vsrc is-live=true {picture} ! video/x-raw,width={width},height={height},framerate={fps}/1 ! videoconvert ! {video} ! w. "
        f"audiotestsrc name=asrc is-live=true wave=sine {tone} ! audioconvert ! audioresample ! opusenc ! rtpopuspay pt=111 ! application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000 ! w."
    )
    if flash:
        for name, prop, on, off in (("vsrc", "foreground-color", float(0xFFFFFFFF), float(0xFF283C78)), ("asrc", "volume", 0.5, 0.0)):
            element = pipeline.get_by_name(name)
            control = GstController.InterpolationControlSource()
            control.set_property("mode", GstController.InterpolationMode.NONE)
            element.add_control_binding(GstController.DirectControlBinding.new_absolute(element, prop, control))
            for second in range(int(seconds) + 40):
                control.set(second * Gst.SECOND, on)
                control.set(second * Gst.SECOND + 100 * Gst.MSECOND, off)
    webrtc = pipeline.get_by_name("w")
    # Sender reports from each packet's capture time (its PTS on the pipeline clock), as a
    # browser's do, rather than GStreamer's default of the moment it is sent.
    webrtc.get_by_name("rtpbin").set_property("rtcp-sync-send-time", False)
    state_fingerprint = None if "--rsa" in sys.argv else use_ecdsa_certificate(webrtc)
    def sendonly(element):
        # A broadcaster only sends: its lines are sendonly, as whipsink makes them.
        for index in range(2):
            transceiver = element.emit("get-transceiver", index)
            if transceiver is not None:
                transceiver.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)

    state = run_session(pipeline, webrtc, url, token, seconds, state_fingerprint, before_offer=sendonly)
    pipeline.set_state(Gst.State.NULL)
    return 1 if state["failed"] else 0


def run_session(pipeline, webrtc, url: str, token: str, seconds: float, fingerprint: str | None, before_offer=None) -> dict:
    """One WHIP or WHEP session, as both specs have it: gather every candidate, POST the offer
    with `Authorization: Bearer`, take the 201's answer and `Location`, run `seconds`, DELETE
    that location. Returns {"location", "failed"}; prints each step."""
    loop = GLib.MainLoop()
    state = {"location": None, "failed": False, "offered": False}

    def fail(why):
        say(step="failed", error=why)
        state["failed"] = True
        loop.quit()

    def post_offer():
        offer = with_fingerprint(webrtc.get_property("local-description").sdp.as_text(), fingerprint)
        req = urllib.request.Request(url, data=offer.encode(), method="POST",
                                     headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=15) as resp:
                status, location, answer = resp.status, resp.headers.get("Location"), resp.read().decode()
        except urllib.error.HTTPError as e:
            return fail(f"HTTP {e.code}: {e.read().decode(errors='replace')}")
        except Exception as e:  # noqa: BLE001
            return fail(str(e))
        if status not in (200, 201) or not location:
            return fail(f"answer status {status}, location {location!r}")
        state["location"] = urllib.parse.urljoin(url, location)
        say(step="answered", status=status, location=state["location"], setup=[l for l in answer.splitlines() if l.startswith("a=setup")])
        ok, sdp = GstSdp.SDPMessage.new_from_text(answer)
        if ok != GstSdp.SDPResult.OK:
            return fail("the answer does not parse")
        desc = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        webrtc.emit("set-remote-description", desc, Gst.Promise.new())
        GLib.timeout_add(int(seconds * 1000), loop.quit)
        return False

    def on_gathering(element, _pspec):
        if element.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE and state["location"] is None:
            GLib.idle_add(post_offer)

    def on_offer(promise, _data):
        reply = promise.get_reply()
        offer = reply.get_value("offer") if reply and reply.has_field("offer") else None
        if offer is None:
            return fail(f"no offer: {reply.to_string() if reply else 'no reply'}")
        webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def on_negotiation_needed(element):
        # Once: each transceiver announces negotiation, and a second offer would race the first.
        if state["offered"]:
            return
        state["offered"] = True
        if before_offer:
            before_offer(element)
        element.emit("create-offer", None, Gst.Promise.new_with_change_func(on_offer, None))

    def on_state(element, _pspec):
        say(step="ice", state=element.get_property("ice-connection-state").value_nick)

    webrtc.connect("on-negotiation-needed", on_negotiation_needed)
    webrtc.connect("notify::ice-gathering-state", on_gathering)
    webrtc.connect("notify::ice-connection-state", on_state)
    bus = pipeline.get_bus()
    bus.add_signal_watch()
    bus.connect("message::error", lambda _b, m: fail(str(m.parse_error()[0])))
    pipeline.set_state(Gst.State.PLAYING)
    GLib.timeout_add(30_000 + int(seconds * 1000), lambda: fail("timed out") or False)
    loop.run()
    if state["location"]:
        say(step="deleted", status=delete_session(state["location"], token))
    return state


if __name__ == "__main__":
    sys.exit(main())
