// The error banner under the header bar: every failed call that has no
// place of its own on the page ends up here, so nothing fails silently.

const box = () => document.getElementById('error');

/** Shows err (an Error or a string) until dismissed or replaced. */
export function showError(err) {
  const text = typeof err === 'string' ? err : err?.message || String(err);
  document.getElementById('error-text').textContent = text;
  box().hidden = false;
}

export function clearError() {
  box().hidden = true;
}

/** showError, except for a 401: that one already brought back the login. */
export function report(err) {
  if (err?.status === 401) return;
  showError(err);
}
