// Names and every tunable of the plugin, with its unit in the name. Change behaviour here, not at the call sites.

export const PLUGIN_NAME = 'homebridge-courtyard';
export const PLATFORM_NAME = 'Courtyard';

/** The ONVIF HTTP port when the config gives none (ONVIF Core: the device service is on the HTTP port). */
export const DEFAULT_ONVIF_PORT = 80;

/** One SOAP request, connect to last byte. Long enough for slow camera CPUs, short enough to notice a dead camera. */
export const SOAP_TIMEOUT_MS = 8_000;
/** Largest SOAP reply we read; real GetProfiles replies are tens of KiB, so 2 MiB only stops a misbehaving peer. */
export const SOAP_MAX_RESPONSE_BYTES = 2 * 1024 * 1024;

/** First wait before retrying a camera that did not answer at start-up, doubled per failure up to the cap. */
export const CONNECT_RETRY_MIN_MS = 5_000;
export const CONNECT_RETRY_MAX_MS = 5 * 60_000;
/** Random spread added to each retry so 8 cameras behind one switch do not retry in lockstep (fraction of the wait). */
export const RETRY_JITTER_FRACTION = 0.2;

/** A camera clock this far from ours is reported: WS-Security still works (we sign with the camera's time), but events carry its time. */
export const CLOCK_OFFSET_REPORT_MS = 5_000;

/**
 * How long one PullMessages waits on the camera for events: a long-poll, so events arrive at once, not on an interval.
 * A camera that stops answering without closing (unplugged behind a switch, a black hole) is noticed only when a pull's
 * reply is overdue, so this plus the margin is how long such a camera still looks responding in Home: 15 s, about when
 * its stream read notices (SOURCE_STALL_MS). It was 30 + 10 s; the cost is an idle request every 10 s per camera.
 */
export const PULL_TIMEOUT_S = 10;
/** HTTP reply bound for PullMessages: longer than the pull itself or every idle pull would look like a dead camera. */
export const PULL_HTTP_MARGIN_MS = 5_000;
/** Messages asked for per pull. */
export const PULL_MESSAGE_LIMIT = 64;
/** Subscription lifetime we ask for and when we renew it (Home Assistant: 10 min, renewed every 8). */
export const SUBSCRIPTION_S = 600;
export const RENEW_BEFORE_END_MS = 120_000;
/** Waits after an event-service fault before subscribing again: doubled per failure, capped, jittered. */
export const EVENTS_RETRY_MIN_MS = 2_000;
export const EVENTS_RETRY_MAX_MS = 5 * 60_000;
/** The same while the camera does not answer at all (ms): a refused or timed-out request costs it nothing, and events
 *  (and the camera's stream read, restarted when they answer) resume within this of the camera being back: with a cap
 *  of 5 min they resumed up to 30 s late in the soak, with 10 s up to 10.7 s. */
export const EVENTS_OUTAGE_RETRY_MAX_MS = 5_000;
/** A pull that returns empty this much earlier than its timeout, several times in a row, means a broken subscription. */
export const EARLY_EMPTY_PULL_FRACTION = 0.1;
export const EARLY_EMPTY_PULLS_LIMIT = 5;
/** Even a healthy-looking subscription is replaced this often: some cameras keep answering pulls after they stopped queueing. */
export const SUBSCRIPTION_REFRESH_MS = 60 * 60_000;
/** Bound for the courtesy Unsubscribe when we stop or replace a subscription. */
export const UNSUBSCRIBE_TIMEOUT_MS = 2_000;

/** How long a motion sensor stays "detected" after the last motion (s): cameras that only send "on", or flap, read as one event. */
export const DEFAULT_MOTION_HOLD_S = 10;
/** Longest a camera's own "motion on" keeps the sensor on without a new event (ms): a lost "off" must not hold it forever. */
export const MOTION_MAX_ON_MS = 5 * 60_000;
/** The same kind and state again within this time is one event for the history (ms): cameras send motion on two topics. */
export const HISTORY_DUPLICATE_MS = 2_000;
/** Rings closer together than this are one visitor (s). */
export const DEFAULT_DOORBELL_COOLDOWN_S = 10;
/** The event kinds that ring an entrance doorbell unless the config says otherwise: a wired bell button, a vendor visitor event. */
export const DEFAULT_DOORBELL_EVENTS = ['input', 'visitor'] as const;
/** Events kept per camera in the history (count), and how long writes are gathered before going to disk (ms). */
export const HISTORY_LIMIT = 100;
export const HISTORY_WRITE_DELAY_MS = 1_000;

