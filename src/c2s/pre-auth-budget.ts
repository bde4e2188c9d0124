// What all connections that have not logged in may hold between them.
// Each is bounded on its own (stanza size, the pre-auth queue, stanzas in
// hand, the output buffer), but nothing bounded their sum: a flood of
// connections from many addresses, each filling its own bounds, could take
// any amount of memory before a single password was checked. Over the
// budget, the connections holding the most go first: a real client holds
// a few kilobytes before login, so the ones filling the budget are cut.
//
// What a connection holds is weighed, not measured: characters, plus a
// fixed cost per parsed node (see weigh() in stream-parser.ts), plus bytes
// waiting unread or unsent.

/** A connection the budget may close. */
export interface BudgetHolder {
  /** Ends the connection for the budget. It is no longer counted by then. */
  overBudget(): void;
}

/**
 * Once over the budget, connections are closed until the rest holds at
 * most this share of it: each pass over all of them then frees a tenth of
 * the budget, so a flood pays for the passes it causes.
 */
const LOW_WATER = 0.9;

export class PreAuthBudget {
  /** Holders holding anything; one that reports 0 is dropped (it costs nothing to skip). */
  private readonly held = new Map<BudgetHolder, number>();
  private total = 0;

  /** `max`: the budget, read at each check (a reload may change it); 0 = no bound. */
  constructor(private readonly max: () => number) {}

  /** What connections not logged in hold, in all. */
  get used(): number {
    return this.total;
  }

  /** `holder` now holds `weight`; over the budget, the largest holders are closed. */
  set(holder: BudgetHolder, weight: number): void {
    this.total += weight - (this.held.get(holder) ?? 0);
    if (weight > 0) this.held.set(holder, weight);
    else this.held.delete(holder);
    this.enforce();
  }

  /** `holder` logged in or closed: it no longer counts. */
  release(holder: BudgetHolder): void {
    const weight = this.held.get(holder);
    if (weight === undefined) return;
    this.total -= weight;
    this.held.delete(holder);
  }

  /** Closes the largest holders while the total is over the budget (after a reload lowered it, too). */
  enforce(): void {
    const max = this.max();
    if (max <= 0 || this.total <= max) return;
    const target = max * LOW_WATER;
    const largestFirst = [...this.held].sort((a, b) => b[1] - a[1]);
    for (const [holder] of largestFirst) {
      if (this.total <= target) break;
      // Released before it is told, so a holder that reports again while
      // it closes cannot start another pass.
      this.release(holder);
      holder.overBudget();
    }
  }
}
