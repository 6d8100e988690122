// CLI: node .build/tools/camera-sim/cli.js --cameras 8 [--vendor hikvision|dahua|axis|reolink|generic|mixed]
//   [--base-port 18080] [--rtsp-port 18554] [--no-media] [--skew-ms N] [--cache-dir DIR]
// Prints one JSON line per camera, then `ready`; runs until SIGINT/SIGTERM, stops everything, exits 0.
import { CameraSim, MAX_CAMERAS } from './sim';
import { SimCameraOptions, VENDORS, Vendor } from './types';

interface CliArgs {
  cameras: number;
  vendor: Vendor | 'mixed';
  basePort: number;
  rtspPort: number | undefined;
  media: boolean;
  skewMs: number;
  cacheDir: string | undefined;
}

function usage(message: string): never {
  process.stderr.write(`camera-sim: ${message}\n` +
    'usage: cli.js --cameras N [--vendor hikvision|dahua|axis|reolink|generic|mixed] [--base-port P] ' +
    '[--rtsp-port P] [--no-media] [--skew-ms N] [--cache-dir DIR]\n');
  process.exit(2);
}

function integer(flag: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < min || n > max) {
    usage(`${flag} needs an integer in ${min}..${max}`);
  }
  return n;
}

export function parseArgs(argv: string[]): CliArgs {
  const args: CliArgs = { cameras: 1, vendor: 'hikvision', basePort: 0, rtspPort: undefined, media: true, skewMs: 0,
    cacheDir: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string | undefined => argv[++i];
    switch (flag) {
    case '--cameras': args.cameras = integer(flag, value(), 1, MAX_CAMERAS); break;
    case '--vendor': {
      const v = value();
      if (v !== 'mixed' && !VENDORS.includes(v as Vendor)) {
        usage(`unknown vendor ${v}`);
      }
      args.vendor = v as Vendor | 'mixed';
      break;
    }
    case '--base-port': args.basePort = integer(flag, value(), 1024, 65535 - MAX_CAMERAS); break;
    case '--rtsp-port': args.rtspPort = integer(flag, value(), 1024, 65535); break;
    case '--no-media': args.media = false; break;
    case '--skew-ms': args.skewMs = integer(flag, value(), -10 * 365 * 86400_000, 10 * 365 * 86400_000); break;
    case '--cache-dir': args.cacheDir = value() ?? usage('--cache-dir needs a directory'); break;
    default: usage(`unknown argument ${flag}`);
    }
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cameras: SimCameraOptions[] = Array.from({ length: args.cameras }, (_, i) => ({
    port: args.basePort ? args.basePort + i : 0,
    clockSkewMs: args.skewMs,
  }));
  const sim = await CameraSim.start({ cameras, vendor: args.vendor, media: args.media, rtspPort: args.rtspPort,
    cacheDir: args.cacheDir });
  for (const c of sim.cameras) {
    process.stdout.write(`${JSON.stringify({ name: c.name, vendor: c.vendor, deviceUrl: c.deviceUrl,
      username: c.username, password: c.password, serial: c.info.serial })}\n`);
  }
  process.stdout.write('ready\n');
  let stopping = false;
  const shutdown = (): void => {
    if (stopping) {
      return;
    }
    stopping = true;
    sim.stop().then(() => process.exit(0), (err: Error) => {
      process.stderr.write(`camera-sim: stop failed: ${err.message}\n`);
      process.exit(1);
    });
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, shutdown);
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`camera-sim: ${err.message}\n`);
    process.exit(1);
  });
}