/** The manual trigger endpoint listens here unless the config says otherwise: only this machine can reach it. */
export const DEFAULT_TRIGGERS_BIND = '127.0.0.1';
/** Largest request body the trigger endpoint reads (bytes): it takes query parameters, not uploads. */
export const TRIGGERS_MAX_BODY_BYTES = 4_096;
/** A trigger request must arrive whole within this (ms): scripts send at once; a peer that trickles (slowloris) is cut off. */
export const TRIGGERS_REQUEST_TIMEOUT_MS = 5_000;
/** Connections the trigger endpoint holds at once (count): a script or two; a peer opening more cannot pile up file
 *  descriptors in Homebridge. */
export const TRIGGERS_MAX_CONNECTIONS = 32;

/** ffmpeg stop sequence: after `q` on stdin, wait this long before SIGTERM, then as long again before SIGKILL (ms). */
export const FFMPEG_QUIT_GRACE_MS = 1_000;
export const FFMPEG_TERM_GRACE_MS = 2_000;
/** stderr lines kept per ffmpeg process, to explain a failure in the log. */
export const FFMPEG_STDERR_LINES = 40;

/** Push events (WS-BaseNotification, the camera calls us): the first Notify must arrive this soon after Subscribe (ms),
 *  else push is taken as not working here (firewall, NAT, firmware) and the camera falls back to PullPoint. */
export const PUSH_VERIFY_MS = 15_000;
/** Push subscriptions are renewed this often (ms): far inside their SUBSCRIPTION_S lifetime, and often enough that a
 *  camera that went away or rebooted (forgetting us) is noticed within a minute, as a PullPoint long-poll would be. */
export const PUSH_RENEW_INTERVAL_MS = 60_000;
/** Largest Notify body the receiver reads (bytes); one message is about a KiB, cameras send a few per Notify. */
export const PUSH_MAX_BODY_BYTES = 256 * 1024;
/** A Notify request must arrive complete within this (ms): cameras send at once, a stuck peer is cut off. */
export const PUSH_REQUEST_TIMEOUT_MS = 10_000;
/** Connections the receiver holds open at once (count): a handful per camera at most. */
export const PUSH_MAX_CONNECTIONS = 64;
/** Bound for finding our own address on the route to a camera, the address it is told to call (ms). */
export const PUSH_ROUTE_LOOKUP_TIMEOUT_MS = 2_000;

// ---- Media source: the one RTSP read per camera profile that live view, recording and snapshots share ----
/** The upstream keeps reading this long after its last consumer leaves (ms): a viewer who reopens the tile starts at once.
 *  Read in the plugin, a cold start is ~50 ms to the first picture, so 5 s (was 10) frees the camera's session sooner. */
export const SOURCE_IDLE_STOP_MS = 5_000;
/** Waits before reading the camera again after its stream failed: doubled per failure, capped, jittered (ms). */
export const SOURCE_RETRY_MIN_MS = 1_000;
export const SOURCE_RETRY_MAX_MS = 60_000;
/** No bytes from the camera for this long means a stalled stream: the read is restarted (ms). */
export const SOURCE_STALL_MS = 10_000;
/** RTSP socket I/O bound handed to ffmpeg (ms): a camera that stops answering is noticed, not waited on forever. */
export const RTSP_IO_TIMEOUT_MS = 10_000;
/** Most bytes of video kept per camera profile for late joiners and the prebuffer: about 40 s of a 2 Mbps stream. */
export const SOURCE_CACHE_MAX_BYTES = 10 * 1024 * 1024;
/** A consumer this many bytes behind is cut off rather than growing memory without bound (a stuck ffmpeg). */
export const CONSUMER_MAX_BACKLOG_BYTES = 8 * 1024 * 1024;
/** A keyframe's capture time worked out from its PTS is believed only this far before its arrival (ms); beyond, the
 *  PTS wrapped (every 26.5 h) or the camera's clock jumped, and the arrival is used. */
export const CAPTURE_ESTIMATE_MAX_LAG_MS = 5_000;
/** While only the HKSV prebuffer keeps a stream read in the plugin (no viewer, no clip, no snapshot waiting), the
 *  camera's connection is read at most this often (ms): each read wakes the process, a camera sends 30 bursts a second,
 *  and reading 4 times a second halves a prebuffer's CPU (bench/README.md, prebuffer). The hub asks for 4 s back, never
 *  for the newest 250 ms; a consumer attaching gets what waited in the kernel at once. 0 turns pacing off. Longer is not
 *  safe: a camera with a small fixed TCP send buffer blocks at each keyframe burst while we do not read (bench/README.md,
 *  pace-window: ~400 ms per keyframe at 250 ms, falling behind at 500 ms). */
