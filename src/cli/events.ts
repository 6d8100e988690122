// `homebridge-courtyard events`: the event history the plugin keeps, read without Homebridge running.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EventHistory, HistoryEntry } from '../store/history';
import type { EventsArgs } from './args';
import { EXIT_FAILED, EXIT_OK, jsonText, Output } from './output';

function line(camera: string, e: HistoryEntry): string {
  const when = new Date(e.at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '');
  const state = e.kind === 'ring' ? 'rang' : e.kind === 'offline' || e.kind === 'online' ? '' : e.active ? 'on' : 'off';
  return [when, camera, `${e.kind} ${state}`.trim(), e.topic ?? '', e.source ? `(${e.source})` : ''].filter(Boolean).join('  ');
}

export async function runEvents(args: EventsArgs, out: Output): Promise<number> {
  const dir = join(args.storage, 'courtyard');
  // Opening node-persist creates its folder: check first, so a wrong --storage is explained instead of made.
  if (!existsSync(dir)) {
    out.error(`no event history in ${dir}: is --storage the Homebridge storage path (the folder with config.json)?`);
    return EXIT_FAILED;
  }
  const all = (await EventHistory.open(dir)).all().sort((a, b) => a.name.localeCompare(b.name));
  const cameras = all.filter((c) => !args.camera || c.name.toLowerCase() === args.camera.toLowerCase())
    .map((c) => ({ ...c, events: c.events.slice(-args.limit) }));
  if (args.camera && cameras.length === 0) {
    out.error(`no history for a camera named "${args.camera}"; cameras with history: ${all.map((c) => c.name).join(', ') || 'none'}`);
    return EXIT_FAILED;
  }
  if (args.json) {
    out.line(jsonText({ cameras }));
  } else {
    // One timeline across cameras, oldest first, as a person reads what happened at the entrances.
    cameras.flatMap((c) => c.events.map((e) => ({ name: c.name, e }))).sort((a, b) => a.e.at - b.e.at)
      .forEach(({ name, e }) => out.line(line(name, e)));
  }
  return EXIT_OK;
}
