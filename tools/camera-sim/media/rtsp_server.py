#!/usr/bin/python3
"""RTSP server for the camera simulator (gst-rtsp-server, one process for all cameras).

Run with the Debian /usr/bin/python3 (it has python3-gi). Driven by the node side (server.ts):
  argv[1]  JSON config: {"host", "port", "sessionTimeout",
                         "clips": {"main": {"file", "fps", "audioRate"}, ...},
                         "paths": [{"path", "profile", "audio"}, ...]}
  stdout   "READY <port>" once listening, then one JSON line per stdin request line
  stdin    "stats" -> {"sessions": {path: n}, "media": {path: n}};
           "cut <path>" -> {"cut": n}: closes every client connection with a session on <path> (a camera dropping its readers);
           "frames <path>" -> {"index": [...], "sentAt": [...]}: the clip frame index of each video frame sent on
           that path and when (wall clock, ms), oldest first, the last FRAME_LOG_MAX; EOF -> exit
  --check  only verify that every GStreamer element we need exists (prints OK / MISSING ...)

Why appsrc instead of filesrc+qtdemux per client: every clip is demuxed ONCE into memory at start,
and an active path only copies buffer references into an appsrc with rewritten, ever increasing
timestamps (loop k of a clip of D seconds is stamped k*D later). No decode, no encode, no file I/O,
no extra process per client; the loop point is a keyframe because the clip is whole GOPs.
"""
import collections
import json
import math
import os
import signal
import sys
import threading
import time

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstRtsp', '1.0')
gi.require_version('GstRtspServer', '1.0')
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

REQUIRED_ELEMENTS = ['appsrc', 'appsink', 'filesrc', 'qtdemux', 'queue', 'rtph264pay', 'rtpmp4gpay',
                     'rtpbin', 'udpsrc', 'udpsink', 'multiudpsink', 'funnel', 'tee']
AAC_FRAME_SAMPLES = 1024
LISTEN_BACKLOG = 128
LOAD_TIMEOUT_S = 20
# A feeder sleeps in slices of at most MAX_SLEEP_S, MAX_WAIT_S in all per frame, so a teardown never
# waits longer than that for a streaming thread.
MAX_SLEEP_S = 0.1
MAX_WAIT_S = 1.0
# UDP RTP/RTCP ports come from this loopback-only pool (never bound on other interfaces).
UDP_PORT_MIN = 20000
UDP_PORT_MAX = 29999
# Video frames remembered per path for "frames": about 4.5 minutes at 15 fps, a few KiB of JSON per query at most
# as often as a test asks.
FRAME_LOG_MAX = 4096


def log(msg):
    sys.stderr.write('rtsp_server: %s\n' % msg)
    sys.stderr.flush()


