// A HomeKit controller for tests: pairs with a bridge over loopback (127.0.0.1, or ::1 as an IPv6 iPhone would reach
// it) using the setup PIN (plain Pair-Setup; the
// library's default is the MFi-authenticated variant, which Homebridge does not offer), then reads/writes
// characteristics and records HAP EVENT notifications. Every client is in the cleanup registry until closed.
import { HttpClient, PairingData, PairMethods } from 'hap-controller';
import { track } from './cleanup';
import { AccessoryList } from './hap-model';
import { pollUntil, sleep, withTimeout } from './wait';

/** What the client needs to reach and pair with a bridge (HomebridgeProcess provides all three). */
export interface HapTarget {
  port: number;
  /** Bridge username (its HAP device id), e.g. '0E:12:34:56:78:9A'. */
  username: string;
  pin: string;
}

/** One characteristic, addressed as HAP does. */
export interface CharacteristicRef {
  aid: number;
  iid: number;
}

export interface HapEvent extends CharacteristicRef {
  value: unknown;
  /** Order of arrival within this client, from 1. */
  seq: number;
}

export interface HapClientOptions {
  /** Bound for each HAP request. Default 15 s. */
  requestTimeoutMs?: number;
  /**
   * The bridge address the controller connects to: '127.0.0.1' (default; HAP on `::` sees it as ::ffff:127.0.0.1, as
   * it sees an iPhone on the home Wi-Fi over IPv4) or '::1' (an IPv6 controller).
   */
  host?: ControllerHost;
}

export type ControllerHost = '127.0.0.1' | '::1';

