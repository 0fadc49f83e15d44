// OpenRouter usage (chat and Responses shapes) to our Usage and a total cost.
// Cost rule (../shared/contracts/openrouter.md): `cost` is the charge; `upstream_inference_cost` is a breakdown
// of the same charge unless the key is BYOK, where it is billed separately and must be added.
import type { Usage } from './llm-call.ts';
import { isObject } from './json-shape.ts';


const count = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
const money = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;

export function readUsage(raw: unknown): { usage?: Usage; cost?: number } {
  if (!isObject(raw)) return {};
  const promptDetails = isObject(raw.prompt_tokens_details) ? raw.prompt_tokens_details
    : isObject(raw.input_tokens_details) ? raw.input_tokens_details : {};
  const completionDetails = isObject(raw.completion_tokens_details) ? raw.completion_tokens_details
    : isObject(raw.output_tokens_details) ? raw.output_tokens_details : {};
  const usage: Usage = {};
  const set = (key: keyof Usage, value: number | undefined) => { if (value !== undefined) usage[key] = value; };
  set('input', count(raw.prompt_tokens ?? raw.input_tokens));
  set('output', count(raw.completion_tokens ?? raw.output_tokens));
  set('total', count(raw.total_tokens));
  set('cachedInput', count(promptDetails.cached_tokens));
  set('cacheWrite', count(promptDetails.cache_write_tokens));
  set('reasoning', count(completionDetails.reasoning_tokens));
  if (usage.total === undefined && (usage.input !== undefined || usage.output !== undefined)) {
    usage.total = (usage.input ?? 0) + (usage.output ?? 0);
  }
  let cost = money(raw.cost);
  const upstreamCost = isObject(raw.cost_details) ? money(raw.cost_details.upstream_inference_cost) : undefined;
  if (raw.is_byok === true && upstreamCost !== undefined) cost = (cost ?? 0) + upstreamCost;
  return { usage: Object.keys(usage).length > 0 ? usage : undefined, cost };
}
