// The viewer's entry: sign-in, hash routing (#/ the list, #/call/<id> one call), auto-refresh.
import { AuthError, forgetKey, getCall, getJson, listCalls, storeKey, storedKey } from './api.js';
import { deliverySummary } from './badges.js';
import { renderDetail, renderDetailError } from './detail-view.js';
import { clearList, fillFilterForm, listHash, readFilterForm, readListHash, renderList } from './list-view.js';

const REFRESH_MS = 5000;
const REFRESH_SETTING = 'llm-gateway.viewer.auto-refresh';
const $ = (id) => document.getElementById(id);
const views = ['sign-in-view', 'list-view', 'detail-view'];

// Each navigation or refresh gets a number; an answer that arrives after a newer one is dropped.
let generation = 0;
let lastListHash = '#/';

function showView(name) {
  for (const view of views) $(view).hidden = view !== name;
  $('session-actions').hidden = name === 'sign-in-view';
}

function showSignIn(message) {
  generation += 1;
  forgetKey();
  showView('sign-in-view');
  $('delivery').replaceChildren();
  $('sign-in-error').hidden = !message;
  $('sign-in-error').textContent = message ?? '';
  $('key-input').focus();
}

function handleFailure(error) {
  if (error instanceof AuthError) return showSignIn('Wrong key: the gateway refused it. Sign in again.');
  throw error;
}

async function showList(quiet = false) {
  const current = ++generation;
  const hash = location.hash || '#/';
  const { filters, before } = readListHash(hash);
  lastListHash = hash;
  showView('list-view');
  if (!quiet) fillFilterForm($('filters'), filters);
  try {
    const page = await listCalls(filters, before);
    if (current !== generation) return;
    $('list-error').hidden = true;
    renderList(page, { filters, before });
    $('delivery').replaceChildren(...deliverySummary(page.delivery));
  } catch (error) {
    if (current !== generation) return;
    if (error instanceof AuthError) return handleFailure(error);
    // A refresh that fails keeps what is shown; a new address (a bad filter) must not show the old results under it.
    if (!quiet) clearList();
    $('list-error').hidden = false;
    $('list-error').textContent = `Could not load the calls: ${error.message}`;
  }
}

async function showCall(id) {
  const current = ++generation;
  showView('detail-view');
  try {
    const call = await getCall(id);
    if (current !== generation) return;
    renderDetail($('detail-view'), call, lastListHash);
    window.scrollTo(0, 0);
  } catch (error) {
    if (current !== generation) return;
    if (error instanceof AuthError) return handleFailure(error);
    renderDetailError($('detail-view'), error.status === 404 ? 'No such call in the journal (it may have been pruned).' : error.message, lastListHash);
  }
}

function route() {
  if (!storedKey()) return showSignIn();
  const match = /^#\/call\/([^/?#]+)$/.exec(location.hash);
  if (!match) return showList();
  let id;
  try {
    id = decodeURIComponent(match[1]);
  } catch {
    // A mangled address (a cut %-escape): say so rather than throw and leave the last view up. A newer view: a call
    // still loading must not replace this.
    generation += 1;
    showView('detail-view');
    return renderDetailError($('detail-view'), 'This address does not name a call.', lastListHash);
  }
  return showCall(id);
}

$('sign-in-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const key = $('key-input').value.trim();
  if (!key) return;
  const button = event.submitter ?? $('sign-in-form').querySelector('button');
  button.disabled = true;
  try {
    await getJson('/api/traces?limit=1', key);
    storeKey(key);
    $('key-input').value = '';
    $('sign-in-error').hidden = true;
    route();
  } catch (error) {
    $('sign-in-error').hidden = false;
    $('sign-in-error').textContent = error instanceof AuthError ? 'Wrong key: the gateway refused it.' : error.message;
    $('key-input').select();
  } finally {
    button.disabled = false;
  }
});

$('sign-out').addEventListener('click', () => showSignIn());

$('filters').addEventListener('submit', (event) => {
  event.preventDefault();
  location.hash = listHash(readFilterForm($('filters')));
});
$('filters').elements.status.addEventListener('change', () => $('filters').requestSubmit());
$('clear-filters').addEventListener('click', () => {
  fillFilterForm($('filters'), {});
  location.hash = '#/';
});

$('older').addEventListener('click', () => {
  location.hash = listHash(readListHash(location.hash || '#/').filters, $('older').dataset.before);
});
$('newest').addEventListener('click', () => {
  location.hash = listHash(readListHash(location.hash || '#/').filters);
});

// Auto-refresh only redraws the newest page of the list, and never while the tab is hidden.
const refreshToggle = $('auto-refresh');
refreshToggle.checked = sessionStorage.getItem(REFRESH_SETTING) !== 'off';
refreshToggle.addEventListener('change', () => sessionStorage.setItem(REFRESH_SETTING, refreshToggle.checked ? 'on' : 'off'));
setInterval(() => {
  const onNewestPage = !$('list-view').hidden && !readListHash(location.hash || '#/').before;
  if (refreshToggle.checked && onNewestPage && !document.hidden && storedKey()) showList(true);
}, REFRESH_MS);

let resizeTimer;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (!$('list-view').hidden) showList(true); }, 200);
});

window.addEventListener('hashchange', route);
route();
