// The controller (home hub) side of a HomeKit Data Stream: an encrypted TCP connection to the accessory's HDS port,
// the `control`/`hello` handshake and the `dataSend` recording protocol (open, data, ack, close), so a test can receive
// HomeKit Secure Video recordings the way a hub does and check what arrived, chunk by chunk.
//
// Wire format, as HAP-NodeJS (lib/datastream/DataStreamServer.js) speaks it: frame = type (1) + payload length (3 bytes,
// big-endian) + ChaCha20-Poly1305 ciphertext + 16-byte tag; the 4-byte frame header is the additional data; the nonce
// is a 64-bit little-endian counter per direction (from 0) behind 4 zero bytes. Keys: HKDF-SHA512 over the HAP session's
// pair-verify shared secret, salt = controller salt + accessory salt, info "HDS-Write-Encryption-Key" (controller to
// accessory) and "HDS-Read-Encryption-Key" (accessory to controller). Payload = header length (1) + header dictionary
// + message dictionary, both in HAP-NodeJS's HDS encoding (its exported DataStreamParser encodes and decodes them).
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { createConnection, Socket } from 'node:net';
import { DataStreamParser, DataStreamReader, DataStreamWriter, Int64 } from 'hap-nodejs';
import { track } from './cleanup';
import { withTimeout } from './wait';

/** What SetupDataStreamTransport gave the controller (see recording-hub.ts setupDataStream()). */
export interface HdsConnectOptions {
  /** The accessory's address: 127.0.0.1 (default) or ::1. */
  host?: string;
  port: number;
  /** The X25519 shared secret of the pair-verified HAP connection that wrote SetupDataStreamTransport. */
  sharedSecret: Buffer;
  /** The 32 bytes the controller sent in the SetupDataStreamTransport write. */
  controllerSalt: Buffer;
  /** The 32 bytes the accessory answered with. */
  accessorySalt: Buffer;
  /** Bound for the TCP connect. Default 5 s. */
  connectTimeoutMs?: number;
  /** Bound for each request (hello, open). Default 10 s (HAP-NodeJS's own request timeout). */
  requestTimeoutMs?: number;
}

export type HdsMessageType = 'event' | 'request' | 'response';

/** One decoded message received from the accessory. */
export interface HdsMessage {
  type: HdsMessageType;
  protocol: string;
  topic: string;
  /** Request/response id. */
  id?: number;
  /** Response header status (HDSStatus: 0 success, 6 protocol-specific error, ...). */
  status?: number;
  message: Record<string, unknown>;
  receivedAt: number;
  /** Order of arrival on this connection, from 1. */
  seq: number;
}

/** A request answered with a non-zero header status (e.g. dataSend/open refused: reason in `reason`). */
export class HdsRequestError extends Error {
  constructor(readonly protocol: string, readonly topic: string, readonly status: number, readonly reason: number | undefined) {
    super(`HDS ${protocol}/${topic} refused: status ${status}${reason === undefined ? '' : `, reason ${reason} (${closeReasonName(reason)})`}`);
  }
}

/** HDSProtocolSpecificErrorReason, as the `reason` of dataSend/close and of refused opens. */
export const HdsCloseReason = {
  NORMAL: 0,
  NOT_ALLOWED: 1,
  BUSY: 2,
  CANCELLED: 3,
  UNSUPPORTED: 4,
  UNEXPECTED_FAILURE: 5,
  TIMEOUT: 6,
  BAD_DATA: 7,
  PROTOCOL_ERROR: 8,
  INVALID_CONFIGURATION: 9,
} as const;

export function closeReasonName(reason: number): string {
  return Object.entries(HdsCloseReason).find(([, value]) => value === reason)?.[0] ?? 'unknown';
}

/** One whole mp4 piece as the hub reassembles it from data chunks. */
export interface RecordingPacket {
  kind: 'init' | 'fragment';
  data: Buffer;
  /** dataSequenceNumber (1 = the init segment). */
  sequence: number;
  /** Sizes of the chunks it arrived in, in order. */
  chunkSizes: number[];
  /** When the first and the last chunk arrived (Date.now()). */
  firstChunkAt: number;
  receivedAt: number;
}

