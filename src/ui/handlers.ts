// The settings page's server side: every request the page makes, each bounded in time and answered with data or one
// sentence. homebridge-ui/server.js is a thin wrapper that hands these to @homebridge/plugin-ui-utils.
import { join } from 'node:path';
import { triggerToken } from '../store/trigger-token';
import { redact } from '../util/redact';
import { bounded, UiError } from './bounded';
import { checkCamera, snapshotOf } from './check';
import { discoverCameras, discoveryTarget } from './discover';
import { applyLearned, LearnChoice } from './config-edit';
import { cameraHealth } from './history';
import { Learner } from './learn';
import { LEARN_SUBSCRIBE_MS } from '../settings';

export { UiError } from './bounded';

export interface UiHost {
  /** Homebridge's storage path (HOMEBRIDGE_STORAGE_PATH): the plugin keeps its history and token under courtyard/. */
  storagePath: string;
  /** Sends an event to the page (plugin-ui-utils' pushEvent). */
  push(event: string, data: unknown): void;
  /** COURTYARD_DISCOVERY_TARGET: send the discovery probe there (unicast) instead of the multicast group. */
  discoveryTarget?: string;
}

interface Route {
  /** The bound of the whole request, everything included. */
  ms: number;
  /** "The camera check": how the timeout sentence names it. */
  what: string;
  /** What to do when it timed out. */
  hint: string;
  run(body: Record<string, unknown>, signal: AbortSignal): Promise<unknown>;
}

const CAMERA_HINT = 'check that the camera is on and reachable from the Homebridge server, then try again';

/**
 * The bounds the page relies on: the page itself gives up a few seconds after these (PAGE_MARGIN_MS), so a server that
 * died is reported too. Check: connect + profiles + a snapshot + two streams measured (12 s each at most).
 */
export const ROUTE_BOUNDS_MS: Record<string, number> = {
  '/discover': 45_000,
  '/check': 50_000,
  '/snapshot': 20_000,
  '/learn/start': LEARN_SUBSCRIBE_MS + 15_000,
  '/learn/stop': 10_000,
  '/learn/apply': 5_000,
  '/history': 15_000,
  '/triggers-token': 10_000,
};

export class CourtyardUiHandlers {
  private readonly routes: Record<string, Route>;
  private readonly learner: Learner;

  constructor(host: UiHost) {
    this.learner = new Learner(host.push);
    const r = (path: string, what: string, hint: string, run: Route['run']): [string, Route] => [path, { ms: ROUTE_BOUNDS_MS[path], what, hint, run }];
    this.routes = Object.fromEntries([
      r('/discover', 'The search for cameras', 'try again, or add the camera by its address',
        (body, signal) => discoverCameras(body, discoveryTarget(host.discoveryTarget), signal)),
      r('/check', 'The camera check', CAMERA_HINT, (body, signal) => checkCamera(body.camera, { video: body.video !== false }, signal)),
      r('/snapshot', 'The snapshot', CAMERA_HINT, (body, signal) => snapshotOf(body.camera, signal)),
      r('/learn/start', 'Starting to watch the camera\'s events', CAMERA_HINT, (body, signal) => this.learner.start(body, signal)),
      r('/learn/stop', 'Stopping the watch', 'close and reopen the settings', () => this.learner.stop('stopped')),
      r('/learn/apply', 'Working out the change', 'try again', async (body) => applyLearned(
        (typeof body.camera === 'object' && body.camera !== null ? body.camera : {}) as Record<string, unknown>, body as unknown as LearnChoice)),
      r('/history', 'Reading the history', 'close and reopen the settings', (body, signal) => cameraHealth(host.storagePath, body, signal)),
      r('/triggers-token', 'Reading the trigger token', 'close and reopen the settings',
        async () => ({ token: await triggerToken(join(host.storagePath, 'courtyard')) })),
    ]);
  }

  paths(): string[] {
    return Object.keys(this.routes);
  }

  /** Answers one request within its bound; every failure is a UiError with a sentence, never a password. */
  async handle(path: string, body: unknown): Promise<unknown> {
    const route = this.routes[path];
    if (!route) {
      throw new UiError(`The settings server has no "${path}"; reload the page (the plugin may have been updated).`);
    }
    const input = typeof body === 'object' && body !== null && !Array.isArray(body) ? body as Record<string, unknown> : {};
    try {
      return await bounded(route.ms, route.what, route.hint, (signal) => route.run(input, signal));
    } catch (err) {
      if (err instanceof UiError) {
        throw new UiError(redact(err.message), err.detail);
      }
      throw new UiError(`${route.what} failed: ${redact((err as Error).message)}.`);
    }
  }

  /** The page closed: end a watch still running so the camera's subscription slot is freed. */
  async close(): Promise<void> {
    await this.learner.stop('stopped');
  }
}
