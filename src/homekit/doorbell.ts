import type { HAP, PlatformAccessory, Service } from 'homebridge';

/**
 * The entrance doorbell: a ring is ProgrammableSwitchEvent SINGLE_PRESS on the Doorbell service (the Home app's rich
 * notification with the camera's snapshot), plus, optionally, a stateless switch for automations. Rings within the cooldown
 * are one visitor.
 */
export class Doorbell {
  private readonly service: Service;
  private readonly switchService?: Service;
  private lastRing = -Infinity;

  constructor(private readonly hap: HAP, accessory: PlatformAccessory, name: string, private readonly cooldownMs: number, withSwitch: boolean) {
    const S = hap.Service;
    this.service = accessory.getService(S.Doorbell) ?? accessory.addService(S.Doorbell, name);
    this.service.setCharacteristic(hap.Characteristic.Name, name);
    this.service.setPrimaryService(true);
    const existingSwitch = accessory.getServiceById(S.StatelessProgrammableSwitch, 'doorbell');
    if (withSwitch) {
      this.switchService = existingSwitch ?? accessory.addService(S.StatelessProgrammableSwitch, `${name} Button`, 'doorbell');
      // Only a single press exists: HomeKit hides the double and long press choices in automations.
      this.switchService.getCharacteristic(hap.Characteristic.ProgrammableSwitchEvent)
        .setProps({ validValues: [hap.Characteristic.ProgrammableSwitchEvent.SINGLE_PRESS] });
    } else if (existingSwitch) {
      accessory.removeService(existingSwitch);
    }
  }

  /** Rings unless the last ring was within the cooldown; says whether it rang. */
  ring(): boolean {
    const now = Date.now();
    if (now - this.lastRing < this.cooldownMs) {
      return false;
    }
    this.lastRing = now;
    const press = this.hap.Characteristic.ProgrammableSwitchEvent.SINGLE_PRESS;
    this.service.updateCharacteristic(this.hap.Characteristic.ProgrammableSwitchEvent, press);
    this.switchService?.updateCharacteristic(this.hap.Characteristic.ProgrammableSwitchEvent, press);
    return true;
  }
}
