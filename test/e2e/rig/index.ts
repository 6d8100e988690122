// The e2e rig's public surface: import from here in *.e2e.test.ts files.
export { stopAll, track } from './cleanup';
export type { TrackedResource } from './cleanup';
export { currentHbLine, homebridgeLaunchFor } from './hbLine';
export type { HbLine, HomebridgeLaunch } from './hbLine';
export { HomebridgeProcess, RIG_INSTANCE_ENV, SETUP_PIN, startHomebridge } from './homebridge';
export type { ExitInfo, HomebridgeOptions, PlatformBlock, StopReport } from './homebridge';
export { HapClient, pairWith } from './hapClient';
export type { CharacteristicRef, HapClientOptions, HapEvent, HapTarget } from './hapClient';
export { AccessoryList, AccessoryView, CharacteristicType, longUuid, ServiceType, ServiceView, shortUuid } from './hapModel';
export type { AccessoryInformation, CharacteristicView } from './hapModel';
export { describeProcess, descendantsOf, processesWithEnv } from './procfs';
export type { ProcessInfo } from './procfs';
export { platformConfigFor, startSim } from './sim';
export type { CourtyardCameraBlock, CourtyardPlatformBlock, PlatformOverrides, SimCamera, SimOptions } from './sim';
export { pollUntil, sleep, withTimeout } from './wait';
