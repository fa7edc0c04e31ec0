/**
 * The browser end of WHIP (RFC 9725) and WHEP: one RTCPeerConnection per
 * attempt, a non-trickle offer (the candidates gathered into it, waiting at
 * most GATHER_MS), POSTed as application/sdp; the answer is applied and the
 * resource URL from Location kept for the DELETE that ends it (§4.2). The
 * server does no ICE restarts (a restart PATCH answers 422), so a
 * connection that fails, or stays disconnected for LOSS_MS, is replaced by
 * a fresh POST, which §4.3 allows; for WHIP the server takes it as the same
 * publisher coming back and the recording goes on as its next segment.
 */
import { ApiError, errorFromResponse } from '../../api.js';
import { t } from '../../i18n.js';

const GATHER_MS = 2000;
const LOSS_MS = 3000;
const CONNECT_MS = 15000; // an answered offer that has not connected by then is given up
const WAIT_MS = 2000; // WHEP answers 409 until someone has published
const MAX_BACKOFF_MS = 10000;

/** iceServersOf turns the session's ice_servers into RTCIceServer dictionaries. */
export function iceServersOf(list) {
  return (Array.isArray(list) ? list : []).filter((s) => s && s.urls).map((s) => {
    const server = { urls: s.urls };
    if (s.username) server.username = s.username;
    if (s.credential) server.credential = s.credential;
    return server;
  });
}

/** gathered resolves when ICE gathering is complete, or after GATHER_MS with what it has. */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    let timer = 0;
    const check = () => { if (pc.iceGatheringState === 'complete') done(); };
    function done() {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    }
    timer = setTimeout(done, GATHER_MS);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/** postOffer sends the offer and returns the answer and the absolute resource URL. */
async function postOffer(url, sdp, headers, credentials) {
  let res;
  try {
    res = await fetch(url, {
      method: 'POST', body: sdp, credentials,
      headers: { 'Content-Type': 'application/sdp', Accept: 'application/sdp', ...headers },
    });
  } catch {
    throw new ApiError(0, 'network', t('error.network'));
  }
  if (res.status !== 201) throw await errorFromResponse(res);
  const location = res.headers.get('Location');
  const answer = await res.text();
  if (!location || !answer) throw new ApiError(res.status, 'bad_answer', t('live.badAnswer'));
  return { answer, resource: new URL(location, new URL(url, window.location.href)).href };
}

/** retryable says whether a failed POST may work if sent again later. */
function retryable(err) {
  return err instanceof ApiError && (err.status === 0 || err.status === 408 || err.status === 429 || err.status >= 500);
}

/**
 * rtcLink keeps one WHIP or WHEP resource connected until stop().
 * setup(pc) adds the transceivers for each new connection; headers(method)
 * gives the credentials of a request. onState(state, err) hears
 * 'connecting', 'waiting' (WHEP: nobody has published yet), 'live',
 * 'reconnecting', and 'stopped' (by stop(), or for good with err).
 * releaseStale DELETEs the resource a reconnect replaces (WHEP: the
 * server would otherwise keep forwarding to it until ICE times out; WHIP
 * needs no such thing, the new POST replaces the publisher).
 * Returns {start, stop, state(), resource(), pc()}.
 */
