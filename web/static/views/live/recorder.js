/**
 * The phone's own recording of a live session (PRODUCT.md, the
 * live-to-offline fallback): while the phone publishes, MediaRecorder
 * records the same camera and microphone, so what a broken-up call did not
 * carry can still reach the case afterwards.
 *
 * A recording is a list of parts, one per recorder run, each a complete
 * file uploaded on its own. A new part starts after a camera switch and
 * after the camera was lost and opened again: MediaRecorder stops (or
 * fails) when the tracks of its stream change or end, and the parts of two
 * recorder runs cannot simply be joined (each WebM has its own header and
 * timestamps). Reconnects of the call do not touch the tracks, so a part
 * runs across them. The recorder gets a MediaStream of its own, not the
 * camera's, whose tracks camera.js swaps.
 *
 * Every slice (SLICE_MS) is kept in memory and also written to IndexedDB
 * (recstore.js), so a reload or a crashed tab loses at most the last one.
 * If IndexedDB fails the recording goes on in memory only.
 *
 * Guided filming's marks made while a part records are kept with it as
 * {item, ms} (ms from the part's start) and sent with its upload, so the
 * continuous take (一镜到底) gets them as annotations at their offsets.
 */
import { purgeRecordings, recordingStore } from './recstore.js';

// In order of preference; MediaRecorder.isTypeSupported decides. Safari records only MP4.
const TYPES = ['video/webm;codecs=vp8,opus', 'video/webm', 'video/mp4'];
// Modest: about 12 MB a minute, which a phone stores and later uploads
// without trouble, and still enough to read a label at 720p.
const VIDEO_BPS = 1500000;
const AUDIO_BPS = 64000;
const SLICE_MS = 1000;
// A recorder that never says it stopped (a browser bug) is given up after this.
const STOP_MS = 3000;
// The server takes a phone's recording until 7 days after the session ended;
// after that a stored one is of no use and is deleted.
const KEEP_MS = 8 * 24 * 3600 * 1000;

/** recorderType is the container and codecs this browser records, or '' if it cannot record. */
export function recorderType() {
  if (typeof MediaRecorder === 'undefined') return '';
  return TYPES.find((type) => {
    try { return MediaRecorder.isTypeSupported(type); } catch { return false; }
  }) || '';
}

/** baseType drops a MIME type's parameters: "video/webm;codecs=vp8,opus" → "video/webm". */
export function baseType(type) {
  return String(type || '').split(';')[0].trim().toLowerCase() || 'video/webm';
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * localRecording records and keeps the parts of session lid's recording.
 * onChange runs whenever something shown may have changed (a slice
 * arrived, a part started or ended, storage failed). Returns {supported,
 * load, start, stop, recording, recordingSize, pending, blob, forget,
 * persisting}. A part is {id, type, startedAt, size, earlier}: id is its
 * start in ms, unique per session; earlier says it was found in storage
 * from an earlier visit rather than recorded by this page.
 */
export function localRecording(lid, { onChange = () => {} } = {}) {
  const type = recorderType();
  const store = recordingStore(lid);
  const parts = new Map(); // id → part, with chunks (the Blobs) when recorded by this page
  let current = null; // {part, recorder, stopped}
  let persisting = true;
  let writes = Promise.resolve(); // slices are written one after another
  let lastId = 0;

  function persist(part, seq, blob) {
    writes = writes.then(async () => {
      if (!persisting || !parts.has(part.id)) return;
      try {
        const data = await blob.arrayBuffer();
        part.stored += data.byteLength;
        await store.saveChunk(part, seq, data);
      } catch {
        persisting = false; // full, refused or gone: memory only from here on
        onChange();
      }
    });
  }

  /** load adds the parts an earlier visit left in storage (and clears out old ones of any session). */
  async function load() {
    await purgeRecordings(KEEP_MS);
    for (const p of await store.list()) {
      if (!parts.has(p.id)) parts.set(p.id, { ...p, stored: p.size, chunks: null, earlier: true });
      lastId = Math.max(lastId, p.id);
    }
    onChange();
  }

  /**
   * start begins a new part from these tracks (the current camera and
   * microphone); it resolves false when this browser cannot record them.
   */
  async function start(tracks) {
    if (!type) return false;
    if (current) await stop();
    const live = tracks.filter((track) => track && track.readyState === 'live');
    if (!live.some((track) => track.kind === 'video')) return false;
    const id = Math.max(Date.now(), lastId + 1);
    const part = { id, type, startedAt: Date.now(), size: 0, stored: 0, chunks: [], earlier: false, shots: [] };
    let seq = 0;
    let recorder;
    try {
      recorder = new MediaRecorder(new MediaStream(live), { mimeType: type, videoBitsPerSecond: VIDEO_BPS, audioBitsPerSecond: AUDIO_BPS });
    } catch {
      return false;
    }
    recorder.ondataavailable = (e) => {
      if (!e.data || !e.data.size || !parts.has(part.id)) return;
      part.chunks.push(e.data);
      part.size += e.data.size;
      persist(part, seq++, e.data);
      onChange();
    };
    const run = { part, recorder };
    run.stopped = new Promise((resolve) => {
      recorder.onstop = resolve;
      // An error ends the recording; the spec follows it with a last slice and stop.
      recorder.onerror = () => setTimeout(resolve, STOP_MS);
    }).then(() => {
      if (current === run) current = null;
      onChange();
    });
    try {
      recorder.start(SLICE_MS);
    } catch {
      return false;
    }
    part.type = recorder.mimeType || type;
    lastId = id;
    parts.set(id, part);
    current = run;
    onChange();
    return true;
  }

  /** stop ends the current part and resolves once its last slice is kept (and stored, if it can be). */
  async function stop() {
    const run = current;
    if (run) {
      if (run.recorder.state !== 'inactive') {
        try { run.recorder.stop(); } catch { /* already stopping */ }
      }
      await Promise.race([run.stopped, wait(STOP_MS)]);
      if (current === run) current = null;
    }
    await writes;
    onChange();
  }

  return {
    supported: Boolean(type),
    load,
    start,
    stop,
    recording: () => Boolean(current),
    /** recordingSize is how many bytes the running part holds so far. */
    recordingSize: () => current?.part.size || 0,
    /** pending lists the parts not yet uploaded, oldest first, without the one still recording. */
    pending: () => [...parts.values()].filter((p) => p !== current?.part && p.size > 0).sort((a, b) => a.id - b.id),
    /** blob is the part's file: from memory, or read back from storage (null if that fails). */
    async blob(part) {
      if (part.chunks) return new Blob(part.chunks, { type: part.type });
      return store.blob(part.id, part.type);
    },
    /** forget drops an uploaded part from memory and storage. */
    async forget(part) {
      parts.delete(part.id);
      await store.drop(part.id);
      onChange();
    },
    /**
     * mark keeps a shot mark "this is item" at the running part's current
     * position; it returns that position in ms, or null when nothing records.
     */
    mark(item) {
      if (!current) return null;
      const ms = Math.max(0, Date.now() - current.part.startedAt);
      current.part.shots.push({ item, ms });
      onChange();
      return ms;
    },
    /** persisting is false once storage failed: then only this page holds the recording. */
    persisting: () => persisting,
  };
}
