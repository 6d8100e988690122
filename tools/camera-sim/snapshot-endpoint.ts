// Serves a simulated camera's snapshot URIs behind the camera's snapshot authentication.
import { IncomingMessage, ServerResponse } from 'node:http';
import { DigestAuthority, verifyBasic } from './auth';
import { Personality, ProfileName } from './personalities';

export type SnapshotAuthMode = 'none' | 'basic' | 'digest';

export interface SnapshotEndpointOptions {
  personality: Personality;
  mode: SnapshotAuthMode;
  username: string;
  password: string;
  digest: DigestAuthority;
  jpeg: (profile: ProfileName) => Buffer;
  onAuthFailure: () => void;
}

/** The profile whose snapshot URI this request names, or undefined when it is not a snapshot request. */
export function snapshotProfile(p: Personality, pathAndQuery: string): ProfileName | undefined {
  if (pathAndQuery === p.snapshotPath('main')) {
    return 'main';
  }
  return pathAndQuery === p.snapshotPath('sub') ? 'sub' : undefined;
}

export function handleSnapshot(opts: SnapshotEndpointOptions, profile: ProfileName, req: IncomingMessage,
  res: ServerResponse): void {
  const authorization = req.headers.authorization;
  let allowed = opts.mode === 'none';
  let stale = false;
  if (opts.mode === 'basic') {
    allowed = verifyBasic(authorization, opts.username, opts.password);
  } else if (opts.mode === 'digest') {
    const result = opts.digest.verify(req.method ?? 'GET', req.url ?? '', authorization);
    allowed = result === 'ok';
    stale = result === 'stale';
  }
  if (!allowed) {
    if (authorization && !stale) {
      opts.onAuthFailure();
    }
    const challenge = opts.mode === 'basic' ? `Basic realm="${opts.digest.realm}"` : opts.digest.challenge(stale);
    res.writeHead(401, { 'WWW-Authenticate': challenge, 'Content-Type': 'text/plain' });
    res.end('Unauthorized');
    return;
  }
  const jpeg = opts.jpeg(profile);
  res.writeHead(200, { 'Content-Type': 'image/jpeg', 'Content-Length': String(jpeg.length) });
  res.end(req.method === 'HEAD' ? undefined : jpeg);
}