export const SOURCE_HOLD_READ_PACE_MS = 250;

/** ffmpeg's -max_interleave_delta for the source's MPEG-TS (µs): 1 = never hold a video frame back waiting for audio
 *  (ffmpeg's default waits up to 10 s for every stream to have a packet; a camera's audio timestamps trailing its video
 *  held every frame back by as much). */
export const SOURCE_INTERLEAVE_DELTA_US = 1;
/** How long a caller waits for the first keyframe of a stream that is starting (ms); cameras send one every 1–4 s. */
export const FIRST_KEYFRAME_TIMEOUT_MS = 10_000;

// ---- Snapshots: the still image HomeKit shows on a camera tile ----
/** The whole snapshot answer, fetch + fallback + scaling (ms): HAP warns at 5 s; the rest is margin for HAP and a busy CPU. */
export const SNAPSHOT_ANSWER_MS = 4_500;
/** Getting the full-size image (snapshot URL, then the video-stream fallback) ends by then (ms), leaving 0.7 s to scale it. */
export const SNAPSHOT_SOURCE_MS = 3_800;
/** The camera's snapshot URL gets this long (ms): cameras answer in well under 1 s; the rest is left for the stream fallback. */
export const SNAPSHOT_URI_TIMEOUT_MS = 2_500;
/** A fetched image is reused this long (ms): phones, tablets and hubs asking for several sizes at once cost the camera one fetch. */
export const SNAPSHOT_CACHE_MS = 4_000;
/** After a failed fetch, answer from the last image for this long before asking the camera again (ms): short, so a
 *  quick retry works, yet two sizes asked back to back do not both wait out a dead camera. */
export const SNAPSHOT_FAILURE_HOLD_MS = 2_000;
/** Largest snapshot read or produced (bytes): a 4K JPEG is 1–3 MB; more is not a snapshot. */
export const SNAPSHOT_MAX_BYTES = 16 * 1024 * 1024;
/** JPEG quality of scaled and decoded snapshots (ffmpeg -q:v, 2 best … 31 worst): 4 is visually clean on a tile and about 30 % smaller than 2. */
export const SNAPSHOT_JPEG_QUALITY = 4;
/** Scaled sizes kept per image (count): HomeKit asks for two or three widths; the widths come from the controller, so bounded. */
export const SNAPSHOT_SCALED_KEEP = 4;

// ---- Live view ----
/** A viewer that sent no RTCP for this long has gone (ms; at least 10 RTCP intervals): its stream and ffmpeg are stopped. */
export const LIVE_RTCP_TIMEOUT_MS = 5_000;
/** How often the RTCP watch looks (ms). */
export const LIVE_RTCP_CHECK_MS = 1_000;
/** Keyframe interval of transcoded live video (s): short, so a lost packet heals fast. */
export const LIVE_TRANSCODE_GOP_S = 2;
/** HomeKit streams per camera at once unless "maxStreams" says otherwise (count). */
export const DEFAULT_MAX_STREAMS = 2;
/** Largest "maxStreams" accepted (count): each stream is a HAP service; more only burdens the camera's uplink. */
export const MAX_STREAMS_LIMIT = 6;
/** The encoder used when the camera's video cannot be copied, unless "videoEncoder" names another (an ffmpeg encoder name). */
export const DEFAULT_VIDEO_ENCODER = 'libx264';

// ---- HomeKit Secure Video ----
/** Prebuffer bounds (s): hubs ask for 4 s before the motion; more than 8 s only costs memory. */
export const MIN_PREBUFFER_S = 4;
export const MAX_PREBUFFER_S = 8;
/** Longest one event is recorded unless "maxRecordingSeconds" says otherwise (s). */
export const DEFAULT_MAX_RECORDING_S = 300;
/** Bound for asking ffmpeg what it can encode (ms); once per binary. */
export const FFMPEG_PROBE_TIMEOUT_MS = 5_000;
/** Fragment length hubs select (ms); the recording's keyframe interval must be near it for the camera's video to be copied. */
export const HKSV_FRAGMENT_MS = 4_000;
/** A camera keyframe interval this far from the hub's (fraction) still copies: fragments stay within 10 % of their length. */
export const HKSV_KEYFRAME_TOLERANCE = 0.1;
/** Hubs give up after about 5 s without data: a clip whose next fragment is not ready within this is ended (ms). */
export const HKSV_PACKET_TIMEOUT_MS = 4_500;
/** Copying the camera's stream needs its bitrate at or below this (kbps): hubs struggle above about 2 Mbps. */
export const HKSV_COPY_MAX_KBPS = 2_200;
/** A motion event this recent (ms) is where a clip's prebuffer counts back from; an older one (or none: a request without
 *  motion) counts back from the request. Hubs ask within a second of MotionDetected. */
