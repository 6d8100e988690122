// Public API of the ONVIF camera simulator (tests, the demo and benchmarks code against this file only).
export { CameraSim, MAX_CAMERAS } from './sim';
export { SimCamera, DOORBELL_PULSE_MS } from './camera';
export { CREATED_WINDOW_MS } from './auth';
export { MAX_SUBSCRIPTIONS, QUEUE_LIMIT } from './events-service';
export { MAX_BODY_BYTES } from './http-server';
export type { DeviceInfo } from './context';
export type { Vendor, SimCameraOptions, SimOptions, SimEvent, SimStats, ExternalStream } from './types';
export { VENDORS } from './types';
export { startDiscoveryResponder, endpointOf } from './discovery';
export type { DiscoveryResponder } from './discovery';
