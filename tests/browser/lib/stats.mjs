// Reads WebRTC receive statistics for one remote track, from inside the page, through the
// web app's test hook `window.__huiyi.room`. Stats prove that media was decoded, which a
// visible <video> element alone does not.

import { poll } from './wait.mjs';

/**
 * The inbound-rtp stats of `identity`'s track from `source` ('camera', 'microphone',
 * 'screen_share', 'screen_share_audio'), or `{ missing: why }` while there are none yet.
 */
export function inboundStats(page, identity, source) {
  return page.evaluate(
    async ({ identity, source }) => {
      const room = window.__huiyi?.room;
      const p = room?.remoteParticipants.get(identity);
      if (!p) return { missing: `no remote participant ${identity}` };
      const pub = p.getTrackPublication(source);
      if (!pub) {
        const sources = [...p.trackPublications.values()].map((x) => x.source);
        return { missing: `no ${source} publication (has: ${sources.join(', ') || 'none'})` };
      }
      const receiver = pub.track?.receiver;
      if (!receiver) return { missing: `${source} not subscribed (status: ${pub.subscriptionStatus})` };
      const report = await receiver.getStats();
      for (const s of report.values()) {
        if (s.type !== 'inbound-rtp') continue;
        return {
          mimeType: report.get(s.codecId)?.mimeType,
          kind: s.kind,
          packetsReceived: s.packetsReceived,
          framesDecoded: s.framesDecoded,
          frameWidth: s.frameWidth,
          totalAudioEnergy: s.totalAudioEnergy,
        };
      }
      return { missing: `${source} has no inbound-rtp stats yet` };
    },
    { identity, source },
  );
}

/** Waits until `page` has decoded video frames from `identity`'s `source` track. */
export function waitForDecodedVideo(page, identity, source = 'camera', timeout = 20_000) {
  return poll(
    `decoded ${source} video from ${identity}`,
    () => inboundStats(page, identity, source),
    (s) => s.framesDecoded > 0,
    { timeout },
  );
}

/** Waits until `page` has played audio with non-zero energy from `identity`'s `source` track. */
export function waitForAudibleAudio(page, identity, source = 'microphone', timeout = 20_000) {
  return poll(
    `audible ${source} audio from ${identity}`,
    () => inboundStats(page, identity, source),
    (s) => s.totalAudioEnergy > 0,
    { timeout },
  );
}