export interface OpenRecordingOptions {
  /** Send dataSend/ack {endOfStream: true} as soon as the accessory marks the end of the stream, like a hub. Default true. */
  autoAck?: boolean;
  /** Bound for the open request. Default: the connection's request timeout. */
  timeoutMs?: number;
}

const MAX_PAYLOAD_LENGTH = 0xfffff; // HAP-NodeJS DataStreamConnection.MAX_PAYLOAD_LENGTH
/** HAP-NodeJS's (and Apple's) chunk size for recording data. */
export const HDS_MAX_CHUNK = 0x40000;
const AUTH_TAG_LENGTH = 16;
const FRAME_HEADER_LENGTH = 4;
const MAX_RECORDED_MESSAGES = 1_000;
const END_TIMEOUT_MS = 2_000;

function hdsKey(sharedSecret: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha512', sharedSecret, salt, Buffer.from(info), 32));
}

function nonceFor(counter: bigint): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64LE(counter, 4);
  return nonce;
}

function asDictionary(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value)
    ? value as Record<string, unknown>
    : {};
}

function asNumber(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

function encodeDictionary(value: Record<string, unknown>): Buffer {
  const writer = new DataStreamWriter();
  DataStreamParser.encode(value, writer);
  return writer.getData();
}

function decodeDictionary(data: Buffer): Record<string, unknown> {
  // DataStreamParser.decode is typed `any` by HAP-NodeJS; it is narrowed right here.
  const decoded: unknown = DataStreamParser.decode(new DataStreamReader(data));
  return asDictionary(decoded);
}

interface PendingRequest {
  protocol: string;
  topic: string;
  resolve: (response: HdsMessage) => void;
  reject: (err: Error) => void;
}

/** An encrypted HDS connection to an accessory, seen from the controller. Registered for cleanup until end(). */
export class HdsClient {
  private readonly writeKey: Buffer;
  private readonly readKey: Buffer;
  private writeNonce = 0n;
  private readNonce = 0n;
  private inbound: Buffer = Buffer.alloc(0);
  private nextRequestId = 1;
  private seq = 0;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly recorded: HdsMessage[] = [];
  private readonly streams = new Map<number, RecordingStream>();
  private readonly listeners = new Set<(message: HdsMessage) => void>();
  private readonly closeListeners = new Set<(why: string) => void>();
  private closedWhy: string | undefined;
  private ending = false;
  private nextStreamId = 1;
  private readonly untrack: () => void;
  readonly requestTimeoutMs: number;
  /** Frames that failed authentication or decoding (the connection is dropped at the first one), and handler errors. */
  readonly protocolErrors: string[] = [];

  /** host:port of the accessory, for messages. */
  private readonly where: string;

  private constructor(private readonly socket: Socket, readonly port: number, options: HdsConnectOptions) {
    const host = options.host ?? '127.0.0.1';
    this.where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const salt = Buffer.concat([options.controllerSalt, options.accessorySalt]);
    this.writeKey = hdsKey(options.sharedSecret, salt, 'HDS-Write-Encryption-Key');
    this.readKey = hdsKey(options.sharedSecret, salt, 'HDS-Read-Encryption-Key');
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.markClosed(`socket error: ${err.message}`));
    socket.on('close', () => this.markClosed(this.ending ? 'closed by the controller' : 'the accessory closed the connection'));
    this.untrack = track({ label: `HDS client for ${this.where}`, stop: () => this.end(), killNow: () => socket.destroy() });
  }

  /** Open the TCP connection to host:port (bounded). Call hello() next: the accessory expects it first. */
  static async connect(options: HdsConnectOptions): Promise<HdsClient> {
    if (options.controllerSalt.length !== 32 || options.accessorySalt.length !== 32) {
      throw new Error(`HDS key salts must be 32 bytes (controller ${options.controllerSalt.length}, accessory ${options.accessorySalt.length})`);
    }
    const host = options.host ?? '127.0.0.1';
    const socket = createConnection({ host, port: options.port });
    const connected = new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    try {
      await withTimeout(connected, options.connectTimeoutMs ?? 5_000, `HDS connect to ${host}:${options.port}`);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    socket.removeAllListeners('error');
    socket.removeAllListeners('connect');
    return new HdsClient(socket, options.port, options);
  }

  /** The connection is gone (closed by either side); the reason, or undefined while open. */
  get closed(): string | undefined {
    return this.closedWhy;
  }

  /** control/hello: the first message the accessory accepts; it identifies the connection by its keys. */
  async hello(timeoutMs = this.requestTimeoutMs): Promise<void> {
    try {
      await this.request('control', 'hello', {}, timeoutMs);
    } catch (err) {
      if (this.closedWhy !== undefined && !(err instanceof HdsRequestError)) {
        throw new Error(`${(err as Error).message}. The accessory drops a connection whose first frame it cannot decrypt: `
          + 'were the keys derived from the shared secret of the HAP connection that wrote SetupDataStreamTransport?');
      }
      throw err;
    }
  }

  /** Send a request and wait for its response (bounded). A non-zero header status rejects with HdsRequestError. */
  async request(protocol: string, topic: string, message: Record<string, unknown>, timeoutMs = this.requestTimeoutMs): Promise<HdsMessage> {
    this.assertOpen(`${protocol}/${topic}`);
    const id = this.nextRequestId++;
    const answered = new Promise<HdsMessage>((resolve, reject) => this.pending.set(id, { protocol, topic, resolve, reject }));
    this.sendFrame({ protocol, request: topic, id: new Int64(id) }, message);
    try {
      const response = await withTimeout(answered, timeoutMs, `HDS ${protocol}/${topic} response from ${this.where}`);
      if (response.status !== 0) {
        throw new HdsRequestError(protocol, topic, response.status ?? -1, asNumber(response.message.status));
      }
      return response;
    } finally {
      this.pending.delete(id);
    }
  }

  sendEvent(protocol: string, topic: string, message: Record<string, unknown>): void {
    this.assertOpen(`${protocol}/${topic}`);
    this.sendFrame({ protocol, event: topic }, message);
  }

  /**
   * dataSend/open for an HKSV recording, like a hub after motion. Resolves once the accessory accepted (the stream then
   * collects what arrives); rejects with HdsRequestError carrying the refusal reason (e.g. 1 NOT_ALLOWED, 2 BUSY).
   */
  async openRecording(streamId = this.nextStreamId++, options: OpenRecordingOptions = {}): Promise<RecordingStream> {
    if (this.streams.get(streamId)?.finished === false) {
      throw new Error(`HDS stream ${streamId} is still open on this connection`);
    }
    // Registered before the request: the accessory sends data right behind its open response.
    const stream = new RecordingStream(this, streamId, options.autoAck ?? true);
    this.streams.set(streamId, stream);
    try {
      await this.request('dataSend', 'open', { target: 'controller', type: 'ipcamera.recording', streamId }, options.timeoutMs);
    } catch (err) {
      this.streams.delete(streamId);
      throw err;
    }
    return stream;
  }

  /** Every message received so far except dataSend/data (those are in their RecordingStream), oldest first. */
  messages(): HdsMessage[] {
    return [...this.recorded];
  }

  onMessage(listener: (message: HdsMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the connection is closed (by either side); bounded. */
  async waitForClose(timeoutMs: number): Promise<string> {
    if (this.closedWhy !== undefined) {
      return this.closedWhy;
    }
    let remove: () => void = () => undefined;
    const closed = new Promise<string>((resolve) => {
      this.closeListeners.add(resolve);
      remove = () => this.closeListeners.delete(resolve);
    });
    return withTimeout(closed, timeoutMs, `HDS connection ${this.where} to close`).finally(remove);
  }

  /** Close the socket (FIN, then destroy after a bound). Idempotent. */
  async end(): Promise<void> {
    this.untrack();
    if (this.closedWhy === undefined) {
      this.ending = true;
      this.socket.end();
      await this.waitForClose(END_TIMEOUT_MS).catch(() => undefined);
    }
    this.socket.destroy();
    this.markClosed('closed by the controller');
  }

  private assertOpen(what: string): void {
    if (this.closedWhy !== undefined) {
      throw new Error(`HDS connection ${this.where} is closed (${this.closedWhy}); cannot send ${what}`);
    }
  }

  private sendFrame(header: Record<string, unknown>, message: Record<string, unknown>): void {
    const headerBytes = encodeDictionary(header);
    const payload = Buffer.concat([Buffer.from([headerBytes.length]), headerBytes, encodeDictionary(message)]);
    if (payload.length > MAX_PAYLOAD_LENGTH) {
      throw new Error(`HDS payload of ${payload.length} bytes exceeds the maximum ${MAX_PAYLOAD_LENGTH}`);
    }
    const frameHeader = Buffer.from([1, (payload.length >> 16) & 0xff, (payload.length >> 8) & 0xff, payload.length & 0xff]);
    const cipher = createCipheriv('chacha20-poly1305', this.writeKey, nonceFor(this.writeNonce++), { authTagLength: AUTH_TAG_LENGTH });
    cipher.setAAD(frameHeader, { plaintextLength: payload.length });
    const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
    this.socket.write(Buffer.concat([frameHeader, ciphertext, cipher.getAuthTag()]));
  }

  private onData(chunk: Buffer): void {
    this.inbound = this.inbound.length === 0 ? chunk : Buffer.concat([this.inbound, chunk]);
    // Bounded by the data at hand: every turn consumes one whole frame or stops.
    while (this.inbound.length >= FRAME_HEADER_LENGTH && this.closedWhy === undefined) {
      const length = this.inbound.readUIntBE(1, 3);
      if (length > MAX_PAYLOAD_LENGTH) {
        this.fail(`frame announces ${length} bytes, above the maximum ${MAX_PAYLOAD_LENGTH}`);
        return;
      }
      const frameLength = FRAME_HEADER_LENGTH + length + AUTH_TAG_LENGTH;
      if (this.inbound.length < frameLength) {
        return;
      }
      const frame = this.inbound.subarray(0, frameLength);
      this.inbound = this.inbound.subarray(frameLength);
      if (frame[0] !== 1) {
        this.fail(`frame of unknown type ${frame[0]}`);
        return;
      }
      let payload: Buffer;
      try {
        const decipher = createDecipheriv('chacha20-poly1305', this.readKey, nonceFor(this.readNonce), { authTagLength: AUTH_TAG_LENGTH });
        decipher.setAAD(frame.subarray(0, FRAME_HEADER_LENGTH), { plaintextLength: length });
        decipher.setAuthTag(frame.subarray(FRAME_HEADER_LENGTH + length));
        payload = Buffer.concat([decipher.update(frame.subarray(FRAME_HEADER_LENGTH, FRAME_HEADER_LENGTH + length)), decipher.final()]);
        this.readNonce++;
      } catch (err) {
        this.fail(`frame ${this.readNonce} failed authentication: ${(err as Error).message}`);
        return;
      }
      let message: HdsMessage;
      try {
        message = this.decodePayload(payload);
      } catch (err) {
        this.fail(`frame ${this.readNonce - 1n} could not be decoded: ${(err as Error).message}`);
        return;
      }
      try {
        this.dispatch(message);
      } catch (err) {
        // Our own handlers (e.g. an auto-ack on a closing socket): keep it visible, the connection itself is fine.
        this.protocolErrors.push(`handling ${message.protocol}/${message.topic}: ${(err as Error).message}`);
      }
    }
  }

  private decodePayload(payload: Buffer): HdsMessage {
    const headerLength = payload[0];
    const header = decodeDictionary(payload.subarray(1, 1 + headerLength));
    const message = decodeDictionary(payload.subarray(1 + headerLength));
    const protocol = String(header.protocol);
    const base = { protocol, message, receivedAt: Date.now(), seq: ++this.seq };
    if (typeof header.event === 'string') {
      return { ...base, type: 'event', topic: header.event };
    }
    if (typeof header.request === 'string') {
      return { ...base, type: 'request', topic: header.request, id: asNumber(header.id) };
    }
    if (typeof header.response === 'string') {
      return { ...base, type: 'response', topic: header.response, id: asNumber(header.id), status: asNumber(header.status) };
    }
    throw new Error(`header is neither event, request nor response: ${JSON.stringify(Object.keys(header))}`);
  }

  private dispatch(message: HdsMessage): void {
    const isData = message.type === 'event' && message.protocol === 'dataSend' && message.topic === 'data';
    if (!isData) {
      this.recorded.push(message);
      if (this.recorded.length > MAX_RECORDED_MESSAGES) {
        this.recorded.shift();
      }
    }
    if (message.type === 'response' && message.id !== undefined) {
      this.pending.get(message.id)?.resolve(message);
    } else if (message.type === 'event' && message.protocol === 'dataSend') {
      const streamId = asNumber(message.message.streamId);
      const stream = streamId === undefined ? undefined : this.streams.get(streamId);
      stream?.handleEvent(message);
    }
    for (const listener of [...this.listeners]) {
      listener(message);
    }
  }

  private fail(why: string): void {
    this.protocolErrors.push(why);
    this.markClosed(`protocol error: ${why}`);
    this.socket.destroy();
  }

  private markClosed(why: string): void {
    if (this.closedWhy !== undefined) {
      return;
    }
    this.closedWhy = why;
    for (const request of this.pending.values()) {
      request.reject(new Error(`HDS connection closed before the ${request.protocol}/${request.topic} response: ${why}`));
    }
    this.pending.clear();
    for (const stream of this.streams.values()) {
      stream.connectionClosed(why);
    }
    for (const listener of [...this.closeListeners]) {
      listener(why);
    }
  }
}

/** A partly received mp4 piece. */
interface Assembly {
  kind: 'init' | 'fragment';
  sequence: number;
  chunks: Buffer[];
  totalSize: number | undefined;
  firstChunkAt: number;
}

/**
 * One dataSend recording stream: reassembles chunks into whole packets and records every rule the accessory broke
 * (see violations()). The hub ends it with close(reason); the accessory ends it with isLast (then ack) or its own close.
 */
export class RecordingStream {
  readonly openedAt = Date.now();
  private readonly received: RecordingPacket[] = [];
  private readonly problems: string[] = [];
  private readonly waiters = new Set<() => void>();
  private assembly: Assembly | undefined;
  private chunkCount = 0;
  private endSeen = false;
  private acked = false;
  private hubClose: { reason: number; at: number } | undefined;
  private accessoryClose: { reason: number | undefined; at: number } | undefined;
  private lostWhy: string | undefined;
  private lateChunks = 0;

  /** @internal created by HdsClient.openRecording */
  constructor(private readonly client: HdsClient, readonly streamId: number, private readonly autoAck: boolean) {}

  /** Whole packets so far: the init segment first, then fragments, in arrival order. */
  packets(): RecordingPacket[] {
    return [...this.received];
  }

  get init(): RecordingPacket | undefined {
    return this.received.find((p) => p.kind === 'init');
  }

  fragments(): RecordingPacket[] {
    return this.received.filter((p) => p.kind === 'fragment');
  }

  /** Data chunks received (for this stream). */
  get chunks(): number {
    return this.chunkCount;
  }

  /** The accessory marked the last packet (endOfStream: true), i.e. the recording delegate yielded isLast. */
  get ended(): boolean {
    return this.endSeen;
  }

  /** dataSend/close the accessory sent for this stream (reason may be absent if the accessory sent none). */
  get closedByAccessory(): { reason: number | undefined; at: number } | undefined {
    return this.accessoryClose;
  }

  get closedByHub(): { reason: number; at: number } | undefined {
    return this.hubClose;
  }

  /** The HDS connection dropped while the stream was live. */
  get lost(): string | undefined {
    return this.lostWhy;
  }

  /** Chunks that arrived after the hub closed the stream (in flight, or the accessory ignoring the close). */
  get chunksAfterHubClose(): number {
    return this.lateChunks;
  }

  /** Closed by either side, acknowledged, or lost with the connection: nothing more is expected. */
  get finished(): boolean {
    return this.hubClose !== undefined || this.accessoryClose !== undefined || this.acked || this.lostWhy !== undefined;
  }

  /** Protocol rules the accessory broke (chunk order, sizes, data after the end...): [] when all was well. */
  violations(): string[] {
    return [...this.problems];
  }

  /** dataSend/ack {endOfStream: true}: what a hub sends after the last packet. */
  ack(): void {
    this.acked = true;
    this.client.sendEvent('dataSend', 'ack', { streamId: this.streamId, endOfStream: true });
    this.notify();
  }

  /** dataSend/close {streamId, reason} from the hub (0 NORMAL: motion is over). */
  close(reason: number = HdsCloseReason.NORMAL): void {
    if (this.hubClose) {
      return;
    }
    this.hubClose = { reason, at: Date.now() };
    this.client.sendEvent('dataSend', 'close', { streamId: this.streamId, reason });
    this.notify();
  }

  waitForPackets(count: number, timeoutMs: number): Promise<RecordingPacket[]> {
    return this.waitFor(() => (this.received.length >= count ? this.packets() : undefined), timeoutMs, `${count} packets on HDS stream ${this.streamId}`);
  }

  /** Until `count` media fragments (not counting the init segment) arrived whole. */
  waitForFragments(count: number, timeoutMs: number): Promise<RecordingPacket[]> {
    return this.waitFor(() => (this.fragments().length >= count ? this.fragments() : undefined), timeoutMs, `${count} fragments on HDS stream ${this.streamId}`);
  }

  /** Until the accessory marked the end of the stream (isLast). */
  waitForEnd(timeoutMs: number): Promise<RecordingPacket[]> {
    return this.waitFor(() => (this.endSeen ? this.packets() : undefined), timeoutMs, `end of HDS stream ${this.streamId} (isLast)`);
  }

  /** Until the accessory sent dataSend/close for this stream; resolves with its reason. */
  waitForAccessoryClose(timeoutMs: number): Promise<number | undefined> {
    return this.waitFor(() => (this.accessoryClose ? { reason: this.accessoryClose.reason } : undefined), timeoutMs,
      `dataSend/close from the accessory on HDS stream ${this.streamId}`).then((c) => c.reason);
  }

  /** Resolves with probe()'s first defined value, re-checked on every change; rejects on timeout or a lost connection. */
  waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    let remove: () => void = () => undefined;
    const settled = new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const value = probe();
        if (value !== undefined) {
          resolve(value);
        } else if (this.lostWhy !== undefined) {
          reject(new Error(`HDS connection lost while waiting for ${what}: ${this.lostWhy}`));
        } else if (this.accessoryClose && !this.endSeen) {
          reject(new Error(`the accessory closed HDS stream ${this.streamId} (reason ${this.describeReason()}) while waiting for ${what}`));
        }
      };
      this.waiters.add(check);
      remove = () => this.waiters.delete(check);
      check();
    });
    const summary = (): string => `; so far ${this.received.length} packets, ${this.chunkCount} chunks, ended ${this.endSeen}`;
    return withTimeout(settled, timeoutMs, what).catch((err: Error) => {
      throw new Error(`${err.message}${summary()}`);
    }).finally(remove);
  }

  /** @internal from HdsClient */
  handleEvent(event: HdsMessage): void {
    if (event.topic === 'data') {
      this.handleData(event);
    } else if (event.topic === 'close') {
      this.accessoryClose = { reason: asNumber(event.message.reason), at: event.receivedAt };
    } else {
      this.problems.push(`unexpected dataSend/${event.topic} event from the accessory`);
    }
    this.notify();
  }

  /** @internal from HdsClient */
  connectionClosed(why: string): void {
    if (!this.hubClose && !this.accessoryClose && !this.acked) {
      this.lostWhy = why;
    }
    this.notify();
  }

  private describeReason(): string {
    const reason = this.accessoryClose?.reason;
    return reason === undefined ? 'none' : `${reason} ${closeReasonName(reason)}`;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) {
      waiter();
    }
  }

  private handleData(event: HdsMessage): void {
    const raw = event.message.packets;
    // HAP-NodeJS sends an array of one; the specification's example shows a bare dictionary.
    const packets = Array.isArray(raw) ? raw : [raw];
    for (const packet of packets) {
      this.handleChunk(asDictionary(packet), event.receivedAt);
    }
    const endOfStream = event.message.endOfStream;
    if (endOfStream === true) {
      if (this.assembly !== undefined) {
        this.problems.push(`endOfStream while packet ${this.assembly.sequence} is incomplete`);
      }
      this.endSeen = true;
      if (this.autoAck && !this.hubClose && this.client.closed === undefined) {
        this.ack();
      }
    }
  }

  private handleChunk(packet: Record<string, unknown>, at: number): void {
    this.chunkCount++;
    if (this.hubClose) {
      this.lateChunks++;
    }
    const data = packet.data;
    const meta = asDictionary(packet.metadata);
    const dataType = meta.dataType;
    const sequence = asNumber(meta.dataSequenceNumber);
    const chunkNumber = asNumber(meta.dataChunkSequenceNumber);
    const isLastChunk = meta.isLastDataChunk;
    const where = `chunk ${this.chunkCount} (sequence ${sequence}, chunk ${chunkNumber})`;
    if (!Buffer.isBuffer(data) || sequence === undefined || chunkNumber === undefined || typeof isLastChunk !== 'boolean'
      || (dataType !== 'mediaInitialization' && dataType !== 'mediaFragment')) {
      this.problems.push(`${where}: malformed packet, metadata ${JSON.stringify(meta)}`);
      return;
    }
    if (this.endSeen) {
      this.problems.push(`${where}: data after endOfStream`);
    }
    if (data.length > HDS_MAX_CHUNK) {
      this.problems.push(`${where}: ${data.length} bytes, above the ${HDS_MAX_CHUNK}-byte chunk size`);
    }
    const kind = dataType === 'mediaInitialization' ? 'init' : 'fragment';
    if (chunkNumber === 1) {
      if (this.assembly !== undefined) {
        this.problems.push(`${where}: packet ${this.assembly.sequence} never got its last chunk`);
      }
      const expected = (this.received.at(-1)?.sequence ?? 0) + 1;
      if (sequence !== expected) {
        this.problems.push(`${where}: dataSequenceNumber ${sequence}, expected ${expected}`);
      }
      if ((kind === 'init') !== (this.received.length === 0)) {
        this.problems.push(`${where}: ${dataType} ${kind === 'init' ? 'after the first packet' : 'as the first packet'}`);
      }
      this.assembly = { kind, sequence, chunks: [], totalSize: asNumber(meta.dataTotalSize), firstChunkAt: at };
    } else if (this.assembly === undefined || this.assembly.sequence !== sequence || this.assembly.chunks.length + 1 !== chunkNumber
      || this.assembly.kind !== kind) {
      this.problems.push(`${where}: out of order (assembling ${this.assembly ? `sequence ${this.assembly.sequence} `
        + `after chunk ${this.assembly.chunks.length}` : 'nothing'})`);
      return;
    }
    const assembly = this.assembly as Assembly;
    assembly.chunks.push(data);
    if (isLastChunk) {
      const whole = Buffer.concat(assembly.chunks);
      if (assembly.totalSize !== undefined && assembly.totalSize !== whole.length) {
        this.problems.push(`packet ${sequence}: dataTotalSize ${assembly.totalSize} but ${whole.length} bytes arrived`);
      }
      this.received.push({
        kind: assembly.kind,
        data: whole,
        sequence: assembly.sequence,
        chunkSizes: assembly.chunks.map((c) => c.length),
        firstChunkAt: assembly.firstChunkAt,
        receivedAt: at,
      });
      this.assembly = undefined;
    }
  }
}
