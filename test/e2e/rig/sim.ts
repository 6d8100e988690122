// The simulated ONVIF cameras for e2e tests, registered for cleanup, and the Courtyard platform block that points at them.
import { CameraSim, SimCamera, SimOptions } from '../../../tools/camera-sim';
import { track } from './cleanup';
import type { PlatformBlock } from './homebridge';

export type { SimCamera, SimOptions };

/** Start the simulator; the cleanup registry stops it (CameraSim.stop is idempotent, so tests may stop it earlier). */
export async function startSim(options: SimOptions): Promise<CameraSim> {
  const sim = await CameraSim.start(options);
  track({ label: `camera simulator (${sim.cameras.length} cameras)`, stop: () => sim.stop() });
  return sim;
}

/** One camera entry of the Courtyard platform config. */
export interface CourtyardCameraBlock {
  name?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  doorbell?: boolean;
  [key: string]: unknown;
}

export interface CourtyardPlatformBlock extends PlatformBlock {
  platform: 'Courtyard';
  name: string;
  cameras: CourtyardCameraBlock[];
  videoProcessor?: string;
}

export interface PlatformOverrides {
  /** Merged into the camera entry with the same index as sim.cameras. */
  cameras?: Partial<CourtyardCameraBlock>[];
  /** Appended after the simulator's cameras (e.g. deliberately broken entries). */
  extraCameras?: CourtyardCameraBlock[];
  /** Other platform fields (videoProcessor, ...). */
  platform?: Partial<Omit<CourtyardPlatformBlock, 'cameras'>>;
}

/** The Courtyard platform block with one camera entry per simulated camera, credentials included. */
export function platformConfigFor(sim: Pick<CameraSim, 'cameras'>, overrides: PlatformOverrides = {}): CourtyardPlatformBlock {
  const cameras: CourtyardCameraBlock[] = sim.cameras.map((cam, index) => ({
    name: cam.name,
    host: cam.host,
    port: cam.port,
    username: cam.username,
    password: cam.password,
    ...(overrides.cameras?.[index] ?? {}),
  }));
  return {
    name: 'Courtyard',
    ...(overrides.platform ?? {}),
    platform: 'Courtyard',
    cameras: [...cameras, ...(overrides.extraCameras ?? [])],
  };
}
