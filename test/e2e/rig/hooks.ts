// Mocha root hooks for the e2e run (loaded with --require): whatever a test file forgot to stop is stopped after the
// file, and a failing test gets the Homebridge log tail printed and its storage kept for post-mortem.
import type { Context } from 'mocha';
import { notifyTestFailure, stopAll } from './cleanup';

export const mochaHooks = {
  afterEach(this: Context): void {
    const test = this.currentTest;
    if (test?.state === 'failed') {
      notifyTestFailure(test.fullTitle());
    }
  },
  async afterAll(): Promise<void> {
    await stopAll();
  },
};
