import type { Logging } from 'homebridge';
import { redact } from './redact';

/** A logger that puts the camera's name first and redacts credentials from every line. */
export class CameraLog {
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
