// Pull-point subscriptions of one simulated camera: bounded queues, real long-polls, expiry, a subscription cap.
import { RenderedMessage, TopicFilter } from './messages';

export type PullResult = { kind: 'messages'; messages: RenderedMessage[] } | { kind: 'gone' };

interface Waiter {
  limit: number;
  resolve: (result: PullResult) => void;
  timer: NodeJS.Timeout;
}

export interface Subscription {
  readonly id: number;
  readonly path: string;
  readonly filter: TopicFilter | undefined;
  terminationAt: number;             // real-clock ms
  readonly queue: RenderedMessage[];
  readonly waiters: Waiter[];
  expiryTimer: NodeJS.Timeout | undefined;
  wakeScheduled: boolean;
}

export interface PullPointCounters {
  created: number;
  refused: number;
  expired: number;
  pulls: number;
  renews: number;
  unsubscribes: number;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class PullPointManager {
  readonly counters: PullPointCounters = { created: 0, refused: 0, expired: 0, pulls: 0, renews: 0, unsubscribes: 0 };
  private readonly subs = new Map<number, Subscription>();
  private nextId = 1;

  constructor(readonly maxSubscriptions: number, private readonly queueLimit: number) {}

  get size(): number {
    return this.subs.size;
  }

  /** Undefined when the cap is reached (the caller answers with the camera's fault). */
  create(pathFor: (id: number) => string, terminationAt: number, filter: TopicFilter | undefined,
    initial: RenderedMessage[]): Subscription | undefined {
    if (this.subs.size >= this.maxSubscriptions) {
      this.counters.refused++;
      return undefined;
    }
    const id = this.nextId++;
    const sub: Subscription = { id, path: pathFor(id), filter, terminationAt, queue: [], waiters: [],
      expiryTimer: undefined, wakeScheduled: false };
    this.subs.set(id, sub);
    this.counters.created++;
    this.requeue(sub, initial);
    this.armExpiry(sub);
    return sub;
  }

  byId(id: number): Subscription | undefined {
    return this.subs.get(id);
  }

  byPath(path: string): Subscription | undefined {
    for (const s of this.subs.values()) {
      if (s.path === path) {
        return s;
      }
    }
    return undefined;
  }

  /** Queues a message on every subscription whose filter takes it; returns how many took it. */
  publish(message: RenderedMessage): number {
    let n = 0;
    for (const sub of this.subs.values()) {
      if (!sub.filter || sub.filter(message.topic)) {
        this.enqueue(sub, message);
        n++;
      }
    }
    return n;
  }

  /** Re-queues messages on one subscription (SetSynchronizationPoint). */
  requeue(sub: Subscription, messages: RenderedMessage[]): void {
    for (const m of messages) {
      if (!sub.filter || sub.filter(m.topic)) {
        this.enqueue(sub, m);
      }
    }
  }

  /**
   * A long-poll: answers at once when messages are queued, else when one arrives or after `waitMs`.
   * `signal` aborts the wait when the client goes away. ONVIF Core §9.1.1: after PullMessages the pull point
   * stays alive for at least the request's timeout, so the wait extends the termination time.
   */
  pull(sub: Subscription, waitMs: number, limit: number, signal: AbortSignal): Promise<PullResult> {
    this.counters.pulls++;
    this.keepAlive(sub, Date.now() + waitMs);
    if (sub.queue.length > 0 || waitMs <= 0) {
      return Promise.resolve({ kind: 'messages', messages: sub.queue.splice(0, limit) });
    }
    return new Promise((resolve) => {
      const finish = (result: PullResult): void => {
        clearTimeout(waiter.timer);
        signal.removeEventListener('abort', onAbort);
        const i = sub.waiters.indexOf(waiter);
        if (i >= 0) {
          sub.waiters.splice(i, 1);
        }
        if (result.kind === 'messages' && this.subs.has(sub.id)) {
          this.keepAlive(sub, Date.now() + waitMs);
        }
        resolve(result);
      };
      const onAbort = (): void => finish({ kind: 'messages', messages: [] });
      const waiter: Waiter = {
        limit,
        resolve: finish,
        timer: setTimeout(() => finish({ kind: 'messages', messages: sub.queue.splice(0, limit) }), waitMs),
      };
      sub.waiters.push(waiter);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  renew(sub: Subscription, terminationAt: number): void {
    this.counters.renews++;
    sub.terminationAt = terminationAt;
    this.armExpiry(sub);
  }

  unsubscribe(sub: Subscription): void {
    this.counters.unsubscribes++;
    this.remove(sub);
  }

  /** Forgets every subscription; pending pulls get 'gone' (their handler answers with the camera's fault). */
  clear(): void {
    for (const sub of [...this.subs.values()]) {
      this.remove(sub);
    }
  }

  private keepAlive(sub: Subscription, until: number): void {
    if (until > sub.terminationAt) {
      sub.terminationAt = until;
      this.armExpiry(sub);
    }
  }

  private remove(sub: Subscription): void {
    if (!this.subs.delete(sub.id)) {
      return;
    }
    clearTimeout(sub.expiryTimer);
    sub.expiryTimer = undefined;
    sub.queue.length = 0;
    for (const w of [...sub.waiters]) {
      w.resolve({ kind: 'gone' });
    }
  }

  private armExpiry(sub: Subscription): void {
    clearTimeout(sub.expiryTimer);
    // While a pull is pending the subscription cannot expire; look again a little later instead of spinning.
    const floor = sub.waiters.length > 0 ? 100 : 0;
    const delay = Math.min(Math.max(floor, sub.terminationAt - Date.now()), MAX_TIMER_MS);
    sub.expiryTimer = setTimeout(() => {
      sub.expiryTimer = undefined;
      if (!this.subs.has(sub.id)) {
        return;
      }
      if (Date.now() >= sub.terminationAt && sub.waiters.length === 0) {
        this.counters.expired++;
        this.remove(sub);
      } else {
        this.armExpiry(sub);
      }
    }, delay + 1);
  }

  private enqueue(sub: Subscription, message: RenderedMessage): void {
    sub.queue.push(message);
    if (sub.queue.length > this.queueLimit) {
      sub.queue.splice(0, sub.queue.length - this.queueLimit); // drop oldest, as cameras do
    }
    // Wake a waiting pull after the current turn, so messages raised together (motion sets two topics on
    // some vendors) are answered together, as cameras do.
    if (sub.waiters.length > 0 && !sub.wakeScheduled) {
      sub.wakeScheduled = true;
      queueMicrotask(() => {
        sub.wakeScheduled = false;
        const waiter = sub.waiters[0];
        if (waiter && sub.queue.length > 0 && this.subs.has(sub.id)) {
          waiter.resolve({ kind: 'messages', messages: sub.queue.splice(0, waiter.limit) });
        }
      });
    }
  }
}
