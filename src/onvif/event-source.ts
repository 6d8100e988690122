import { EventEmitter } from 'node:events';
import type { OnvifDevice } from './device';
import { SoapError } from './soap';

export interface EventsLog {
  info(msg: string): void;
  warn(msg: string): void;
  debug(msg: string): void;
}

/**
 * What PullPoint and push subscriptions share: one loop per camera that stop() ends promptly, waits that stop() cuts
 * short, and the online/offline reports the rest of the plugin shows in Home.
 *
 * Emits 'notification' (RawNotification), 'offline' (reason: string), 'online', 'subscribed'.
 */
export abstract class CameraEventSource extends EventEmitter {
  protected running = false;
  protected abort?: AbortController;
  /** Ends the current wait() early. */
  protected wake?: () => void;
  private offlineReason?: string;
  private loopDone: Promise<void> = Promise.resolve();

  constructor(protected readonly device: OnvifDevice, protected readonly log: EventsLog) {
    super();
  }

  get online(): boolean {
    return this.offlineReason === undefined;
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
