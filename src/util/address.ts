// One place for the spellings of a host: bracketed or bare IPv6, IPv4-mapped IPv6, zone ids, numeric-looking names.
// Node and cameras each write addresses their own way (URL.hostname keeps the brackets, a dual-stack socket reports
// ::ffff:a.b.c.d, WHATWG URL rewrites ::ffff:a.b.c.d as ::ffff:xxxx:yyyy and refuses zone ids): every comparison,
// URL and host:port in the plugin goes through these helpers so that no two places disagree about one camera.
import { isIPv4, isIPv6 } from 'node:net';

/** `[fd00::1]` → `fd00::1` (URL.hostname keeps the brackets; sockets, dgram and comparisons want them off). */
export function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

const MAPPED_DOTTED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i;

/**
 * An IPv4-mapped IPv6 address as the IPv4 address it maps (`::ffff:10.0.0.5`, or `::ffff:a00:5` as URL writes it,
 * becomes `10.0.0.5`); anything else unchanged. Dual-stack sockets report IPv4 peers this way, and an IPv4 camera
 * reached as ::ffff:… is still an IPv4 camera: a udp4 socket cannot bind it and a camera cannot call it back.
 */
export function unmapIPv4(address: string): string {
  const bare = unbracket(address);
  const dotted = MAPPED_DOTTED.exec(bare);
  if (dotted && isIPv4(dotted[1])) {
    return dotted[1];
  }
  const hex = MAPPED_HEX.exec(bare);
  if (hex) {
    const hi = parseInt(hex[1], 16);
    const lo = parseInt(hex[2], 16);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return address;
}

/** The host as it goes into a URL or a host:port: IPv6 literals in brackets, anything else as it is. */
export function urlHost(host: string): string {
  const bare = unbracket(host);
  return isIPv6(bare) ? `[${bare}]` : bare;
}

/** `192.168.1.20:80`, `[fd00::20]:80`, `cam1.local:80`: for URLs and for log lines a user can paste. */
export function hostPort(host: string, port: number): string {
  return `${urlHost(host)}:${port}`;
}

/** One spelling per address, for equality: bare, lower case, IPv6 compressed the way URL writes it, IPv4-mapped as IPv4. */
export function hostKey(host: string): string {
  const bare = unbracket(host.trim()).toLowerCase();
  if (!isIPv6(bare)) {
    return bare;
  }
  try {
    return unmapIPv4(unbracket(new URL(`http://[${bare}]/`).hostname));
  } catch {
    return bare; // a zone id (fe80::1%eth0): valid for sockets, not for URL; compared as written
  }
}

/** Whether two spellings name the same host (`fd00::1`, `[FD00:0::1]`; `10.0.0.5` and `::ffff:10.0.0.5`). */
export function isSameHost(a: string, b: string): boolean {
  return hostKey(a) === hostKey(b);
}

/** 0.0.0.0 or :: — "any address" to a listener, never the address of a camera. */
export function isUnspecified(host: string): boolean {
  const key = hostKey(host);
  return key === '0.0.0.0' || key === '::';
}

/** 127.0.0.0/8 or ::1: this machine, wherever the text came from. */
export function isLoopback(host: string): boolean {
  const key = hostKey(host);
  return key === '::1' || (isIPv4(key) && key.startsWith('127.'));
}

// A DNS name: letters, digits and hyphens in dot-separated labels (underscores too: some LANs' DHCP names have them).
const HOSTNAME = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;
// WHATWG URL reads a host whose last label is a number (decimal or 0x hex) as IPv4, octal and short forms included.
const NUMERIC_LAST_LABEL = /(?:^|\.)(?:\d+|0x[0-9a-f]*)\.?$/i;

/**
 * A host from the user (config, command line) checked and written one way: brackets off, IPv6 compressed, IPv4-mapped
 * as IPv4. Refuses, with the reason, what would fail later in a less clear way: zone ids (URLs cannot carry them),
 * half-bracketed text, and numeric names that URL would silently read as another IPv4 address (`1.2.3` is 1.2.0.3).
 */
export function parseHost(raw: string): { host: string } | { problem: string } {
  const text = raw.trim();
  // user:password@host: every other problem quotes the text, and this text holds the password.
  if (text.includes('@')) {
    return { problem: 'must be only the address, without a user name or password and "@" (give those separately)' };
  }
  const bare = unbracket(text);
  if (!bare || bare.includes('[') || bare.includes(']')) {
    return { problem: `"${text}" is not a valid host name or IP address` };
  }
  if (bare.includes('%')) {
    return { problem: `"${text}" is a link-local IPv6 address with a zone (%…), which cannot be used in the camera's URLs; ` +
      'use its IPv4 address, another IPv6 address of it, or its host name' };
  }
  if (bare.includes(':')) {
    return isIPv6(bare) ? { host: hostKey(bare) } : { problem: `"${text}" is not a valid IPv6 address` };
  }
  if (text !== bare) {
    return { problem: `"${text}": only IPv6 addresses are written in brackets` };
  }
  if (NUMERIC_LAST_LABEL.test(bare)) {
    return isIPv4(bare) ? { host: bare } : { problem: `"${text}" is not a valid IPv4 address (four numbers from 0 to 255, e.g. 192.168.1.20)` };
  }
  return HOSTNAME.test(bare) ? { host: bare } : { problem: `"${text}" is not a valid host name or IP address` };
}
