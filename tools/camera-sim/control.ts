// The /sim/* control API on each camera's ONVIF port (for the demo and for tests in other processes).
import { IncomingMessage, ServerResponse } from 'node:http';
import { SimEvent, SimStats } from './types';

/** What the control API drives; implemented by SimCamera. */
export interface SimControl {
  motion(on: boolean): SimEvent;
  doorbell(): SimEvent;
  lineCrossing(): SimEvent;
  person(on: boolean): SimEvent;
  tamper(on: boolean): SimEvent;
  offlineFor(ms: number): void;
  restart(): Promise<void>;
  dropSubscriptions(): void;
  fullStats(): Promise<SimStats>;
}

const MAX_OFFLINE_MS = 10 * 60_000;

function json(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
  res.end(text);
}

function flag(url: URL): boolean | undefined {
  const on = url.searchParams.get('on');
  return on === '1' || on === 'true' ? true : on === '0' || on === 'false' ? false : undefined;
}

export async function handleControl(sim: SimControl, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const route = url.pathname.replace(/^\/sim\//, '');
  if (route === 'stats') {
    if (req.method !== 'GET') {
      json(res, 405, { error: 'use GET' });
      return;
    }
    json(res, 200, await sim.fullStats());
    return;
  }
  if (req.method !== 'POST') {
    json(res, 405, { error: 'use POST' });
    return;
  }
  const on = flag(url);
  const needFlag = (action: (v: boolean) => SimEvent): void => {
    if (on === undefined) {
      json(res, 400, { error: 'on=1 or on=0 required' });
    } else {
      json(res, 200, action(on));
    }
  };
  switch (route) {
  case 'motion': needFlag((v) => sim.motion(v)); return;
  case 'person': needFlag((v) => sim.person(v)); return;
  case 'tamper': needFlag((v) => sim.tamper(v)); return;
  case 'doorbell': json(res, 200, sim.doorbell()); return;
  case 'line': json(res, 200, sim.lineCrossing()); return;
  case 'drop-subscriptions': sim.dropSubscriptions(); json(res, 200, { ok: true }); return;
  case 'restart':
    // Answer first: the reboot closes this very connection.
    res.on('finish', () => void sim.restart());
    json(res, 200, { ok: true });
    return;
  case 'offline': {
    if (on === false) {
      json(res, 200, { ok: true, offline: false }); // reachable, so already online
      return;
    }
    const forMs = Number(url.searchParams.get('for'));
    if (on !== true || !Number.isFinite(forMs) || forMs <= 0 || forMs > MAX_OFFLINE_MS) {
      // Going offline closes this port, so over HTTP the camera must know when to come back by itself.
      json(res, 400, { error: `on=1&for=<ms> required (1..${MAX_OFFLINE_MS})` });
      return;
    }
    res.on('finish', () => sim.offlineFor(forMs));
    json(res, 200, { ok: true, offline: true, forMs });
    return;
  }
  default:
    json(res, 404, { error: `unknown control ${route}` });
  }
}
