#!/usr/bin/python3
"""A WHEP viewer built on GStreamer's own WebRTC stack (webrtcbin), behaving as gst-plugins-rs'
`whepsrc` and browser WHEP players do: a receive-only offer (one video line, one audio line,
every ICE candidate gathered first) POSTed with `Authorization: Bearer`, 201 with the answer
and a `Location`, the media decoded, and DELETE of that location at the end.

Runs under Debian's /usr/bin/python3 (python3-gi, python3-gst-1.0). Prints one JSON line per
step on stdout; the last, `played`, says what was decoded:
`{"step": "played", "frames": N, "width": W, "height": H, "audio_rms": R}`.

    whep_client.py URL TOKEN SECONDS
"""

import math
import struct
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import Gst, GstWebRTC  # noqa: E402

from whip_client import run_session, say, use_ecdsa_certificate  # noqa: E402


def main() -> int:
    url, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    Gst.init(None)
    pipeline = Gst.Pipeline.new("whep")
    webrtc = Gst.ElementFactory.make("webrtcbin", "w")
    webrtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
    pipeline.add(webrtc)
    fingerprint = use_ecdsa_certificate(webrtc)
    for caps in (
        "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2",
    ):
        webrtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, Gst.Caps.from_string(caps))

    state = {"frames": 0, "width": 0, "height": 0, "sum_squares": 0.0, "samples": 0}

    def count_frame(pad, info):
        state["frames"] += 1
        caps = pad.get_current_caps()
        if caps:
            s = caps.get_structure(0)
            state["width"], state["height"] = s.get_value("width"), s.get_value("height")
        return Gst.PadProbeReturn.OK

    def measure_sound(_pad, info):
        buf = info.get_buffer()
        ok, mapped = buf.map(Gst.MapFlags.READ)
        if ok:
            data = bytes(mapped.data)
            buf.unmap(mapped)
            n = len(data) // 2
            if n:
                samples = struct.unpack(f"<{n}h", data[: n * 2])
                state["sum_squares"] += sum(x * x for x in samples)
                state["samples"] += n
        return Gst.PadProbeReturn.OK

    def on_decoded(_decodebin, pad):
        name = pad.get_current_caps().get_structure(0).get_name()
        if name.startswith("video/"):
            chain = ["videoconvert", "fakesink"]
            probe = count_frame
        elif name.startswith("audio/"):
            chain = ["audioconvert", "capsfilter", "fakesink"]
            probe = measure_sound
        else:
            return
        elements = [Gst.ElementFactory.make(f) for f in chain]
        if name.startswith("audio/"):
            elements[1].set_property("caps", Gst.Caps.from_string("audio/x-raw,format=S16LE,channels=1"))
        for e in elements:
            pipeline.add(e)
            e.sync_state_with_parent()
        pad.link(elements[0].get_static_pad("sink"))
        for a, b in zip(elements, elements[1:]):
            a.link(b)
        elements[-1].get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)

    def on_incoming(_webrtc, pad):
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        decodebin = Gst.ElementFactory.make("decodebin")
        decodebin.connect("pad-added", on_decoded)
        pipeline.add(decodebin)
        decodebin.sync_state_with_parent()
        pad.link(decodebin.get_static_pad("sink"))

    webrtc.connect("pad-added", on_incoming)
    session = run_session(pipeline, webrtc, url, token, seconds, fingerprint)
    rms = math.sqrt(state["sum_squares"] / state["samples"]) if state["samples"] else 0.0
    say(step="played", frames=state["frames"], width=state["width"], height=state["height"], audio_rms=round(rms, 1))
    pipeline.set_state(Gst.State.NULL)
    return 1 if session["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
