/**
 * A tiny element builder. Strings always become text nodes and attributes are
 * set with setAttribute, so user data (site names, file names, server
 * messages) is never parsed as HTML. Nothing in the UI uses innerHTML.
 * Text that holds user data goes on screen through h, append or fill (or
 * shown), never straight into textContent.
 */

import { errorText } from './i18n.js';

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'required', 'multiple', 'selected']);
// Attributes a person reads (a tooltip, a screen reader's name).
const READ = new Set(['title', 'aria-label', 'alt', 'placeholder']);

// Bidirectional embeddings, overrides and isolates (U+202A-U+202E,
// U+2066-U+2069) reorder the text that follows them on screen: a file an
// applicant names "invoice\u202Efdp.hta" reads as "invoiceath.pdf". Text
// from users has no need of them here, so each is shown as U+FFFD, and
// the name reads as what it is.
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;

/** shown is text as the UI puts it on screen: bidi controls made visible. */
export function shown(text) {
  return String(text).replace(BIDI_CONTROLS, '\uFFFD');
}

/**
 * h creates an element. props: "class", "dataset" (object), "style" (CSS text), "on<event>"
 * (function), a few boolean/value properties; anything else is an attribute.
 * Children may be nodes, strings, numbers, arrays, or null/false (skipped).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    // Through the CSSOM: a style attribute is inline style, which the
    // Content-Security-Policy (style-src 'self') blocks.
    else if (key === 'style') el.style.cssText = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : READ.has(key) ? shown(value) : String(value));
  }
  append(el, children);
  return el;
}

/** append adds children with the same rules as h. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : shown(child));
  }
  return el;
}

/** fill replaces an element's children, with the same rules as h. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** errorBox shows an error as an alert, in the person's language when the API gave its code. */
export function errorBox(err) {
  return h('p', { class: 'notice error', role: 'alert' }, errorText(err));
}

/** busy disables a button while an action runs, so a double tap does not send twice. */
export async function busy(button, fn) {
  button.disabled = true;
  try {
    return await fn();
  } finally {
    button.disabled = false;
  }
}
