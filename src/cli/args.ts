// Command-line parsing for the homebridge-courtyard bin, by hand: two commands and a few options need no dependency.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ONVIF_PORT } from '../settings';
import { parseHost } from '../util/address';

/** Read when --password is not given, so the password stays out of the shell history and the process list. */
export const PASSWORD_ENV = 'COURTYARD_PASSWORD';
export const DEFAULT_EVENTS_S = 10;
const MAX_EVENTS_S = 3_600;
export const DEFAULT_DISCOVER_TIMEOUT_S = 3;
export const DEFAULT_EVENTS_LIMIT = 20;
const MAX_DISCOVER_TIMEOUT_S = 60;

export interface ProbeArgs {
  command: 'probe';
  host: string;
  port: number;
  username: string;
  password: string;
  /** How long to listen for events; 0 skips the subscription. */
  eventsS: number;
  /** Read the video streams (needs ffmpeg) to say whether live view and recording copy or transcode them. */
  video: boolean;
  json: boolean;
}

export interface DiscoverArgs {
  command: 'discover';
  timeoutS: number;
  credentials?: { username: string; password: string };
  /** Unicast target instead of the multicast group (one camera, or a test responder). */
  target?: { address: string; port: number };
  json: boolean;
}

export interface EventsArgs {
  command: 'events';
  /** The Homebridge storage path (the plugin keeps its history in <storage>/courtyard). */
  storage: string;
  camera?: string;
  limit: number;
  json: boolean;
}

export type CliArgs = ProbeArgs | DiscoverArgs | EventsArgs | { command: 'help' };

/** Wrong command line: the message says what, and the caller points at --help. */
export class UsageError extends Error {}

export const USAGE = `Usage:
  homebridge-courtyard probe --host HOST [--port PORT] --user USER --password PASSWORD [--events SECONDS] [--no-video] [--json]
  homebridge-courtyard discover [--timeout SECONDS] [--user USER --password PASSWORD] [--target ADDRESS:PORT] [--json]
  homebridge-courtyard events [--storage DIR] [--camera NAME] [--limit N] [--json]
  homebridge-courtyard --help

probe     Checks one ONVIF camera the way the plugin will use it: device information, clock offset, every
          media profile (codec, resolution, frame rate, bitrate, keyframe interval, audio), stream and snapshot
          URIs, one snapshot fetched, the streams read to say whether live view and HomeKit Secure Video copy
          them or transcode them (and which camera setting decides), then the camera's events for a while, each
          with the meaning the plugin gives it.
            --port      ONVIF HTTP port (default ${DEFAULT_ONVIF_PORT})
            --events    seconds to listen for events (default ${DEFAULT_EVENTS_S}, 0 = skip; Ctrl-C ends early)
            --no-video  skip reading the video streams
discover  Lists the ONVIF cameras on this network (WS-Discovery) and, given a user and password, whether they work.
            --timeout   seconds to wait for answers (default ${DEFAULT_DISCOVER_TIMEOUT_S})
            --target    send the probe to this address instead of the multicast group
events    Shows each camera's recent events (motion, detections, rings, offline/online) as the plugin kept them.
            --storage   the Homebridge storage path (default ~/.homebridge)
            --camera    only this camera; --limit  the newest N events (default ${DEFAULT_EVENTS_LIMIT})

The password may come from the ${PASSWORD_ENV} environment variable instead of --password.
Passwords are never printed. --json prints one JSON document instead of text.
Exit status: 0 all went well, 2 the camera refused the user name or password, 1 anything else failed.`;

type Flags = Map<string, string | true>;

type Command = 'probe' | 'discover' | 'events';

const VALUE_OPTIONS: Record<Command, string[]> = {
  probe: ['host', 'port', 'user', 'password', 'events'],
  discover: ['timeout', 'user', 'password', 'target'],
  events: ['storage', 'camera', 'limit'],
};
const ALIASES: Record<string, string> = { username: 'user', h: 'help' };

