import { randomBytes } from 'node:crypto';
import storage from 'node-persist';

const KEY = 'triggers-token';

/**
 * The manual trigger endpoint's token: made once per install and kept with node-persist beside the event history, so
 * scripts keep working across restarts. The settings page shows it; the log never does.
 */
export async function triggerToken(dir: string): Promise<string> {
  const store = storage.create({ dir, expiredInterval: 0 });
  await store.init();
  const existing = await store.getItem(KEY) as unknown;
  if (typeof existing === 'string' && existing.length >= 32) {
    return existing;
  }
  const token = randomBytes(24).toString('base64url');
  await store.setItem(KEY, token);
  return token;
}
