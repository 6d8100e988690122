'use strict';
// The custom UI's server, forked by the Homebridge UI while the plugin's settings page is open.
// It lets the committee test a camera's address and password before saving, with the same code the plugin runs.
const { join } = require('node:path');

async function main() {
  const { HomebridgePluginUiServer, RequestError } = await import('@homebridge/plugin-ui-utils');
  const { OnvifDevice } = require(join(__dirname, '..', 'dist', 'onvif', 'device.js'));
  const { parseConfig } = require(join(__dirname, '..', 'dist', 'config.js'));
  const { triggerToken } = require(join(__dirname, '..', 'dist', 'store', 'trigger-token.js'));

  class CourtyardUiServer extends HomebridgePluginUiServer {
    constructor() {
      super();
      this.onRequest('/test-camera', (camera) => this.testCamera(camera));
      this.onRequest('/triggers-token', () => this.triggersToken());
      this.ready();
    }

    /** The manual trigger token, made on first use (the same store the plugin reads). */
    async triggersToken() {
      return { token: await triggerToken(join(this.homebridgeStoragePath, 'courtyard')) };
    }

    async testCamera(raw) {
      const { config, errors } = parseConfig({ cameras: [raw] });
      if (errors.length) {
        throw new RequestError(errors[0], { field: true });
      }
      const camera = config.cameras[0];
      const device = new OnvifDevice(camera);
      try {
        await device.connect();
        const info = await device.getDeviceInformation();
        return { info, clockOffsetMs: Math.round(device.clockOffsetMs) };
      } catch (err) {
        throw new RequestError(`Camera "${camera.name}": ${err.message}`, { kind: err.kind });
      }
    }
  }
  return new CourtyardUiServer();
}

main().catch((err) => {
  console.error(`homebridge-courtyard UI server: ${err.message}`);
  process.exit(1);
});
