/**
 * Who is signed in, for the few modules that are not handed a view's
 * context: the watermark over evidence video names the viewer. app.js sets
 * it whenever it draws the header, which it does on every change of user.
 */
let name = '';

/** setViewer records the signed-in user (null when signed out). */
export function setViewer(user) {
  name = user ? (user.display_name || user.username || '') : '';
}

/** viewerName is the signed-in person's display name, or '' when none. */
export function viewerName() {
  return name;
}
