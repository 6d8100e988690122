'use strict';
// The settings page's server, forked by the Homebridge UI while the page is open. Everything it answers comes from the
// plugin's compiled code (dist/ui/handlers.js); this file only connects it to @homebridge/plugin-ui-utils, which is ESM
// from 2.x on, hence the dynamic import from this CommonJS file.
const { join } = require('node:path');

async function main() {
  const { HomebridgePluginUiServer, RequestError } = await import('@homebridge/plugin-ui-utils');
  const { CourtyardUiHandlers } = require(join(__dirname, '..', 'dist', 'ui', 'handlers.js'));

  class CourtyardUiServer extends HomebridgePluginUiServer {
    constructor() {
      super();
      const handlers = new CourtyardUiHandlers({
        storagePath: this.homebridgeStoragePath,
        push: (event, data) => this.pushEvent(event, data),
        discoveryTarget: process.env.COURTYARD_DISCOVERY_TARGET,
      });
      for (const path of handlers.paths()) {
        this.onRequest(path, async (body) => {
          try {
            return await handlers.handle(path, body);
          } catch (err) {
            // handle() words every failure as a UiError; plugin-ui-utils sends a RequestError's message to the page as it is.
            throw new RequestError(err.message, err.detail || {});
          }
        });
      }
      // The Homebridge UI ends this process when the page closes: unsubscribe a running event watch first (bounded).
      process.once('SIGTERM', () => {
        const exit = setTimeout(() => process.exit(0), 3000);
        handlers.close().finally(() => {
          clearTimeout(exit);
          process.exit(0);
        });
      });
      this.ready();
    }
  }
  return new CourtyardUiServer();
}

main().catch((err) => {
  console.error(`homebridge-courtyard settings server: ${err.message} (is the plugin installed completely? its dist/ folder is needed)`);
  process.exit(1);
});
