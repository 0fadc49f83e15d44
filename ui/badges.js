// Small labelled chips for a call's status and its delivery to Langfuse, shared by the list and the detail.
import { el } from './dom.js';

export function statusBadge(call) {
  const tone = call.level === 'ERROR' ? 'bad' : call.level === 'WARNING' ? 'warn' : 'good';
  const label = call.outcome === 'ok' ? String(call.status) : `${call.status} ${call.outcome.replaceAll('_', ' ')}`;
  return el('span', { class: `badge ${tone}`, title: `HTTP ${call.status} · ${call.outcome} · level ${call.level}` }, label);
}

const deliveryTones = { delivered: 'good', pending: 'neutral', rejected: 'bad', local: 'quiet' };
const deliveryTitles = {
  delivered: 'Sent to Langfuse',
  pending: 'Waiting to be sent to Langfuse',
  rejected: 'Langfuse refused it; it is retried after a restart',
  local: 'Kept in the local journal only: Langfuse is not configured',
};

export function deliveryBadge(delivery) {
  return el('span', { class: `badge ${deliveryTones[delivery] ?? 'neutral'}`, title: deliveryTitles[delivery] ?? '' }, delivery);
}

/** The gateway-wide delivery state for the top bar (`delivery` of GET /api/traces). */
export function deliverySummary(state) {
  if (!state || typeof state !== 'object') return [];
  if (state.mode === 'local') {
    return [el('span', { class: 'badge quiet' }, 'local only'),
      el('span', { class: 'muted' }, `${state.stored.toLocaleString('en-US')} calls in the journal · Langfuse not configured`)];
  }
  if (state.mode === 'langfuse') {
    const tone = state.status === 'rejected' ? 'bad' : state.status === 'retrying' || state.status === 'partly_refused' ? 'warn' : 'good';
    const words = {
      ok: 'sending', idle: 'up to date', retrying: 'retrying', rejected: 'refused',
      partly_refused: `refused ${Number(state.rejected).toLocaleString('en-US')} call${state.rejected === 1 ? '' : 's'} (retried after a restart)`,
    }[state.status] ?? state.status;
    return [el('span', { class: `badge ${tone}`, title: state.lastError ?? '' }, `Langfuse ${words}`),
      el('span', { class: 'muted' }, `backlog ${state.backlog} · ${state.delivered} sent since start${state.lastError ? ` · last error: ${state.lastError}` : ''}`)];
  }
  return [];
}
