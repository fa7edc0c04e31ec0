/**
 * Where the phone keeps its own recording of a live session until it has
 * been uploaded: IndexedDB database "siteinspect-live", so a reload or a
 * crashed tab does not lose what was filmed. Two object stores with fixed
 * names rather than one store per session: creating a store needs a
 * version change, which another open tab blocks, and a version per session
 * would grow without end. Each session's records sit in its own key range
 * instead, keyed by the session id first:
 *
 *   parts  [lid, part]       {lid, id, type, startedAt, size, shots}   one per recorder run
 *   chunks [lid, part, seq]  {lid, part, seq, data}             the recorder's slices
 *
 * data is an ArrayBuffer (every browser stores those; some older Safaris
 * refused Blobs). Every function here resolves rather than throws when
 * IndexedDB is missing, refused (private mode) or full: the caller goes on
 * with what it holds in memory.
 */

const DB_NAME = 'siteinspect-live';
const DB_VERSION = 1;
// Some Safari versions never answer indexedDB.open: give up on it instead of waiting forever.
const OPEN_TIMEOUT_MS = 3000;
// A recording is built back into a Blob this many slices at a time, so a
// long one is never held twice in memory as ArrayBuffers.
const BATCH = 64;

let opening = null;

/** openDB resolves the database, or null when IndexedDB cannot be used. */
function openDB() {
  if (opening) return opening;
  opening = new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), OPEN_TIMEOUT_MS);
    const done = (db) => { clearTimeout(timer); resolve(db); };
    let req;
    try {
      req = indexedDB.open(DB_NAME, DB_VERSION);
    } catch {
      done(null);
      return;
    }
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains('parts')) db.createObjectStore('parts', { keyPath: ['lid', 'id'] });
      if (!db.objectStoreNames.contains('chunks')) db.createObjectStore('chunks', { keyPath: ['lid', 'part', 'seq'] });
    };
    req.onsuccess = () => {
      const db = req.result;
      // A newer version of this page wants to upgrade: let it, and open again next time.
      db.onversionchange = () => { db.close(); opening = null; };
      done(db);
    };
    req.onerror = () => done(null);
  });
  return opening;
}

/** finished resolves when a transaction commits and rejects when it fails (a full disk, for one). */
function finished(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error || new Error('IndexedDB transaction failed'));
    tx.onabort = () => reject(tx.error || new Error('IndexedDB transaction aborted'));
  });
}

function result(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

// Arrays sort after numbers and strings in IndexedDB keys, so [x, []] closes every key that starts with x.
const sessionRange = (lid) => IDBKeyRange.bound([lid], [lid, []]);
const partRange = (lid, part) => IDBKeyRange.bound([lid, part], [lid, part, []]);

/**
 * recordingStore keeps the parts of one session's recording. Returns
 * {saveChunk, list, blob, drop}; saveChunk throws when the write failed
 * (the recorder then keeps to memory), the others quietly do nothing
 * without IndexedDB.
 */
export function recordingStore(lid) {
  async function write(fn) {
    const db = await openDB();
    if (!db) throw new Error('IndexedDB is not available');
    const tx = db.transaction(['parts', 'chunks'], 'readwrite');
    fn(tx);
    await finished(tx);
  }

  return {
    /**
     * saveChunk stores one slice together with its part's record (type,
     * start, the bytes stored so far) in one transaction, so the two
     * always agree.
     */
    saveChunk(part, seq, data) {
      return write((tx) => {
        tx.objectStore('chunks').put({ lid, part: part.id, seq, data });
        tx.objectStore('parts').put({ lid, id: part.id, type: part.type, startedAt: part.startedAt, size: part.stored, shots: part.shots || [] });
      });
    },

    /** list returns the stored parts of the session that hold any bytes, oldest first. */
    async list() {
      const db = await openDB();
      if (!db) return [];
      try {
        const found = await result(db.transaction('parts').objectStore('parts').getAll(sessionRange(lid)));
        return found.filter((p) => p.size > 0).map((p) => ({ id: p.id, type: p.type, startedAt: p.startedAt, size: p.size, shots: p.shots || [] }))
          .sort((a, b) => a.id - b.id);
      } catch {
        return [];
      }
    },

    /** blob reads a part back as one Blob of the given type, or null when it cannot be read. */
    async blob(id, type) {
      const db = await openDB();
      if (!db) return null;
      try {
        const pieces = [];
        let batch = [];
        const tx = db.transaction('chunks');
        const done = finished(tx);
        const req = tx.objectStore('chunks').openCursor(partRange(lid, id));
        req.onsuccess = () => {
          const cursor = req.result;
          if (!cursor) return;
          batch.push(cursor.value.data);
          if (batch.length >= BATCH) {
            pieces.push(new Blob(batch));
            batch = [];
          }
          cursor.continue();
        };
        await done;
        if (batch.length) pieces.push(new Blob(batch));
        return new Blob(pieces, { type });
      } catch {
        return null;
      }
    },

    /** drop deletes a part; with no id, every part of the session. */
    async drop(id) {
      try {
        await write((tx) => {
          tx.objectStore('parts').delete(id == null ? sessionRange(lid) : [lid, id]);
          tx.objectStore('chunks').delete(id == null ? sessionRange(lid) : partRange(lid, id));
        });
      } catch { /* nothing stored, or nothing we can do about it */ }
    },
  };
}

/**
 * purgeRecordings deletes parts of any session started longer ago than
 * maxAgeMs: the server takes a phone's recording only until 7 days after
 * its session ended, and a link never opened again would otherwise keep
 * its recording on the phone for good.
 */
export async function purgeRecordings(maxAgeMs) {
  const db = await openDB();
  if (!db) return;
  try {
    const all = await result(db.transaction('parts').objectStore('parts').getAll());
    const old = all.filter((p) => !(Date.now() - p.startedAt < maxAgeMs));
    if (!old.length) return;
    const tx = db.transaction(['parts', 'chunks'], 'readwrite');
    for (const p of old) {
      tx.objectStore('parts').delete([p.lid, p.id]);
      tx.objectStore('chunks').delete(partRange(p.lid, p.id));
    }
    await finished(tx);
  } catch { /* tried; next visit tries again */ }
}
