// Rows whose outcome (delivered, or refused by Langfuse) the journal could not record (a full disk): remembered,
// recorded once it can write, and never sent again meanwhile (the shipper leaves them out of its batches).
import type { Journal } from './journal.ts';
import type { Logger } from './logger.ts';

export type UnmarkedOutcome = { kind: 'delivered' } | { kind: 'rejected'; reason: string };

export function createUnmarkedOutcomes(journal: Pick<Journal, 'markDelivered' | 'markRejected'>, logger: Logger) {
  const unmarked = new Map<number, UnmarkedOutcome>();
  return {
    /** The rows waiting to be marked, for the shipper to leave out. */
    seqs: () => unmarked.keys(),

    remember(seqs: number[], outcome: UnmarkedOutcome, error: unknown): void {
      if (unmarked.size === 0) logger.error({ err: error, rows: seqs.length }, 'trace records delivered to Langfuse (or refused by it) but not marked so in the journal (a full disk?): marked once it can write, not sent again');
      for (const seq of seqs) unmarked.set(seq, outcome);
    },

    /** Records the outcomes the journal could not record before (while it still cannot, they wait for the next call). */
    markAll(): void {
      if (unmarked.size === 0) return;
      try {
        const delivered = [...unmarked].filter(([, outcome]) => outcome.kind === 'delivered').map(([seq]) => seq);
        if (delivered.length > 0) journal.markDelivered(delivered);
        for (const seq of delivered) unmarked.delete(seq);
        for (const [seq, outcome] of unmarked) {
          if (outcome.kind === 'rejected') journal.markRejected([seq], outcome.reason);
          unmarked.delete(seq);
        }
        logger.info({}, 'trace records delivered (or refused) earlier are now marked so in the journal');
      } catch {
        // still no room: kept for the next step
      }
    },
  };
}
