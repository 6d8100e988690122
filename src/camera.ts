import type { Logging, PlatformAccessory } from 'homebridge';
import type { CameraConfig } from './config';
import type { FfmpegChoice } from './media/ffmpeg-path';
import { DeviceInfo, OnvifDevice } from './onvif/device';
import { SoapError } from './onvif/soap';
import { CLOCK_OFFSET_REPORT_MS, CONNECT_RETRY_MAX_MS, CONNECT_RETRY_MIN_MS } from './settings';
import { backoffMs, humanDuration } from './util/backoff';
import { CameraLog } from './util/log';
import { registerSecret } from './util/redact';

/** What a camera needs from the platform: the HAP accessory for its identity, kept in Homebridge's cache. */
export interface AccessoryHost {
  accessoryFor(camera: CameraConfig, id: string, info: DeviceInfo): PlatformAccessory;
}

/** One camera's life: connect over ONVIF (retrying until it answers), then publish it with its identity and information. */
export class CourtyardCamera {
  readonly log: CameraLog;
  readonly device: OnvifDevice;
  accessory?: PlatformAccessory;
  private readonly abort = new AbortController();
  private retryTimer?: NodeJS.Timeout;
  private attempt = 0;
  private lastProblem = '';

  constructor(private readonly host: AccessoryHost, readonly config: CameraConfig, homebridgeLog: Logging,
    private readonly ffmpeg: FfmpegChoice) {
    this.log = new CameraLog(homebridgeLog, config.name);
    registerSecret(config.password);
    this.device = new OnvifDevice(config);
  }

  start(): void {
    for (const problem of this.ffmpeg.problems) {
      this.log.error(problem);
    }
    if (this.ffmpeg.path) {
      this.log.debug(`using ffmpeg ${this.ffmpeg.path} (from ${this.ffmpeg.source})`);
    }
    void this.connect();
  }

  stop(): void {
    this.abort.abort();
    clearTimeout(this.retryTimer);
  }

  private async connect(): Promise<void> {
    try {
      await this.device.connect(this.abort.signal);
      this.reportClock();
      const info = await this.device.getDeviceInformation(this.abort.signal);
      const id = info.serial || await this.device.getMacAddress(this.abort.signal).catch(() => undefined);
      if (!id) {
        throw new Error('the camera reports neither a serial number nor a MAC address, so it cannot be given a stable identity in Home');
      }
      this.accessory = this.host.accessoryFor(this.config, id, info);
      this.attempt = 0;
      this.log.info(`connected (${[info.manufacturer, info.model].filter(Boolean).join(' ') || 'ONVIF camera'}, firmware ` +
        `${info.firmware || 'unknown'}) and published in Home`);
    } catch (err) {
      if (this.abort.signal.aborted) {
        return;
      }
      this.retryLater(err);
    }
  }

  private reportClock(): void {
    const offset = this.device.clockOffsetMs;
    if (Math.abs(offset) >= CLOCK_OFFSET_REPORT_MS) {
      this.log.warn(`the camera's clock is ${humanDuration(offset)} ${offset > 0 ? 'ahead of' : 'behind'} this server; requests are ` +
        'signed with the camera\'s time so it still works, but turn on NTP in the camera so its event times are right');
    }
  }

  private retryLater(err: unknown): void {
    const wait = backoffMs(this.attempt++, CONNECT_RETRY_MIN_MS, CONNECT_RETRY_MAX_MS);
    const where = `${this.config.host}:${this.config.port}`;
    let problem = err instanceof Error ? err.message : String(err);
    if (err instanceof SoapError && err.kind === 'auth') {
      problem = `authentication failed for user "${this.config.username}": check "username" and "password"` +
        (Math.abs(this.device.clockOffsetMs) >= CLOCK_OFFSET_REPORT_MS
          ? ` (the camera's clock is ${humanDuration(this.device.clockOffsetMs)} off)` : '');
    }
    const line = `cannot connect to ${where}: ${problem}; retrying in ${humanDuration(wait)}`;
    // The same problem again is news only for the debug log; a new one is said out loud.
    if (problem !== this.lastProblem) {
      if (err instanceof SoapError && err.kind === 'auth') {
        this.log.error(line);
      } else {
        this.log.warn(`${line}${this.accessory ? '' : ' (it appears in Home once it answers)'}`);
      }
      this.lastProblem = problem;
    } else {
      this.log.debug(line);
    }
    this.retryTimer = setTimeout(() => void this.connect(), wait);
  }
}
