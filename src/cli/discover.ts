// `homebridge-courtyard discover`: the ONVIF cameras on this network, and whether the given login works on each.
import { DiscoveredCamera, discover } from '../onvif/discovery';
import { registerSecret } from '../util/redact';
import type { DiscoverArgs } from './args';
import { EXIT_AUTH, EXIT_FAILED, EXIT_OK, Output, jsonText, messageOf, redacting } from './output';

/** What the login check found, in words. */
function status(cam: DiscoveredCamera): string {
  switch (cam.auth) {
    case 'ok': {
      const i = cam.info;
      const who = i ? [`${i.manufacturer} ${i.model}`.trim(), i.serial && `serial ${i.serial}`].filter(Boolean).join(', ') : '';
      return `login ok${who ? ` (${who})` : ''}`;
    }
    case 'failed':
      return `login FAILED: ${cam.authError ?? 'refused'}`;
    case 'unreachable':
      return `not answering: ${cam.authError ?? 'no answer'}`;
    default:
      return 'login not tested (give --user and --password)';
  }
}

/** One line per camera: name, address, hardware, login result. */
export function cameraLine(cam: DiscoveredCamera): string {
  const hardware = cam.hardware ? `  ${cam.hardware}` : '';
  return `  ${cam.name ?? '(no name)'}  ${cam.host}:${cam.port}${hardware}  ${status(cam)}`;
}

/**
 * Runs one WS-Discovery scan and lists what answered. Exit code: 0 when cameras were found (and the login, if given,
 * works on all of them), EXIT_AUTH when some camera refused it, EXIT_FAILED when none answered or the scan failed.
 */
export async function runDiscover(args: DiscoverArgs, output: Output, signal?: AbortSignal): Promise<number> {
  registerSecret(args.credentials?.password);
  const out = redacting(output);
  let cams: DiscoveredCamera[];
  try {
    cams = await discover({ timeoutMs: args.timeoutS * 1000, target: args.target, credentials: args.credentials, signal });
  } catch (err) {
    const line = signal?.aborted ? 'cancelled' : `discovery failed: ${messageOf(err)}`;
    if (args.json) {
      out.line(jsonText({ cameras: [], error: line }));
    }
    out.error(line);
    return EXIT_FAILED;
  }
  cams.sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }) || a.port - b.port);
  const code = cams.length === 0 ? EXIT_FAILED
    : cams.some((c) => c.auth === 'failed') ? EXIT_AUTH
      : cams.some((c) => c.auth === 'unreachable') ? EXIT_FAILED : EXIT_OK;
  if (args.json) {
    out.line(jsonText({ cameras: cams }));
  } else if (cams.length > 0) {
    out.line(`Found ${cams.length} camera${cams.length === 1 ? '' : 's'}:`);
    cams.forEach((c) => out.line(cameraLine(c)));
  }
  if (cams.length === 0) {
    out.error(`no ONVIF camera answered within ${args.timeoutS} s (cameras answer only on this computer's own network ` +
      'segment, and only with ONVIF enabled; try a longer --timeout)');
  }
  return code;
}