/** `--name value`, `--name=value` and the flags --json / --help; anything else is a UsageError. */
function readFlags(command: Command, argv: string[]): Flags {
  const flags: Flags = new Map();
  let previous = '';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--?([a-z-]+)(?:=(.*))?$/i.exec(arg);
    if (!m) {
      // After --password it is the rest of a password with a space in it: never printed.
      throw new UsageError(previous === 'password'
        ? 'unexpected argument after the password (a password with spaces must be quoted: --password \'two words\')'
        : `unexpected argument "${arg}"`);
    }
    previous = ALIASES[m[1]] ?? m[1];
    const name = ALIASES[m[1]] ?? m[1];
    if (name === 'json' || name === 'help' || (name === 'no-video' && command === 'probe')) {
      if (m[2] !== undefined) {
        throw new UsageError(`--${name} takes no value`);
      }
      flags.set(name, true);
      continue;
    }
    if (!VALUE_OPTIONS[command].includes(name)) {
      throw new UsageError(`unknown option --${m[1]} for ${command}`);
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) {
      throw new UsageError(`--${name} needs a value`);
    }
    if (flags.has(name)) {
      throw new UsageError(`--${name} given twice`);
    }
    flags.set(name, value);
  }
  return flags;
}

function text(flags: Flags, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

function number(flags: Flags, name: string, min: number, max: number, fallback: number, integer = true): number {
  const raw = text(flags, name);
  if (raw === undefined) {
    return fallback;
  }
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || n > max) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got "${raw}"`);
  }
  return n;
}

/** The password from --password, else from the environment; a user without any password is a usage error. */
function password(flags: Flags, env: NodeJS.ProcessEnv): string | undefined {
  return text(flags, 'password') ?? env[PASSWORD_ENV];
}

function parseProbe(flags: Flags, env: NodeJS.ProcessEnv): ProbeArgs {
  const typed = text(flags, 'host')?.trim();
  if (!typed) {
    throw new UsageError('probe needs --host');
  }
  // [::1] and ::1 both name an IPv6 host (OnvifDevice adds the brackets itself); a zone id or 1.2.3 is refused here, clearly.
  const host = parseHost(typed);
  if ('problem' in host) {
    throw new UsageError(`--host ${host.problem}`);
  }
  const username = text(flags, 'user');
  if (username === undefined) {
    throw new UsageError('probe needs --user');
  }
  const pw = password(flags, env);
  if (pw === undefined) {
    throw new UsageError(`probe needs --password (or ${PASSWORD_ENV} in the environment)`);
  }
  return {
    command: 'probe',
    host: host.host,
    port: number(flags, 'port', 1, 65_535, DEFAULT_ONVIF_PORT),
    username,
    password: pw,
    eventsS: number(flags, 'events', 0, MAX_EVENTS_S, DEFAULT_EVENTS_S, false),
    video: !flags.has('no-video'),
    json: flags.has('json'),
  };
}

function parseDiscover(flags: Flags, env: NodeJS.ProcessEnv): DiscoverArgs {
  const username = text(flags, 'user');
  const pw = password(flags, env);
  if (username === undefined && text(flags, 'password') !== undefined) {
    throw new UsageError('--password needs --user');
  }
  if (username !== undefined && pw === undefined) {
    throw new UsageError(`--user needs --password (or ${PASSWORD_ENV} in the environment)`);
  }
  const args: DiscoverArgs = {
    command: 'discover',
    timeoutS: number(flags, 'timeout', 0.1, MAX_DISCOVER_TIMEOUT_S, DEFAULT_DISCOVER_TIMEOUT_S, false),
    json: flags.has('json'),
  };
  if (username !== undefined && pw !== undefined) {
    args.credentials = { username, password: pw };
  }
  const target = text(flags, 'target');
  if (target !== undefined) {
    const m = /^([^:\s]+):(\d{1,5})$/.exec(target.trim());
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65_535) {
      throw new UsageError(`--target must be ADDRESS:PORT, got "${target}"`);
    }
    args.target = { address: m[1], port };
  }
  return args;
}

/** Parses process.argv.slice(2). Throws UsageError for anything it cannot use. */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = {}): CliArgs {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    return { command: 'help' };
  }
  if (command !== 'probe' && command !== 'discover' && command !== 'events') {
    throw new UsageError(`unknown command "${command}"`);
  }
  const flags = readFlags(command, rest);
  if (flags.has('help')) {
    return { command: 'help' };
  }
  if (command === 'events') {
    return {
      command: 'events',
      storage: text(flags, 'storage') ?? join(env.HOME ?? homedir(), '.homebridge'),
      camera: text(flags, 'camera'),
      limit: number(flags, 'limit', 1, 1_000, DEFAULT_EVENTS_LIMIT),
      json: flags.has('json'),
    };
  }
  return command === 'probe' ? parseProbe(flags, env) : parseDiscover(flags, env);
}
