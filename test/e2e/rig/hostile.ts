// Misbehaving RTSP servers (tools/camera-sim/hostile-rtsp.ts) for e2e tests, registered for cleanup: a simulated ONVIF
// camera points its stream at one with SimCameraOptions.external.
import { HostileRtspServer } from '../../../tools/camera-sim/hostile-rtsp';
import type { HostileRtspOptions } from '../../../tools/camera-sim/hostile-rtsp';
import { track } from './cleanup';

export type { HostileRtspOptions, HostileRtspServer };

/** Start a hostile RTSP server; the cleanup registry stops it (its sockets and listener) after the file. */
export async function startHostileRtsp(options: HostileRtspOptions): Promise<HostileRtspServer> {
  const server = await HostileRtspServer.start(options);
  let stopped: Promise<void> | undefined;
  track({ label: `hostile RTSP server (${options.mode}) at ${server.url()}`, stop: () => (stopped ??= server.stop()) });
  return server;
}
