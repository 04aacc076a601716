// Participants without a browser or media: a LiveKit signalling connection (/rtc) held open
// with LiveKit's pings, which is all the server needs to count someone as in the room. For
// tests of the token-authenticated features beside the call (chat history, notes).

import WebSocket from 'ws';

/**
 * Joins the room of `token` and waits for the server's first answer (the JoinResponse, or the
 * waiting room's). `leave()` leaves as a client does, so the server holds no session for a
 * resume.
 * @returns {Promise<{ ws: WebSocket, leave: () => void }>}
 */
export async function enterRoom(baseUrl, token) {
  const url = `${baseUrl.replace(/^http/, 'ws')}/rtc?access_token=${encodeURIComponent(token)}&protocol=15&auto_subscribe=0`;
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once('message', resolve);
    ws.once('error', reject);
    ws.once('close', (code, reason) => reject(new Error(`/rtc closed before answering: ${code} ${reason}`)));
  });
  // LiveKit's ping (SignalRequest field 14, an int64), by hand: a tag byte and a varint.
  const ping = () => {
    const bytes = [0x70];
    let v = BigInt(Date.now());
    do {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      bytes.push(v ? b | 0x80 : b);
    } while (v);
    if (ws.readyState === WebSocket.OPEN) ws.send(Uint8Array.from(bytes));
  };
  const timer = setInterval(ping, 2000);
  ws.on('close', () => clearInterval(timer));
  ws.on('error', () => {});
  const leave = () => {
    clearInterval(timer);
    // An empty LeaveRequest (SignalRequest field 8).
    if (ws.readyState === WebSocket.OPEN) ws.send(Uint8Array.from([0x42, 0x00]));
    ws.close();
  };
  return { ws, leave };
}
