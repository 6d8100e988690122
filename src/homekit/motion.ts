import type { HAP, PlatformAccessory, Service } from 'homebridge';
import { MOTION_MAX_ON_MS } from '../settings';

/**
 * A HomeKit MotionSensor fed by camera events. Motion stays detected for the hold time after the last "on", so cameras that
 * only send "on" pulses, or flap, read as one event; "off" ends it only once the hold has passed. A camera that has shown
 * it reports "off" keeps motion on for as long as it reports motion (HKSV records while motion is on), up to a cap in case
 * an "off" is lost. Offline shows as a fault.
 */
export class MotionSensor {
  readonly service: Service;
  private readonly holdMs: number;
  private lastOn = 0;
  private clearTimer?: NodeJS.Timeout;
  private detected = false;
  /** The camera's own state, as last reported (momentary events do not change it). */
  private reportedOn = false;
  /** This camera sends "off" events, so its "on" can be trusted to last until one comes. */
  private sendsOff = false;

  constructor(private readonly hap: HAP, accessory: PlatformAccessory, name: string, subtype: string, holdSeconds: number) {
    this.holdMs = holdSeconds * 1000;
    const S = hap.Service.MotionSensor;
    this.service = accessory.getServiceById(S, subtype) ?? accessory.addService(S, name, subtype);
    const C = hap.Characteristic;
    this.service.setCharacteristic(C.Name, name);
    // Start from a clean state: a cached "detected" from before a restart would never clear.
    this.service.updateCharacteristic(C.MotionDetected, false);
    this.service.getCharacteristic(C.StatusActive);
    this.service.getCharacteristic(C.StatusFault);
    this.setOnline(true);
  }

  /** Motion on (or a momentary event) starts or extends the hold; off clears once the hold has passed. */
  update(active: boolean, momentary = false): void {
    if (active) {
      this.lastOn = Date.now();
      this.reportedOn ||= !momentary;
      this.set(true);
      this.schedule(this.holdMs);
    } else {
      this.sendsOff = true;
      this.reportedOn = false;
      if (this.detected) {
        this.schedule(Math.max(0, this.lastOn + this.holdMs - Date.now()));
      }
    }
  }

  setOnline(online: boolean): void {
    const C = this.hap.Characteristic;
    this.service.updateCharacteristic(C.StatusActive, online);
    this.service.updateCharacteristic(C.StatusFault, online ? C.StatusFault.NO_FAULT : C.StatusFault.GENERAL_FAULT);
  }

  dispose(): void {
    clearTimeout(this.clearTimer);
  }

  private schedule(ms: number): void {
    clearTimeout(this.clearTimer);
    this.clearTimer = setTimeout(() => this.holdEnded(), ms);
  }

  private holdEnded(): void {
    const still = MOTION_MAX_ON_MS - (Date.now() - this.lastOn);
    if (this.reportedOn && this.sendsOff && still > 0) {
      this.schedule(still);
      return;
    }
    this.reportedOn = false;
    this.set(false);
  }

  private set(detected: boolean): void {
    if (detected !== this.detected) {
      this.detected = detected;
      this.service.updateCharacteristic(this.hap.Characteristic.MotionDetected, detected);
    }
  }
}

/**
 * Every motion sensor of a camera's cached accessory shows "not responding" (StatusActive off, a fault): after a
 * restart Home would otherwise show the last state from before it, for a camera that has not answered yet. The camera's
 * sensors are set up afresh (and online) once it answers.
 */
export function sensorsNotResponding(hap: HAP, accessory: PlatformAccessory): number {
  const C = hap.Characteristic;
  const sensors = accessory.services.filter((s) => s.UUID === hap.Service.MotionSensor.UUID);
  for (const service of sensors) {
    service.updateCharacteristic(C.MotionDetected, false);
    service.updateCharacteristic(C.StatusActive, false);
    service.updateCharacteristic(C.StatusFault, C.StatusFault.GENERAL_FAULT);
  }
  return sensors.length;
}
