/**
 * The simulated cameras' media: real H.264 + AAC over a real RTSP server, and real JPEG snapshots.
 *
 * Design (the cheapest robust one we found):
 * - ffmpeg encodes, once, a short clip per profile (testsrc2 + a tone; libx264 with a fixed GOP, no
 *   B-frames; 2 GOPs = 8 s so the loop point is a keyframe) plus a JPEG taken from it, cached under
 *   .cache/camera-sim keyed by a hash of the encoding arguments (clips.ts). About 2 s the first time.
 * - ONE Debian-python child runs GStreamer's gst-rtsp-server for every path of every simulated camera
 *   (rtsp_server.py). It demuxes each clip once into memory; a path that a client opens gets a live
 *   pipeline "appsrc ! rtph264pay" (+ "appsrc ! rtpmp4gpay" when it has audio) that re-sends the same
 *   encoded frames loop after loop with ever increasing timestamps, paced to real time, starting at
 *   the keyframe at or before the wall-clock position in the loop (a live camera, not a VOD file).
 *   That is the "stream copy" loop: no decode, no encode, no file I/O, no ffmpeg per path or client.
 *   The rejected alternative, an ffmpeg `-re -stream_loop -1 -c copy` pusher per path, costs a process
 *   (~30 MB RSS) per path even when nobody watches, unless it is started on demand, which needs the
 *   same RTSP-server hooks anyway.
 * - Media is shared per path and lazy: nothing runs for a path until its first client, and its
 *   pipeline goes when the last client leaves. Clients may use RTP over RTSP (TCP interleaved) or UDP;
 *   every socket is bound to loopback. sessions() counts client sessions per path.
 *
 * Cost (measure-cost.ts; 2 cores, 32 cameras x 2 paths registered, RTSP server child only):
 *   idle: ~0 % CPU, ~29 MiB RSS;  4 TCP clients: ~4-6 % of one core, ~33 MiB;
 *   32 TCP clients: ~35 % of one core, ~46 MiB. Start-up ~0.2 s with the clips cached.
 */
export {
  AAC_FRAME_SAMPLES, AUDIO, CLIP_GOPS, FRAME_BITS, FRAME_BLOCK_OF_WIDTH, FRAME_BLOCKS, GOP_OPTIONS, PROFILES, VARIABLE_GOP_S, clipFrames,
  clipSeconds, keyframeIndexes, withGop,
} from './profiles';
export type { GopOption, SimStreamProfile } from './profiles';
export { defaultCacheDir, ensureClips, ensureProfile, frameNumberFilter } from './clips';
export type { ClipFiles } from './clips';
export { DEBIAN_PACKAGES, aptInstallHint } from './debian-packages';
export { MediaServer, SYSTEM_PYTHON, checkSystemDeps } from './server';
export type { MediaPath, MediaServerOptions, MediaStats, SentFrames } from './server';
