// "History and health" on the settings page: per configured camera, what the plugin recorded lately (newest first),
// whether the plugin last saw it online, when it last sent an event, and whether it answers right now.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { soapRequest } from '../onvif/soap';
import { CameraHistory, EventHistory, HistoryEntry } from '../store/history';
import { hostPort, parseHost } from '../util/address';
import { redact } from '../util/redact';
import { UI_HISTORY_SHOWN, UI_REACH_TIMEOUT_MS } from '../settings';


export interface HistoryLine {
  at: number;
  kind: string;
  /** e.g. "doorbell rang", "motion on", "went offline: connection refused". */
  text: string;
  topic?: string;
  source?: string;
}

export interface CameraHealth {
  name: string;
  address?: string;
  /** As the plugin last saw it: offline after an "offline" entry, online after any later entry, unknown without history. */
  status: 'online' | 'offline' | 'unknown';
  /** When the status began (the offline/online entry), if recorded. */
  since?: number;
  /** The last camera event (not an online/offline change). */
  lastEventAt?: number;
  /** Whether the camera answered an ONVIF call just now, and why not. */
  answers?: boolean;
  answerError?: string;
  events: HistoryLine[];
}

export function lineText(e: HistoryEntry): string {
  switch (e.kind) {
    case 'ring': return 'doorbell rang';
    case 'offline': return `went offline${e.source ? `: ${redact(e.source)}` : ''}`;
    case 'online': return 'back online';
    default: return `${e.kind} ${e.active ? 'on' : 'off'}`;
  }
}

/** One camera's health from its recorded history (oldest first, as stored). */
export function healthOf(name: string, history: CameraHistory | undefined, limit = UI_HISTORY_SHOWN): CameraHealth {
  const events = history?.events ?? [];
  const lastChange = [...events].reverse().find((e) => e.kind === 'offline' || e.kind === 'online');
  const lastEvent = [...events].reverse().find((e) => e.kind !== 'offline' && e.kind !== 'online');
  const status: CameraHealth['status'] = lastChange?.kind === 'offline' ? 'offline' : events.length ? 'online' : 'unknown';
  return {
    name,
    status,
    since: lastChange?.at,
    lastEventAt: lastEvent?.at,
    events: events.slice(-limit).reverse().map((e) => ({ at: e.at, kind: e.kind, text: lineText(e), topic: e.topic, source: e.source && redact(e.source) })),
  };
}

/** Reads the store the plugin writes, without creating it when Homebridge never ran the plugin here. */
async function histories(storagePath: string): Promise<CameraHistory[]> {
  const dir = join(storagePath, 'courtyard');
  if (!existsSync(dir)) {
    return [];
  }
  try {
    return (await EventHistory.open(dir)).all();
  } catch {
    // The plugin may be writing a file this very moment: one more read gets the whole file.
    await new Promise((r) => setTimeout(r, 200));
    return (await EventHistory.open(dir)).all();
  }
}

async function answersNow(host: string, port: number, signal: AbortSignal): Promise<{ answers: boolean; answerError?: string }> {
  try {
    // Pre-authentication in ONVIF Core: says "the camera is there and speaks ONVIF" without needing the password.
    await soapRequest(`http://${hostPort(host, port)}/onvif/device_service`, '<tds:GetSystemDateAndTime/>', { timeoutMs: UI_REACH_TIMEOUT_MS, signal });
    return { answers: true };
  } catch (err) {
    return { answers: false, answerError: redact((err as Error).message) };
  }
}

/** Health of each camera the page lists (the form's cameras, by name), in the page's order. */
export async function cameraHealth(storagePath: string, body: Record<string, unknown>, signal: AbortSignal): Promise<{ cameras: CameraHealth[] }> {
  const listed = (Array.isArray(body.cameras) ? body.cameras : []) as Array<Record<string, unknown>>;
  const all = await histories(storagePath);
  const byName = new Map(all.map((h) => [h.name.toLowerCase(), h]));
  const cameras = await Promise.all(listed.filter((c) => typeof c?.name === 'string' && c.name.trim()).map(async (c) => {
    const name = (c.name as string).trim();
    const health = healthOf(name, byName.get(name.toLowerCase()));
    const parsed = typeof c.host === 'string' ? parseHost(c.host.trim()) : undefined;
    const port = c.port === undefined || c.port === '' ? 80 : Number(c.port);
    if (parsed && 'host' in parsed && Number.isInteger(port) && port > 0 && port < 65536) {
      health.address = hostPort(parsed.host, port);
      Object.assign(health, await answersNow(parsed.host, port, signal));
    }
    return health;
  }));
  return { cameras };
}
