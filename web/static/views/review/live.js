/**
 * Live updates of an open case: the server's Server-Sent Events stream (one
 * event per audit entry, named by its action, id = audit seq). The browser
 * reconnects by itself with Last-Event-ID, so nothing is missed after a
 * dropped connection. It starts after the events the page has already
 * read (the case's X-Events-After), so opening a case reloads nothing.
 * Events arriving together are gathered for a moment and reported once as
 * the set of parts to refresh, so a burst costs one reload per part.
 */
import { enc } from '../../api.js';

const GATHER_MS = 120;

// Which part of the page each action changes. evidence.read (an officer
// opened a file) changes nothing on screen.
const PARTS = {
  'annotation.created': ['annotations'],
  'annotation.edited': ['annotations'],
  'annotation.deleted': ['annotations'],
  'annotation.replied': ['annotations'],
  'annotation.resolved': ['annotations'],
  'annotation.reopened': ['annotations'],
  'finding.recorded': ['findings'],
  'case.status': ['case', 'record'],
  'case.assigned': ['case'],
  'evidence.uploaded': ['evidence'],
  // The pipeline found a video playable (or stored its proxy): its row
  // plays now, before the 2.5 s poll would have noticed.
  'evidence.playable': ['evidence'],
  'owed.fulfilled': ['record', 'case'],
  'owed.delivered': ['record', 'case', 'evidence'],
  'owed.returned': ['record', 'case'],
  'owed.reminder': ['record'],
  'case.owed_closed': ['record', 'case'],
  'case.commitment_signed': ['record'],
  'case.rated': ['rating'],
  'followup.opened': ['rating'],
  'followup.closed': ['rating'],
  'case.urgent_set': ['case'],
  'case.urgent_cleared': ['case'],
};

/**
 * caseEvents calls onParts(Set of part names) as changes arrive after the
 * event seq after (the case's X-Events-After; '' for its whole history);
 * close() ends it.
 */
export function caseEvents(caseId, after, onParts) {
  if (typeof EventSource !== 'function') return { close() {} };
  const from = after ? `?after=${enc(after)}` : '';
  const source = new EventSource(`/api/v1/cases/${enc(caseId)}/events${from}`, { withCredentials: true });
  const pending = new Set();
  let timer = 0;
  let closed = false;

  const flush = () => {
    timer = 0;
    if (closed || !pending.size) return;
    const parts = new Set(pending);
    pending.clear();
    onParts(parts);
  };
  for (const [action, parts] of Object.entries(PARTS)) {
    source.addEventListener(action, () => {
      for (const p of parts) pending.add(p);
      if (!timer) timer = setTimeout(flush, GATHER_MS);
    });
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      source.close();
    },
  };
}
