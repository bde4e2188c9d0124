// What all connections that have not logged in may hold between them.
// Each is bounded on its own (stanza size, the pre-auth queue, stanzas in
// hand), but nothing bounded their sum: a flood of connections from many
// addresses, each filling its own bounds, could take any amount of memory
// before a single password was checked. Over the budget, the connection
// holding the most goes first: a real client holds a few hundred
// characters before login, so the ones filling the budget are the ones cut.

/** A connection the budget may close. */
export interface BudgetHolder {
  /** Ends the connection for the budget; it must release() itself (at once or later). */
  overBudget(): void;
}

export class PreAuthBudget {
  private readonly held = new Map<BudgetHolder, number>();
  private total = 0;

  /** `max`: characters in all, read at each check (a reload may change it); 0 = no bound. */
  constructor(private readonly max: () => number) {}

  /** Characters held by connections not logged in, in all. */
  get used(): number {
    return this.total;
  }

  /** `holder` now holds `chars`; over the budget, the largest holders are closed until it fits. */
  set(holder: BudgetHolder, chars: number): void {
    this.total += chars - (this.held.get(holder) ?? 0);
    this.held.set(holder, chars);
    const max = this.max();
    if (max > 0 && this.total > max) this.shed(max);
  }

  /** `holder` logged in or closed: it no longer counts. */
  release(holder: BudgetHolder): void {
    const chars = this.held.get(holder);
    if (chars === undefined) return;
    this.total -= chars;
    this.held.delete(holder);
  }

  private shed(max: number): void {
    while (this.total > max) {
      let largest: BudgetHolder | undefined;
      let most = 0;
      for (const [h, chars] of this.held) {
        if (chars > most) {
          most = chars;
          largest = h;
        }
      }
      if (!largest) return;
      // Released before it is told, so a holder that closes later (or
      // reports again while closing) cannot make this loop spin.
      this.release(largest);
      largest.overBudget();
    }
  }
}
