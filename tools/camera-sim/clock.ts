// xs:duration / xs:dateTime helpers for the simulated camera's clock.

// PnYnMnDTnHnMnS; years and months are approximated (365 d / 30 d): cameras only ever see seconds-to-hours here.
const DURATION = /^(-)?P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Milliseconds of an xs:duration, or undefined when the text is not one (or is negative). */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m || m[1] || text.trim() === 'P' || text.trim().endsWith('T')) {
    return undefined;
  }
  const n = (i: number): number => (m[i] ? Number(m[i]) : 0);
  const days = n(2) * 365 + n(3) * 30 + n(4);
  return Math.round((((days * 24 + n(5)) * 60 + n(6)) * 60 + n(7)) * 1000);
}

/** `PT60S`-style duration of whole seconds. */
export function formatDuration(ms: number): string {
  return `PT${Math.max(0, Math.round(ms / 1000))}S`;
}

/** UTC xs:dateTime with the given number of fraction digits (Hikvision sends none, Axis six). */
export function isoUtc(ms: number, fractionDigits = 0): string {
  const iso = new Date(ms).toISOString(); // always has 3 fraction digits
  const base = iso.slice(0, 19);
  if (fractionDigits <= 0) {
    return `${base}Z`;
  }
  const frac = (iso.slice(20, 23) + '000000').slice(0, fractionDigits);
  return `${base}.${frac}Z`;
}

/**
 * A termination given either as a duration (relative to the camera's now) or as an absolute dateTime in
 * the camera's clock. Returns the camera-clock instant, or undefined when unparsable.
 */
export function parseTermination(text: string, cameraNowMs: number): number | undefined {
  const t = text.trim();
  if (t.startsWith('P')) {
    const d = parseDuration(t);
    return d === undefined ? undefined : cameraNowMs + d;
  }
  // xs:dateTime without a zone is local to the camera; our cameras live in UTC.
  const withZone = /(Z|[+-]\d\d:\d\d)$/.test(t) ? t : `${t}Z`;
  const abs = Date.parse(withZone);
  return Number.isNaN(abs) ? undefined : abs;
}
