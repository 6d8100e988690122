import { EventEmitter } from 'node:events';
import { EVENTS_OUTAGE_RETRY_MAX_MS, EVENTS_RETRY_MAX_MS, EVENTS_RETRY_MIN_MS, SUBSCRIPTION_S } from '../settings';
import { backoffMs } from '../util/backoff';
import type { Log } from '../util/log';
import type { OnvifDevice } from './device';
import { SoapError } from './soap';
import { child, escapeXml, serializeXml, textAt, XmlElement } from './xml';

/** The levels the event sources log at. */
export type EventsLog = Pick<Log, 'info' | 'warn' | 'debug'>;

/** WS-BaseNotification's namespace: the base of its SOAP actions (Subscribe, Renew, Unsubscribe). */
export const WSN = 'http://docs.oasis-open.org/wsn/bw-2';

/** A subscription the camera granted, pull or push. */
export interface Subscription {
  address: string;
  /** WS-Addressing headers to send with every request on it (To, and the camera's reference parameters). */
  header: string;
  terminatesAt: number;
  createdAt: number;
}

/** xs:dateTime → ms, or undefined. */
export function timeOf(s: string | undefined): number | undefined {
  const t = s ? Date.parse(s) : NaN;
  return Number.isFinite(t) ? t : undefined;
}

/** When a subscription ends by our clock, from a reply's CurrentTime and TerminationTime (the camera's clock only in differences). */
export function endFrom(reply: XmlElement, now = Date.now()): number {
  const current = timeOf(textAt(reply, 'CurrentTime'));
  const end = timeOf(textAt(reply, 'TerminationTime'));
  return now + (current !== undefined && end !== undefined ? end - current : SUBSCRIPTION_S * 1000);
}

/** The subscription in a CreatePullPointSubscription or Subscribe reply, or undefined when it names no address. */
export function subscriptionFrom(reply: XmlElement, device: OnvifDevice): Subscription | undefined {
  const ref = child(reply, 'SubscriptionReference');
  const address = textAt(ref, 'Address')?.trim();
  if (!address) {
    return undefined;
  }
  const params = child(ref, 'ReferenceParameters');
  const now = Date.now();
  return {
    address: device.sameHost(address) ?? address,
    header: `<wsa:To s:mustUnderstand="1">${escapeXml(address)}</wsa:To>${params ? params.children.map(serializeXml).join('') : ''}`,
    terminatesAt: endFrom(reply, now),
    createdAt: now,
  };
}

/** How long an event source waits before subscribing again after a failure, defaulting to settings.ts (tests shorten it). */
export interface RetryOptions {
  retryMinMs?: number;
  retryMaxMs?: number;
  random?: () => number;
}

/**
 * What PullPoint and push subscriptions share: one loop per camera that stop() ends promptly, waits that stop() cuts
 * short, requests on the current subscription, recovery with capped jittered backoff after a failure, and the
 * online/offline reports the rest of the plugin shows in Home.
 *
 * Emits 'notification' (RawNotification), 'offline' (reason: string), 'online', 'subscribed'.
 */
export abstract class CameraEventSource extends EventEmitter {
  protected running = false;
  protected abort?: AbortController;
  /** Ends the current wait() early. */
  protected wake?: () => void;
  protected subscription?: Subscription;
  /** Failures in a row; the backoff grows with it. The loop sets it to 0 after a round that worked. */
  protected failures = 0;
  /** Names the source in debug lines ("events", "push events"). */
  protected abstract readonly label: string;
  private offlineReason?: string;
  private loopDone: Promise<void> = Promise.resolve();
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly random: () => number;

  constructor(protected readonly device: OnvifDevice, protected readonly log: EventsLog, retry: RetryOptions = {}) {
    super();
    this.retryMinMs = retry.retryMinMs ?? EVENTS_RETRY_MIN_MS;
    this.retryMaxMs = retry.retryMaxMs ?? EVENTS_RETRY_MAX_MS;
    this.random = retry.random ?? Math.random;
  }

  start(): void {
    if (this.running) {
      return;
    }
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Ends the loop and releases the subscription (bounded), so the camera frees its slot. Idempotent. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    this.wake?.();
    await this.loopDone;
    await this.release();
  }

  protected abstract loop(): Promise<void>;

  /** Gives the subscription back to the camera, if we hold one. */
  protected abstract release(): Promise<void>;

  /** After the camera stopped answering: what to do with the subscription we hold. */
  protected abstract keepThroughOutage(): void;

  /** After the camera answered with a failure: make the next round subscribe afresh. */
  protected abstract dropAfterFailure(err: unknown): Promise<void>;

  /** One request on the current subscription, with its WS-Addressing headers. */
  protected call(body: string, action: string, timeoutMs?: number, signal = this.abort?.signal): Promise<XmlElement> {
    const sub = this.subscription!;
    return this.device.request(sub.address, body, { signal, timeoutMs, header: `<wsa:Action>${action}</wsa:Action>${sub.header}` });
  }

  /** After a failure: report offline when the camera did not answer, else drop the subscription; then wait (backoff). */
  protected async recover(err: unknown): Promise<void> {
    const reason = err instanceof Error ? err.message : String(err);
    const unreachable = err instanceof SoapError && (err.kind === 'unreachable' || err.kind === 'timeout');
    if (unreachable) {
      this.markOffline(reason);
      this.keepThroughOutage();
    } else {
      if (this.offlineReason !== undefined) {
        // It answered, with a fault: the camera is back (a rebooted one has forgotten our subscription). The waits that
        // grew while it was away are not this failure's: subscribing again waits the shortest time, not 30 s more.
        this.failures = 0;
        this.markOnline();
      }
      this.log.debug(`${this.label}: ${reason}; subscribing again`);
      await this.dropAfterFailure(err);
    }
    // A camera away is asked again at least every EVENTS_OUTAGE_RETRY_MAX_MS, so its events resume soon after it is back.
    const max = unreachable ? Math.min(this.retryMaxMs, EVENTS_OUTAGE_RETRY_MAX_MS) : this.retryMaxMs;
    await this.wait(backoffMs(this.failures++, this.retryMinMs, max, this.random));
  }

  /** A delay that stop() cuts short. */
  protected wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (!this.running) {
        resolve();
        return;
      }
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /** A camera that rebooted may have a new clock: after an auth failure, learn it again before signing with a stale offset. */
  protected async relearnClockAfter(err: unknown): Promise<void> {
    if (err instanceof SoapError && err.kind === 'auth') {
      await this.device.connect(this.abort?.signal).catch(() => undefined);
    }
  }

  protected markOffline(reason: string): void {
    if (this.offlineReason === undefined) {
      this.offlineReason = reason;
      this.log.warn(`not answering (${reason}); shown as not responding in Home until it is back`);
      this.emit('offline', reason);
    }
  }

  protected markOnline(): void {
    if (this.offlineReason !== undefined) {
      this.offlineReason = undefined;
      this.log.info('answering again');
      this.emit('online');
    }
  }
}
