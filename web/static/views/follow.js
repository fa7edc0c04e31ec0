/**
 * Infinite scroll for the long lists (cases, audit events): the pages
 * after the first arrive as the end of the list comes into view.
 */
import { getPage } from '../api.js';
import { errorBox, h } from '../dom.js';
import { t } from '../i18n.js';

/**
 * follow appends to list the pages from next on, each item drawn by row,
 * as the end of the list comes into view, with a button (id, its label's
 * key) for when the browser cannot observe that. An error ends the list
 * with the error shown.
 */
export function follow(list, next, { id, label, row }) {
  if (!next) return;
  const more = h('button', { type: 'button', class: 'button more', id }, t(label));
  list.append(more);
  let busy = false;
  let observer = null;
  const load = async () => {
    if (busy || !next) return;
    busy = true;
    more.disabled = true;
    try {
      const page = await getPage(next);
      more.before(...page.items.map(row));
      next = page.next;
    } catch (err) {
      more.before(errorBox(err));
      next = '';
    }
    busy = false;
    more.disabled = false;
    if (!next) {
      more.remove();
      observer?.disconnect();
    }
  };
  more.addEventListener('click', load);
  if ('IntersectionObserver' in window) {
    observer = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) load(); }, { rootMargin: '400px' });
    observer.observe(more);
  }
}
