/**
 * What the browser remembers about unfinished uploads: the tus URL per
 * "file for a case", in localStorage, so that after a reload (or a crashed
 * browser on a phone) choosing the same file again continues where it
 * stopped instead of sending gigabytes twice.
 */

const STORE_PREFIX = 'siteinspect.tus.';
// Entries older than this are ignored: the server will have expired the upload.
const STORE_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

/** fingerprint identifies "this file for this case" across page reloads. */
export function fingerprint(caseId, file) {
  return `${caseId}/${file.name}/${file.size}/${file.lastModified}`;
}

/** storedUploads lists unfinished uploads remembered for a case (for a "choose again" hint). */
export function storedUploads(caseId) {
  const found = [];
  try {
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i);
      if (!key || !key.startsWith(STORE_PREFIX)) continue;
      const entry = JSON.parse(localStorage.getItem(key) || 'null');
      if (!entry || Date.now() - entry.savedAt > STORE_MAX_AGE_MS) continue;
      if (entry.caseId === caseId) found.push({ key: key.slice(STORE_PREFIX.length), ...entry });
    }
  } catch { /* storage unavailable or corrupt: nothing to offer */ }
  return found;
}

/** forgetStored drops a remembered upload. */
export function forgetStored(fp) {
  try { localStorage.removeItem(STORE_PREFIX + fp); } catch { /* nothing to forget */ }
}

/** remember keeps an upload's URL so a reload can continue it. */
export function remember(fp, entry) {
  try { localStorage.setItem(STORE_PREFIX + fp, JSON.stringify({ ...entry, savedAt: Date.now() })); } catch { /* resume after reload lost, upload still works */ }
}

/** recall returns what remember kept, or null. */
export function recall(fp) {
  try { return JSON.parse(localStorage.getItem(STORE_PREFIX + fp) || 'null'); } catch { return null; }
}