/** host:port as a URL authority, for messages. */
function where(host: ControllerHost, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const PAIR_ATTEMPTS = 3;
const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;
const MAX_RECORDED_EVENTS = 10_000;

function refKey(ref: CharacteristicRef): string {
  return `${ref.aid}.${ref.iid}`;
}

export class HapClient {
  private client: HttpClient;
  private closed = false;
  private readonly untrack: () => void;
  private readonly requestTimeoutMs: number;
  /** The address this controller reaches the bridge on. */
  readonly host: ControllerHost;
  private readonly recorded: HapEvent[] = [];
  private readonly listeners = new Set<(event: HapEvent) => void>();
  private seq = 0;

  private constructor(private readonly target: HapTarget, readonly pairingData: PairingData, options: HapClientOptions) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.host = options.host ?? '127.0.0.1';
    this.client = this.newHttpClient();
    this.untrack = track({ label: `HAP client for ${where(this.host, target.port)}`, stop: () => this.close() });
  }

  /** Pair as a new admin controller (bounded retries: the bridge may still be settling right after start). */
  static async pair(target: HapTarget, options: HapClientOptions = {}): Promise<HapClient> {
    const timeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const host = options.host ?? '127.0.0.1';
    let lastError: Error | undefined;
    for (let attempt = 1; attempt <= PAIR_ATTEMPTS; attempt++) {
      const pairing = new HttpClient(target.username, host, target.port);
      try {
        await withTimeout(pairing.pairSetup(target.pin, PairMethods.PairSetup), timeoutMs, `pair-setup with ${where(host, target.port)}`);
        const data = pairing.getLongTermData();
        if (!data) {
          throw new Error('pair-setup finished without long-term keys');
        }
        return new HapClient(target, data, options);
      } catch (err) {
        lastError = err as Error;
      } finally {
        await pairing.close().catch(() => undefined);
      }
      if (attempt < PAIR_ATTEMPTS) {
        await sleep(500 * attempt);
      }
    }
    throw new Error(`pairing with ${where(host, target.port)} failed after ${PAIR_ATTEMPTS} attempts: ${lastError?.message}`);
  }

  /** A client for a bridge this test already paired with (e.g. a second controller connection). */
  static fromPairing(target: HapTarget, pairingData: PairingData, options: HapClientOptions = {}): HapClient {
    return new HapClient(target, pairingData, options);
  }

  async accessories(): Promise<AccessoryList> {
    const db = await this.request(this.client.getAccessories(), 'GET /accessories');
    return new AccessoryList(db.accessories);
  }

  /** Poll GET /accessories until accept() returns true (bounded); returns that list. */
  async waitForAccessories(accept: (list: AccessoryList) => boolean, options: { timeoutMs: number; what: string; intervalMs?: number }): Promise<AccessoryList> {
    let last: AccessoryList | undefined;
    try {
      return await pollUntil(async () => {
        last = await this.accessories();
        return accept(last) ? last : undefined;
      }, { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs ?? 500, what: options.what });
    } catch (err) {
      const seen = last ? JSON.stringify(last.bridgedNames()) : 'nothing (no successful read)';
      throw new Error(`${(err as Error).message}; last accessory list had bridged accessories ${seen}`);
    }
  }

  /** Current values, keyed 'aid.iid'. A characteristic that failed to read has no key (its status is in the error). */
  async read(refs: CharacteristicRef[]): Promise<Map<string, unknown>> {
    const response = await this.request(this.client.getCharacteristics(refs.map(refKey)), 'GET /characteristics');
    const values = new Map<string, unknown>();
    for (const c of response.characteristics) {
      if (c.status === undefined || c.status === 0) {
        values.set(`${Number(String(c.aid))}.${Number(String(c.iid))}`, c.value);
      }
    }
    return values;
  }

  async readValue(ref: CharacteristicRef): Promise<unknown> {
    const values = await this.read([ref]);
    if (!values.has(refKey(ref))) {
      throw new Error(`reading ${refKey(ref)} returned no value`);
    }
    return values.get(refKey(ref));
  }

  async write(ref: CharacteristicRef, value: unknown): Promise<void> {
    await this.request(this.client.setCharacteristics({ [refKey(ref)]: value }), `PUT /characteristics ${refKey(ref)}`);
  }

  /**
   * Write one value and return the accessory's own status for it (0 = success): write() ignores a failure reported
   * inside a 207 Multi-Status reply, which is how a HAP accessory refuses e.g. a stream command.
   */
  async writeWithStatus(ref: CharacteristicRef, value: unknown): Promise<{ status: number }> {
    const reply = await this.request(this.client.setCharacteristics({ [refKey(ref)]: value }), `PUT /characteristics ${refKey(ref)}`);
    const list = (reply as { characteristics?: { aid: unknown; iid: unknown; status?: unknown }[] }).characteristics ?? [];
    const entry = list.find((c) => Number(String(c.aid)) === ref.aid && Number(String(c.iid)) === ref.iid);
    return { status: Number(entry?.status ?? 0) };
  }

  /** Ask for EVENT notifications; they are recorded (see events()) and passed to onEvent listeners. */
  async subscribe(refs: CharacteristicRef[]): Promise<void> {
    await this.request(this.client.subscribeCharacteristics(refs.map(refKey)), 'subscribe');
  }

  async unsubscribe(refs?: CharacteristicRef[]): Promise<void> {
    await this.request(this.client.unsubscribeCharacteristics(refs?.map(refKey)), 'unsubscribe');
  }

  /** Events received so far (optionally only for one characteristic), oldest first. */
  events(ref?: CharacteristicRef): HapEvent[] {
    return ref ? this.recorded.filter((e) => e.aid === ref.aid && e.iid === ref.iid) : [...this.recorded];
  }

  onEvent(listener: (event: HapEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves with the first event (already recorded after `afterSeq`, or arriving later) that matches. */
  waitForEvent(match: (event: HapEvent) => boolean, timeoutMs: number, afterSeq = 0): Promise<HapEvent> {
    const earlier = this.recorded.find((e) => e.seq > afterSeq && match(e));
    if (earlier) {
      return Promise.resolve(earlier);
    }
    let unsubscribe: () => void = () => undefined;
    const arrival = new Promise<HapEvent>((resolve) => {
      unsubscribe = this.onEvent((event) => {
        if (match(event)) {
          resolve(event);
        }
      });
    });
    return withTimeout(arrival, timeoutMs, 'HAP event').finally(() => unsubscribe());
  }

  /** Sequence number of the latest recorded event: pass to waitForEvent to only accept newer ones. */
  lastEventSeq(): number {
    return this.seq;
  }

  /** A second client with the same pairing and its own connections (e.g. a home hub next to the test's controller). */
  fork(options: HapClientOptions = {}): HapClient {
    return new HapClient(this.target, this.pairingData, { requestTimeoutMs: this.requestTimeoutMs, host: this.host, ...options });
  }

  /** The hap-controller client underneath, for rig tools that need more of HAP (it is replaced by reconnect()). */
  get httpClient(): HttpClient {
    return this.client;
  }

  /** Drop the connections and reconnect with the same pairing (needed after the bridge restarted). */
  async reconnect(): Promise<void> {
    await this.client.close().catch(() => undefined);
    this.client = this.newHttpClient();
  }

  async close(): Promise<void> {
    if (this.closed) {
      return;
    }
    this.closed = true;
    this.untrack();
    this.listeners.clear();
    await withTimeout(this.client.close(), 5_000, 'closing HAP connections').catch(() => undefined);
  }

  private newHttpClient(): HttpClient {
    const client = new HttpClient(this.target.username, this.host, this.target.port, this.pairingData, {
      usePersistentConnections: true,
    });
    // hap-controller 0.10 opens the persistent connection on first use without a lock: requests made together before it
    // exists each pair-verify a connection of their own, all but the last are closed after their request, and HAP-NodeJS
    // ends a live view whose SetupEndpoints came on a closed connection, so its START is refused with -70410 (one per
    // soak, right after the viewers resumed together on a fresh client). One opening at a time, shared by all waiting.
    const inner = client as unknown as { getDefaultVerifiedConnection(): Promise<unknown>; _defaultConnection?: unknown };
    const open = inner.getDefaultVerifiedConnection.bind(client);
    let opening: Promise<unknown> | undefined;
    inner.getDefaultVerifiedConnection = (): Promise<unknown> => {
      if (inner._defaultConnection) {
        return Promise.resolve(inner._defaultConnection);
      }
      opening ??= open().finally(() => {
        opening = undefined;
      });
      return opening;
    };
    client.on('event', (payload: { characteristics?: { aid: unknown; iid: unknown; value: unknown }[] }) => {
      for (const c of payload.characteristics ?? []) {
        this.record({ aid: Number(String(c.aid)), iid: Number(String(c.iid)), value: c.value, seq: ++this.seq });
      }
    });
    return client;
  }

  private record(event: HapEvent): void {
    this.recorded.push(event);
    if (this.recorded.length > MAX_RECORDED_EVENTS) {
      this.recorded.shift();
    }
    for (const listener of [...this.listeners]) {
      listener(event);
    }
  }

  private request<T>(operation: Promise<T>, what: string): Promise<T> {
    if (this.closed) {
      return Promise.reject(new Error(`HAP client is closed (${what})`));
    }
    return withTimeout(operation, this.requestTimeoutMs, `${what} on ${where(this.host, this.target.port)}`);
  }
}

/** Pair with a running bridge (e.g. a HomebridgeProcess). */
export function pairWith(target: HapTarget, options?: HapClientOptions): Promise<HapClient> {
  return HapClient.pair(target, options);
}
