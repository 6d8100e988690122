import type { Logging } from 'homebridge';
import { redact } from './redact';

/**
 * What the plugin's parts log through: Homebridge's logger, a CameraLog, or a test's stand-in. A part that uses only
 * some levels takes `Pick<Log, ...>` of it, so any of these fits.
 */
export interface Log {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** Shown only when Homebridge runs with -D. */
  debug(msg: string): void;
}

/** A logger that puts the camera's name first and redacts credentials from every line. */
export class CameraLog implements Log {
  constructor(private readonly log: Logging, readonly name: string) {}

  info(msg: string): void {
    this.log.info(this.line(msg));
  }

  warn(msg: string): void {
    this.log.warn(this.line(msg));
  }

  error(msg: string): void {
    this.log.error(this.line(msg));
  }

  /** Shown only when Homebridge runs with -D. */
  debug(msg: string): void {
    this.log.debug(this.line(msg));
  }

  private line(msg: string): string {
    return redact(`${this.name}: ${msg}`.replace(/\s*\n\s*/g, ' | '));
  }
}