export function rtcLink({ url, iceServers, headers, credentials = 'same-origin', setup, onState, onResource = () => {}, releaseStale = false }) {
  let pc = null;
  let resource = '';
  let state = 'idle';
  let gen = 0; // bumped per attempt, so a late answer to an old one is dropped
  let timer = 0; // the next attempt
  let lossTimer = 0;
  let failures = 0;

  const set = (next, err) => {
    if (next === state && !err) return;
    state = next;
    onState(next, err);
  };

  const release = (target, keepalive = false) => fetch(target, {
    method: 'DELETE', headers: headers('DELETE'), credentials, keepalive,
  }).catch(() => {});

  function closePC() {
    clearTimeout(lossTimer);
    lossTimer = 0;
    if (!pc) return;
    pc.onconnectionstatechange = null;
    pc.ontrack = null;
    pc.close();
    pc = null;
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(attempt, ms);
  }

  /** lost gives up on the current connection and tries a new POST, backing off when they keep failing. */
  function lost(mine) {
    if (mine !== gen) return;
    closePC();
    failures++;
    set('reconnecting');
    schedule(failures <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 2)));
  }

  function watch(p, mine) {
    if (mine !== gen) return;
    const s = p.connectionState;
    if (s === 'connected') {
      clearTimeout(lossTimer);
      lossTimer = 0;
      failures = 0;
      set('live');
    } else if (s === 'failed') {
      lost(mine);
    } else if (s === 'disconnected') {
      set('reconnecting');
      clearTimeout(lossTimer);
      lossTimer = setTimeout(() => lost(mine), LOSS_MS);
    }
  }

  async function attempt() {
    const mine = ++gen;
    timer = 0;
    closePC();
    if (resource && releaseStale) release(resource);
    resource = '';
    if (state === 'idle' || state === 'stopped') set('connecting');
    const p = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle' });
    pc = p;
    p.onconnectionstatechange = () => watch(p, mine);
    try {
      setup(p);
      await p.setLocalDescription(await p.createOffer());
      await gathered(p);
      if (mine !== gen) return;
      const res = await postOffer(url, p.localDescription.sdp, headers('POST'), credentials);
      if (mine !== gen) {
        release(res.resource);
        return;
      }
      resource = res.resource;
      onResource(resource);
      await p.setRemoteDescription({ type: 'answer', sdp: res.answer });
      if (p.connectionState !== 'connected') lossTimer = setTimeout(() => lost(mine), CONNECT_MS);
      watch(p, mine);
    } catch (err) {
      if (mine !== gen) return;
      closePC();
      if (err instanceof ApiError && err.status === 409) {
        set('waiting');
        schedule(WAIT_MS);
      } else if (retryable(err)) {
        failures++;
        set('reconnecting', err);
        schedule(Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(failures - 1, 4)));
      } else {
        gen++;
        set('stopped', err);
      }
    }
  }

  // Back on the network: try now instead of at the end of a backoff.
  const online = () => { if (state === 'reconnecting' || state === 'waiting') schedule(0); };

  return {
    /** start connects (a no-op while connected or trying). */
    start() {
      if (state !== 'idle' && state !== 'stopped') return;
      failures = 0;
      window.addEventListener('online', online);
      attempt();
    },
    /**
     * stop ends the resource (DELETE, then close); keepalive lets the DELETE
     * outlive the page. release false only closes: when the session has
     * ended the server has already closed the resource.
     */
    async stop({ keepalive = false, release: del = true } = {}) {
      gen++;
      clearTimeout(timer);
      timer = 0;
      window.removeEventListener('online', online);
      closePC();
      const target = resource;
      resource = '';
      if (state !== 'idle') set('stopped');
      if (target && del) await release(target, keepalive);
    },
    state: () => state,
    resource: () => resource,
    /** pc is the current RTCPeerConnection (null between attempts), for its statistics. */
    pc: () => pc,
  };
}

// The most the phone's video may use: 720p of a site, detailed enough to
// read a label, at about what a phone on 4G sustains upwards.
const MAX_VIDEO_BITRATE = 2_500_000;

/**
 * keepResolution asks the video sender to hold its resolution and give up
 * frame rate first when the link is short ('maintain-resolution'), up to
 * MAX_VIDEO_BITRATE: a sharp picture at fewer frames reads a licence or a
 * label, a fluid 320×180 does not. Browsers without the setting keep their
 * default. Call it right after adding the track, before the offer.
 */
export async function keepResolution(sender) {
  try {
    const params = sender.getParameters();
    const encodings = params.encodings?.length ? params.encodings : [{}];
    await sender.setParameters({
      ...params,
      degradationPreference: 'maintain-resolution',
      encodings: encodings.map((e) => ({ ...e, maxBitrate: MAX_VIDEO_BITRATE })),
    });
  } catch {
    // An older browser refuses the preference: it sends as it would anyway.
  }
}

/**
 * inboundVideoSize reads the received video's frame size from a
 * connection's statistics (inbound-rtp frameWidth/frameHeight), or null.
 */
export async function inboundVideoSize(pc) {
  if (!pc) return null;
  for (const s of (await pc.getStats()).values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && s.frameWidth) return { width: s.frameWidth, height: s.frameHeight };
  }
  return null;
}

/** resourceId is the last path segment of a resource URL (the WHEP viewer id). */
export function resourceId(url) {
  if (!url) return '';
  const parts = new URL(url).pathname.split('/').filter(Boolean);
  return decodeURIComponent(parts[parts.length - 1] || '');
}