export const HKSV_MOTION_RECENT_MS = 3_000;
/** ffmpeg's fMP4 muxer cuts at a keyframe only once a fragment is this share of the hub's fragment length: with a 1 or
 *  2 s GOP, fragments of the hub's 4 s, not 1 or 2 s; the rest tolerates timestamp jitter (fraction). */
export const HKSV_MIN_FRAGMENT_FRACTION = 0.95;
/** A copied clip's first fragment waits at most this long (ms) for its audio from the audio-only ffmpeg (hub rate ≠
 *  camera rate): the converter is just starting (0.1–0.5 s to spawn), and the prebuffer's audio belongs in it. */
export const CLIP_AUDIO_FIRST_WAIT_MS = 1_000;
/** Each later fragment waits at most this long (ms) for its audio: the converter holds about 0.2 s (decoder, resampler,
 *  encoder lookahead); what it still holds opens the next fragment (timestamps exact, the audio track without a gap), so
 *  a fragment leaves within this of its closing keyframe, as ffmpeg's own muxer without interleaving wait would send it. */
export const CLIP_AUDIO_WAIT_MS = 100;
/** The prebuffer's fragments wait for their converted audio at most this long in all (ms), however steadily the
 *  converter works through it: well inside the hub's patience for the next packet (HKSV_PACKET_TIMEOUT_MS). */
export const CLIP_AUDIO_CATCH_UP_MAX_MS = 3_000;
/** The prebuffer keeps this much more than asked (ms), so a keyframe at least the prebuffer old is always there. */
export const HKSV_PREBUFFER_MARGIN_MS = 1_000;
/** A new viewer gets the cached frames since the last keyframe at this many times real time (×): the picture at once, the
 *  backlog paced rather than burst (a burst overflows UDP buffers), and the stream caught up within a quarter of a GOP. */
export const LIVE_CATCH_UP_RATE = 4;

// ---- Discovery and the camera checks (`probe`, `discover`, the settings page) ----
/** How long a WS-Discovery scan listens for answers unless the caller says (ms). */
export const DISCOVERY_TIMEOUT_MS = 3_000;
/** The longest a caller may make a scan listen (ms). */
export const DISCOVERY_MAX_TIMEOUT_MS = 60_000;
/** Largest ProbeMatches datagram read (bytes): real ones are 1–3 KiB; far larger is not a camera talking, and parsing it would only cost us. */
export const DISCOVERY_MAX_DATAGRAM_BYTES = 32 * 1024;
/** Cameras kept per scan (count): a /24 full of cameras, bounded against a flood of fake endpoints. */
export const DISCOVERY_MAX_CAMERAS = 256;
/** ProbeMatch elements read from one datagram (count). */
export const DISCOVERY_MAX_MATCHES_PER_DATAGRAM = 16;
/** Scopes or XAddrs read from one match (count). */
export const DISCOVERY_MAX_LIST_ITEMS = 64;
/** Longest decoded name or hardware scope kept (characters). */
export const DISCOVERY_MAX_TEXT_CHARS = 256;
/**
 * Probe retransmission as in SOAP-over-UDP Appendix I (as python-ws-discovery's udp.py implements it): repeats (count)
 * after a random 50–250 ms, doubling, capped at 500 ms. Multicast is lossy on Wi-Fi; repeats keep the MessageID, so a
 * camera that saw the first one discards them, and answers are de-duplicated by endpoint anyway.
 */
export const DISCOVERY_PROBE_REPEATS = 2;
export const DISCOVERY_REPEAT_MIN_DELAY_MS = 50;
export const DISCOVERY_REPEAT_MAX_DELAY_MS = 250;
export const DISCOVERY_REPEAT_UPPER_DELAY_MS = 500;
/**
 * Multicast TTL of the probe (hops): 1 keeps it on the local link, like python-ws-discovery (Daemon ttl=1) and the OS
 * default agsh/onvif (lib/discovery.js) relies on: cameras answer only on their own subnet anyway, and a LAN scan must
 * not leak past routers.
 */
