import storage from 'node-persist';
import { HISTORY_LIMIT, HISTORY_WRITE_DELAY_MS } from '../settings';

/** One line of a camera's event history, as the custom UI and `homebridge-courtyard events` show it. */
export interface HistoryEntry {
  /** ms since the epoch, our clock (the camera's may be off). */
  at: number;
  /** An event kind (motion, person, input, ...) or what the plugin did with it: ring, offline, online. */
  kind: string;
  active: boolean;
  topic?: string;
  source?: string;
}

export interface CameraHistory {
  id: string;
  name: string;
  events: HistoryEntry[];
}

type Store = ReturnType<typeof storage.create>;

/**
 * The last events of every camera, kept with node-persist in the Homebridge storage path so they survive restarts.
 * Bounded per camera; writes are gathered for a second so a burst of events is one file write.
 */
export class EventHistory {
  private readonly cameras = new Map<string, CameraHistory>();
  private readonly dirty = new Set<string>();
  private writeTimer?: NodeJS.Timeout;

  private constructor(private readonly store: Store) {}

  static async open(dir: string): Promise<EventHistory> {
    const store = storage.create({ dir, writeQueue: true, expiredInterval: 0 });
    await store.init();
    const history = new EventHistory(store);
    for (const key of await store.keys()) {
      const value = await store.getItem(key) as CameraHistory | undefined;
      if (key.startsWith('camera:') && value && Array.isArray(value.events)) {
        history.cameras.set(value.id, value);
      }
    }
    return history;
  }

  record(id: string, name: string, entry: HistoryEntry): void {
    const camera = this.cameras.get(id) ?? { id, name, events: [] };
    camera.name = name;
    camera.events.push(entry);
    if (camera.events.length > HISTORY_LIMIT) {
      camera.events.splice(0, camera.events.length - HISTORY_LIMIT);
    }
    this.cameras.set(id, camera);
    this.dirty.add(id);
    this.writeTimer ??= setTimeout(() => void this.flush(), HISTORY_WRITE_DELAY_MS);
  }

  /** Every camera's history, newest event last. */
  all(): CameraHistory[] {
    return [...this.cameras.values()];
  }

  async flush(): Promise<void> {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    const ids = [...this.dirty];
    this.dirty.clear();
    await Promise.all(ids.map((id) => this.store.setItem(`camera:${id}`, this.cameras.get(id))));
  }
}