def reply(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


class Clip:
    """One profile's clip, demuxed into memory: encoded frames plus caps, reused for every loop."""

    def __init__(self, name, file, fps, audio_rate):
        self.name = name
        self.fps = fps
        self.audio_rate = audio_rate
        self.video, self.video_caps, self.audio, self.audio_caps = self._demux(file)
        if not self.video or self.video[0].has_flags(Gst.BufferFlags.DELTA_UNIT):
            raise RuntimeError('clip %s does not start with a keyframe' % file)
        self.duration_ns = len(self.video) * Gst.SECOND // fps
        # The audio loop must last exactly as long as the video loop, or A/V drift grows every loop.
        samples = len(self.video) * audio_rate / fps
        audio_frames = samples / AAC_FRAME_SAMPLES
        if audio_frames != int(audio_frames):
            raise RuntimeError('clip length is not a whole number of AAC frames')
        audio_frames = int(audio_frames)
        if len(self.audio) < audio_frames:
            raise RuntimeError('clip %s has %d audio frames, need %d' % (file, len(self.audio), audio_frames))
        # The clip's audio runs a little longer than its video (qtdemux already cut the encoder's
        # priming frame via the edit list): one loop is exactly the first audio_frames frames.
        self.audio = self.audio[:audio_frames]
        self.audio_caps = with_true_channels(self.audio_caps)
        self.keyframes = [i for i, b in enumerate(self.video) if not b.has_flags(Gst.BufferFlags.DELTA_UNIT)]

    @staticmethod
    def _demux(file):
        pipeline = Gst.parse_launch(
            'filesrc name=src ! qtdemux name=demux '
            'demux.video_0 ! queue ! appsink name=video sync=false '
            'demux.audio_0 ! queue ! appsink name=audio sync=false')
        pipeline.get_by_name('src').set_property('location', file)
        sinks = [pipeline.get_by_name('video'), pipeline.get_by_name('audio')]
        tracks = [([], None), ([], None)]
        bus = pipeline.get_bus()
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        pipeline.set_state(Gst.State.PLAYING)
        try:
            # appsink holds back EOS until drained, so pull from both sinks until both report EOS.
            while not all(s.get_property('eos') for s in sinks):
                if time.monotonic() > deadline:
                    raise RuntimeError('timed out demuxing %s' % file)
                msg = bus.pop_filtered(Gst.MessageType.ERROR)
                if msg is not None:
                    err, _dbg = msg.parse_error()
                    raise RuntimeError('cannot demux %s: %s' % (file, err.message))
                for i, sink in enumerate(sinks):
                    sample = sink.emit('try-pull-sample', 10 * Gst.MSECOND)
                    if sample is not None:
                        buffers, caps = tracks[i]
                        buffers.append(sample.get_buffer())
                        tracks[i] = (buffers, caps or sample.get_caps())
            return tracks[0][0], tracks[0][1], tracks[1][0], tracks[1][1]
        finally:
            pipeline.set_state(Gst.State.NULL)


def with_true_channels(caps):
    """qtdemux takes the channel count from the MP4 sample entry (ffmpeg writes 2 there even for
    mono); the AudioSpecificConfig is the truth and the SDP should match it."""
    if caps is None:
        return caps
    codec_data = caps.get_structure(0).get_value('codec_data')
    data = codec_data.extract_dup(0, codec_data.get_size()) if codec_data is not None else b''
    if len(data) < 2:
        return caps
    channel_config = (data[1] >> 3) & 0x0F
    if channel_config == 0:
        return caps
    fixed = caps.copy()
    fixed.set_value('channels', channel_config)
    return fixed


class Track:
    """Feeds one appsrc: clip frames in order, looping, stamped on a continuous live timeline."""

    def __init__(self, feeder, buffers, first_index, offset_ns, period_num, period_den, sent_log=None):
        self.feeder = feeder
        self.sent_log = sent_log
        self.buffers = buffers
        self.first_index = first_index
        self.offset_ns = offset_ns
        self.period_num = period_num  # frame period = period_num / period_den ns, kept exact
        self.period_den = period_den
        self.count = 0

    def on_need_data(self, src, _length):
        t0 = self.feeder.anchor(src)
        start = self.offset_ns + self.count * self.period_num // self.period_den
        end = self.offset_ns + (self.count + 1) * self.period_num // self.period_den
        pts = t0 + start
        # Pace to real time like a camera: never hand out a frame before its capture time. Normally
        # that is one frame period; the bound only matters if the pipeline clock jumped (pause/resume).
        for _ in range(int(MAX_WAIT_S / MAX_SLEEP_S)):
            ahead = pts - running_time(src)
            if ahead <= 0:
                break
            time.sleep(min(ahead / Gst.SECOND, MAX_SLEEP_S))
        index = (self.first_index + self.count) % len(self.buffers)
        buf = self.buffers[index].copy()
        buf.pts = pts
        buf.dts = pts
        buf.duration = end - start
        self.count += 1
        if self.sent_log is not None:
            # The frame's capture time as far as anyone downstream can tell: it leaves for the payloader now.
            self.sent_log.add(index, time.time() * 1000)
        src.emit('push-buffer', buf)


def running_time(element):
    clock = element.get_clock()
    if clock is None:
        return 0
    return clock.get_time() - element.get_base_time()


class SentLog:
    """When each video frame of one path was sent: kept across media restarts, bounded."""

    def __init__(self):
        self.lock = threading.Lock()
        self.entries = collections.deque(maxlen=FRAME_LOG_MAX)

    def add(self, index, sent_ms):
        with self.lock:
            self.entries.append((index, sent_ms))

    def dump(self):
        with self.lock:
            entries = list(self.entries)
        return {'index': [e[0] for e in entries], 'sentAt': [e[1] for e in entries]}


class Feeder:
    """Per media (shared by all clients of one path): where in the clip to start and the time anchor."""

    def __init__(self, clip, audio, sent_log):
        self.lock = threading.Lock()
        self.t0 = None
        # A live camera does not restart its clip for each viewer: start at the keyframe at or before
        # the wall-clock position in the loop, so viewers see "now", decodable from the first frame.
        pos_ns = time.time_ns() % clip.duration_ns
        pos_frame = pos_ns * clip.fps // Gst.SECOND
        key = max(k for k in clip.keyframes if k <= pos_frame)
        start_ns = key * Gst.SECOND // clip.fps
        self.video = Track(self, clip.video, key, 0, Gst.SECOND, clip.fps, sent_log)
        self.audio = None
        if audio:
            audio_period_num = AAC_FRAME_SAMPLES * Gst.SECOND
            first = math.ceil(start_ns * clip.audio_rate / (AAC_FRAME_SAMPLES * Gst.SECOND))
            offset = first * audio_period_num // clip.audio_rate - start_ns
            self.audio = Track(self, clip.audio, first, offset, audio_period_num, clip.audio_rate)

    def anchor(self, src):
        with self.lock:
            if self.t0 is None:
                self.t0 = running_time(src)
            return self.t0


class Server:
    def __init__(self, cfg):
        self.cfg = cfg
        self.clips = {}
        for name, c in cfg['clips'].items():
            self.clips[name] = Clip(name, c['file'], int(c['fps']), int(c['audioRate']))
        self.paths = [p['path'] for p in cfg['paths']]
        self.sent_logs = {p: SentLog() for p in self.paths}
        self.active_media = {p: 0 for p in self.paths}
        self.media_lock = threading.Lock()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address(cfg['host'])
        self.server.set_service(str(cfg['port']))
        # A plugin under test may open every camera's streams at once; the default backlog is 5.
        self.server.set_backlog(LISTEN_BACKLOG)
        pool = GstRtspServer.RTSPAddressPool()
        pool.add_range(cfg['host'], cfg['host'], UDP_PORT_MIN, UDP_PORT_MAX, 0)
        mounts = self.server.get_mount_points()
        for p in cfg['paths']:
            mounts.add_factory(p['path'], self._factory(p, pool))
        self.server.connect('client-connected', self._on_client)

    def _factory(self, p, pool):
        clip = self.clips[p['profile']]
        factory = GstRtspServer.RTSPMediaFactory()
        launch = ('( appsrc name=video is-live=true format=time do-timestamp=false '
                  '! rtph264pay name=pay0 pt=96 config-interval=-1')
        if p['audio']:
            launch += ' appsrc name=audio is-live=true format=time do-timestamp=false ! rtpmp4gpay name=pay1 pt=97'
        factory.set_launch(launch + ' )')
        # One pipeline per path however many clients, created on the first client, gone after the last.
        factory.set_shared(True)
        factory.set_address_pool(pool)
        # Unicast only: multicast would leave the loopback interface.
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
        factory.connect('media-configure', self._on_media_configure, p['path'], clip, p['audio'])
        return factory

    def _on_media_configure(self, _factory, media, path, clip, audio):
        media.sim_path = path  # a Python attribute keeps this wrapper (and the tag) alive with the media
        feeder = Feeder(clip, audio, self.sent_logs[path])
        element = media.get_element()
        video = element.get_by_name('video')
        video.set_property('caps', clip.video_caps)
        video.connect('need-data', feeder.video.on_need_data)
        if audio:
            asrc = element.get_by_name('audio')
            asrc.set_property('caps', clip.audio_caps)
            asrc.connect('need-data', feeder.audio.on_need_data)
        media.connect('prepared', self._on_media_count, path, 1)
        media.connect('unprepared', self._on_media_count, path, -1)

    def _on_media_count(self, _media, path, delta):
        with self.media_lock:
            self.active_media[path] += delta

    def _on_client(self, _server, client):
        client.connect('new-session', self._on_new_session)

    def _on_new_session(self, _client, session):
        # Bound how long a vanished UDP client (no TEARDOWN, no keep-alive) stays counted.
        session.set_timeout(int(self.cfg['sessionTimeout']))

    def stats(self):
        sessions = {p: 0 for p in self.paths}
        for session in self.server.get_session_pool().filter(None):
            for sm in session.filter(None):
                path = getattr(sm.get_media(), 'sim_path', None)
                if path in sessions:
                    sessions[path] += 1
        with self.media_lock:
            media = dict(self.active_media)
        return {'sessions': sessions, 'media': media}

    def cut(self, path):
        """Closes the connection of every client with a session on `path`: the camera dropping its readers."""
        cut = 0
        for client in self.server.client_filter(None):
            paths = set()
            for session in client.session_filter(None):
                for sm in session.filter(None):
                    paths.add(getattr(sm.get_media(), 'sim_path', None))
            if path in paths:
                client.close()
                cut += 1
        return {'cut': cut}

    def start(self):
        if self.server.attach(None) == 0:
            raise RuntimeError('cannot listen on %s:%s' % (self.cfg['host'], self.cfg['port']))
        GLib.timeout_add_seconds(1, self._cleanup)
        return self.server.get_bound_port()

    def _cleanup(self):
        self.server.get_session_pool().cleanup()
        return True


def check_elements():
    missing = [e for e in REQUIRED_ELEMENTS if Gst.ElementFactory.find(e) is None]
    reply('MISSING ' + ' '.join(missing) if missing else 'OK')
    return 1 if missing else 0


def main():
    Gst.init(None)
    if len(sys.argv) > 1 and sys.argv[1] == '--check':
        return check_elements()
    cfg = json.loads(sys.argv[1])
    loop = GLib.MainLoop()
    stdin_buf = bytearray()
    try:
        server = Server(cfg)
        port = server.start()
    except Exception as e:  # noqa: BLE001 - report any startup failure to the parent, then exit
        log('startup failed: %s' % e)
        return 2

    def on_stdin(fd, _cond):
        chunk = os.read(fd, 4096)
        if not chunk:
            loop.quit()  # parent closed stdin or died: never outlive it
            return False
        stdin_buf.extend(chunk)
        while b'\n' in stdin_buf:
            idx = stdin_buf.index(b'\n')
            line = bytes(stdin_buf[:idx]).decode().strip()
            del stdin_buf[:idx + 1]
            if line == 'stats':
                reply(json.dumps(server.stats()))
            elif line.startswith('cut '):
                reply(json.dumps(server.cut(line[len('cut '):].strip())))
            elif line.startswith('frames '):
                log_ = server.sent_logs.get(line[len('frames '):].strip())
                reply(json.dumps(log_.dump() if log_ is not None else {'error': 'unknown path'}))
            elif line:
                reply(json.dumps({'error': 'unknown command'}))
        return True

    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP | GLib.IO_ERR, on_stdin)
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, lambda *_: loop.quit() or False)
    reply('READY %d' % port)
    loop.run()
    return 0


if __name__ == '__main__':
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: streaming threads may still hold the GIL-bound callbacks.
    os._exit(code)
