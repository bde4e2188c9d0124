// What a class of connections may hold between them: those not logged in
// (<preauthmemory>) and sessions (<sessionmemory>), each with a budget of
// its own. Each connection is bounded on its own too (stanza size and
// nodes, the pre-auth queue, stanzas in hand, the output buffer), but
// nothing bounded their sum: a flood of connections from many addresses,
// each filling its own bounds, could take any amount of memory (before
// a single password was checked, or from accounts anyone may register).
//
// Over the budget, connections are closed from the address that holds the
// most in all, its largest first. A real client holds a few kilobytes; by
// address, a flood is found even when each of its connections holds less
// than a real client's, and a client from elsewhere is closed only when
// its own address holds more than the flood's. (An address is a
// limitKey(): an IPv6 client's /64.)
//
// What a connection holds is weighed, not measured: characters, plus a
// fixed cost per parsed node (see weigh() in stream-parser.ts), plus bytes
// waiting unread or unsent. A direct-TLS connection still in its handshake
// counts in the pre-login budget too, at what Node and OpenSSL hold for one
// (see PendingHandshake in net/pending-handshake.ts).

/**
 * The warning logged for a connection closed by each budget: one text per
 * budget, whichever kind of connection (a stream, a TLS handshake) went.
 */
export const OVER_BUDGET_LOG = {
  preAuth: 'connections not logged in hold too much: closing the largest from the address holding the most',
  sessions: 'sessions hold too much: closing the largest from the address holding the most',
} as const;

/**
 * What a session may hold without counting against <sessionmemory>: the
 * stanza it is sending, the reply it is being sent. Counted, each stanza
 * cost two budget updates (message routing lost 5%); uncounted, they add
 * up to at most this much per file descriptor the server may open.
 */
export const SESSION_UNCOUNTED = 4096;

/** A connection the budget may close. */
export interface BudgetHolder {
  /** The address it counts under (see limitKey()). */
  readonly budgetKey: string;
  /** Ends the connection for the budget. It is no longer counted by then. */
  overBudget(): void;
}

/**
 * Once over the budget, connections are closed until the rest holds at
 * most this share of it: each pass then frees a tenth of the budget, so a
 * flood pays for the passes it causes.
 */
const LOW_WATER = 0.9;

interface Group {
  total: number;
  holders: Map<BudgetHolder, number>;
}

export class HeldMemoryBudget {
  /** By address: what each of its holders holds (holders at 0 are left out: they cost nothing to skip). */
  private readonly groups = new Map<string, Group>();
  private total = 0;

  /** `max`: the budget, read at each check (a reload may change it); 0 = no bound. */
  constructor(private readonly max: () => number) {}

  /** What the connections hold, in all. */
  get used(): number {
    return this.total;
  }

  /** `holder` now holds `weight`; over the budget, holders are closed (see the top of this file). */
  set(holder: BudgetHolder, weight: number): void {
    let group = this.groups.get(holder.budgetKey);
    const before = group?.holders.get(holder) ?? 0;
    if (weight > 0) {
      if (!group) this.groups.set(holder.budgetKey, (group = { total: 0, holders: new Map() }));
      group.holders.set(holder, weight);
      group.total += weight - before;
      this.total += weight - before;
    } else if (group) this.forget(group, holder);
    this.enforce();
  }

  /** `holder` logged in (for the pre-login budget) or closed: it no longer counts. */
  release(holder: BudgetHolder): void {
    const group = this.groups.get(holder.budgetKey);
    if (group) this.forget(group, holder);
  }

  /**
   * Closes holders while the total is over the budget (after a reload
   * lowered it, too). Addresses are ranked once per round: each in turn
   * loses its largest connection, then more of them while it still holds
   * more than the next address, so a round costs one sort of the addresses
   * and of each one's connections, not a scan of them all per connection
   * closed.
   */
  enforce(): void {
    const max = this.max();
    if (max <= 0 || this.total <= max) return;
    const target = max * LOW_WATER;
    while (this.total > target && this.groups.size > 0) {
      const ranked = [...this.groups.values()].sort((a, b) => b.total - a.total);
      for (let i = 0; i < ranked.length && this.total > target; i++) {
        const group = ranked[i]!;
        const next = ranked[i + 1]?.total ?? 0;
        const largestFirst = [...group.holders].sort((a, b) => b[1] - a[1]);
        let closed = 0;
        for (const [holder] of largestFirst) {
          if (this.total <= target || (closed > 0 && group.total <= next)) break;
          // Forgotten before it is told, so a holder that reports again
          // while it closes cannot start another round.
          this.forget(group, holder);
          holder.overBudget();
          closed++;
        }
      }
    }
  }

  private forget(group: Group, holder: BudgetHolder): void {
    const weight = group.holders.get(holder);
    if (weight === undefined) return;
    group.holders.delete(holder);
    group.total -= weight;
    this.total -= weight;
    if (group.holders.size === 0) this.groups.delete(holder.budgetKey);
  }
}