export const DISCOVERY_MULTICAST_TTL = 1;
/** The credential check of one found camera, all calls included (ms): a dead camera must not hold the scan for 3 × SOAP_TIMEOUT_MS. */
export const DISCOVERY_CHECK_TIMEOUT_MS = 10_000;
/** Found cameras checked at once (count): cameras are small CPUs behind one switch, a few at a time, not all at once. */
export const DISCOVERY_CHECK_CONCURRENCY = 4;
/** One snapshot fetched by `probe` or the settings page's check, challenge included (ms): cameras encode a JPEG in well
 *  under a second; this only stops a hung one. */
export const CHECK_SNAPSHOT_TIMEOUT_MS = 10_000;
/** Largest snapshot the settings page shows (bytes): it goes to the browser as a data URL; a 4K JPEG is 1–3 MB. */
export const UI_SNAPSHOT_MAX_BYTES = 8 * 1024 * 1024;
/** How long the settings page's Discover listens for cameras (ms): ONVIF cameras answer within a second; Wi-Fi multicast
 *  may need the probe's repeats. */
export const UI_DISCOVER_LISTEN_MS = 3_000;
/** The longest "Learn an event" watch (s): enough to walk to the entrance and press the button, short enough that nobody
 *  forgets one running. */
export const LEARN_MAX_S = 60;
/** How long the camera gets to grant the watch's subscription (ms) before the page is told it cannot watch events. */
export const LEARN_SUBSCRIBE_MS = 15_000;
/** Distinct topics kept per watch (count): a camera flooding events must not grow the page without end. */
export const LEARN_MAX_TOPICS = 64;
/** Event history lines per camera on the page (count): the store keeps 100; a phone screen shows a dozen. */
export const UI_HISTORY_SHOWN = 20;
/** The page's "answers now" check, one unauthenticated ONVIF call (ms): a camera on the LAN answers in well under a second. */
export const UI_REACH_TIMEOUT_MS = 4_000;
/** Notifications `probe --json` keeps for its report (count): a camera flooding events must not grow memory without end. */
export const PROBE_MAX_KEPT_NOTIFICATIONS = 10_000;
/** How long `probe` measures a stream's keyframe interval (ms): two keyframes are needed, up to two of the camera's GOPs. */
export const PROBE_MEASURE_BOUND_MS = 12_000;

// ---- RTSP read in the plugin (src/media/rtsp): the camera's stream without an ffmpeg process ----
/** Each RTSP request (OPTIONS, DESCRIBE, SETUP, PLAY, keep-alive) is answered within this, and the TCP connection is
 *  made within it (ms): cameras answer in well under a second; a hung one is noticed, not waited on (ffmpeg's bound). */
export const RTSP_REQUEST_TIMEOUT_MS = 10_000;
/** No RTP after PLAY for this long means the camera stopped sending (ms): the read ends with a reason (SOURCE_STALL_MS). */
export const RTSP_MEDIA_TIMEOUT_MS = 10_000;
/** close() waits this long for the TEARDOWN answer before it destroys the socket (ms): best effort, a closing read
 *  must not hang on a camera that no longer answers. */
export const RTSP_TEARDOWN_TIMEOUT_MS = 1_000;
/** The session timeout assumed when the camera's Session header names none (s): RFC 2326 §12.37's default. */
export const RTSP_DEFAULT_SESSION_TIMEOUT_S = 60;
/** Redirects (301/302/303/307) followed for one DESCRIBE (count): an NVR or a proxy is one hop; more is a loop. */
export const RTSP_MAX_REDIRECTS = 3;

// ---- Live view sent by the plugin itself (copied video: no ffmpeg per viewer; src/media/rtp) ----
/** Sender reports go at the RTCP interval HomeKit selects, kept within these bounds (ms), or every LIVE_RTCP_DEFAULT_MS
 *  when it selects none. */
export const LIVE_RTCP_REPORT_MIN_MS = 500;
export const LIVE_RTCP_REPORT_MAX_MS = 5_000;
export const LIVE_RTCP_DEFAULT_MS = 1_000;
/** Video waiting to go to one viewer (the cached keyframe group being caught up, or sending that stalled) beyond this
 *  ends that viewer's stream rather than growing memory (bytes): the cache itself holds at most 10 MiB. */
export const LIVE_SENDER_MAX_QUEUE_BYTES = 12 * 1024 * 1024;
/** Datagrams the OS has not yet taken from one viewer's socket beyond this (bytes): the way to that viewer is slower
 *  than the camera's stream, and its stream ends with that reason. */
export const LIVE_SEND_BACKLOG_MAX_BYTES = 2 * 1024 * 1024;
/** A video timestamp this far from the one before (ms) is the camera's clock jumping: pacing starts afresh from it. */
export const LIVE_TIMESTAMP_JUMP_MS = 5_000;
