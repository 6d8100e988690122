// The e2e rig's public surface: import from here in *.e2e.test.ts files.
export { stopAll, track } from './cleanup';
export type { TrackedResource } from './cleanup';
export { currentHbLine, homebridgeLaunchFor } from './hb-line';
export type { HbLine, HomebridgeLaunch } from './hb-line';
export { CHILD_SETUP_PIN, HomebridgeProcess, RIG_INSTANCE_ENV, SETUP_PIN, startHomebridge } from './homebridge';
export type { ChildBridge, ExitInfo, HapNetwork, HomebridgeOptions, PlatformBlock, StopReport } from './homebridge';
export { HapClient, pairWith } from './hap-client';
export type { CharacteristicRef, ControllerHost, HapClientOptions, HapEvent, HapTarget } from './hap-client';
export { AccessoryList, AccessoryView, CharacteristicType, longUuid, ServiceType, ServiceView, shortUuid } from './hap-model';
export type { AccessoryInformation, CharacteristicView } from './hap-model';
export { describeProcess, descendantsOf, processesWithEnv } from './procfs';
export type { ProcessInfo } from './procfs';
export { platformConfigFor, startSim } from './sim';
export { startHostileRtsp } from './hostile';
export type { HostileRtspOptions, HostileRtspServer } from './hostile';
export type { CourtyardCameraBlock, CourtyardPlatformBlock, PlatformOverrides, SimCamera, SimOptions } from './sim';
export { pollUntil, sleep, until, withTimeout } from './wait';
export { closeReasonName, HDS_MAX_CHUNK, HdsClient, HdsCloseReason, HdsRequestError, RecordingStream } from './hds-client';
export type { HdsConnectOptions, HdsMessage, HdsMessageType, OpenRecordingOptions, RecordingPacket } from './hds-client';
export {
  chooseConfiguration,
  decodeSelectedConfiguration,
  decodeSupportedAudioRecording,
  decodeSupportedCameraRecording,
  decodeSupportedVideoRecording,
  encodeSelectedConfiguration,
  Hksv,
  readSelectedConfiguration,
  readSupportedRecording,
  recordingCharacteristicsOf,
  RecordingHub,
  setupDataStream,
  startRecordingHub,
  writeCharacteristics,
  writeSelectedConfiguration,
} from './recording-hub';
export type {
  CharacteristicWrite,
  DataStreamSession,
  RecordingCharacteristics,
  RecordingHubOptions,
  RecordingPreferences,
  SelectedRecordingConfiguration,
  SupportedAudioCodec,
  SupportedCameraRecording,
  SupportedRecording,
  SupportedVideoCodec,
  VideoResolution,
} from './recording-hub';
export {
  AudioBitrateMode,
  AudioCodec,
  CameraStreamClient,
  decodeSetupAnswer,
  decodeStreamingStatus,
  decodeSupportedAudio,
  decodeSupportedRtp,
  decodeSupportedVideo,
  deriveSrtpKey,
  encodeTlv,
  H264Level,
  H264Profile,
  isRtcp,
  parseRtpHeader,
  randomSrtpKeys,
  sampleRateCode,
  sampleRateKhz,
  SessionCommand,
  SetupStatus,
  SrtcpSender,
  SrtpReceiveContext,
  SrtpReceiver,
  SrtpSuite,
  StreamingStatus,
  streamNow,
  StreamSession,
  Tlv,
} from './stream-client';
export type {
  AudioCodecSupport,
  AudioSelection,
  CapturedDatagram,
  KeyframeInfo,
  MediaKind,
  ReceiverOptions,
  ReceiverStats,
  ReconfigureOptions,
  RtpHeader,
  SetupAnswer,
  SetupOptions,
  SrtpKeys,
  SrtpParams,
  StartOptions,
  StreamCapabilities,
  StreamManagementRefs,
  StreamResolution,
  TlvField,
  VideoCodecSupport,
  VideoSelection,
  WriteResult,
} from './stream-client';
export { decodeErrors, decodeSrtp, probe, probeVideo, summarizeAudio, summarizeVideo } from './media-probe';
export type { AudioSummary, DecodeSrtpOptions, DecodeSrtpResult, ProbeFrame, ProbeOptions, ProbeResult, ProbeStream, VideoSummary } from './media-probe';
