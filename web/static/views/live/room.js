/**
 * The room of a live session: GET /api/v1/live/{lid}/ws, one JSON object
 * per text message. Officers are known by their session cookie; the phone
 * adds ?token=<publish_token>. A dropped connection is opened again with a
 * growing, jittered delay (a server restart should not get every phone back
 * in the same second); the delay resets once the server has said hello.
 * After an "ended" message nothing is reopened.
 */
import { enc } from '../../api.js';

const PING_MS = 25000; // under the idle timeout of common proxies
const MAX_BACKOFF_MS = 15000;

/** roomURL is the WebSocket address of a session's room on this origin. */
function roomURL(lid, token) {
  const u = new URL(`/api/v1/live/${enc(lid)}/ws`, window.location.href);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  if (token) u.searchParams.set('token', token);
  return u.href;
}

/**
 * liveRoom connects and keeps connecting until close(). onMessage(msg) gets
 * every server message; onStatus('connecting' | 'open' | 'reconnecting' |
 * 'closed', failures) follows the connection: a refused handshake (a
 * session that ended, a token that expired) looks like any dropped
 * connection to a browser, so after a few failures the page asks the API
 * why. send(msg) returns false when the room is not connected, so the
 * caller can say so instead of losing the message.
 */
export function liveRoom(lid, { token = '', onMessage, onStatus = () => {} }) {
  let ws = null;
  let closed = false;
  let failures = 0;
  let timer = 0;
  let ping = 0;

  function open() {
    timer = 0;
    onStatus(failures ? 'reconnecting' : 'connecting');
    const sock = new WebSocket(roomURL(lid, token));
    ws = sock;
    sock.onopen = () => {
      if (ws !== sock) return;
      onStatus('open');
      ping = setInterval(() => send({ type: 'ping' }), PING_MS);
    };
    sock.onmessage = (e) => {
      if (ws !== sock || typeof e.data !== 'string') return;
      let msg;
      try { msg = JSON.parse(e.data); } catch { return; }
      if (!msg || typeof msg.type !== 'string') return;
      if (msg.type === 'hello') failures = 0;
      if (msg.type === 'ended') closed = true;
      onMessage(msg);
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      clearInterval(ping);
      ws = null;
      if (closed) {
        onStatus('closed');
        return;
      }
      failures++;
      onStatus('reconnecting', failures);
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(failures, 5)) * (0.75 + Math.random() / 2);
      timer = setTimeout(open, delay);
    };
  }

  function send(msg) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  // Back on the network: do not sit out the rest of a long backoff.
  const online = () => {
    if (closed || ws || !timer) return;
    clearTimeout(timer);
    open();
  };
  window.addEventListener('online', online);
  open();

  return {
    send,
    isOpen: () => Boolean(ws && ws.readyState === WebSocket.OPEN),
    close() {
      closed = true;
      clearTimeout(timer);
      clearInterval(ping);
      window.removeEventListener('online', online);
      const sock = ws;
      ws = null;
      if (sock) {
        sock.onclose = null;
        sock.close(1000);
      }
      onStatus('closed');
    },
  };
}
