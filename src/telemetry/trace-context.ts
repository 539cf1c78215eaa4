const traceparent = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const zeros = /^0+$/;

/**
 * The trace id of a W3C `traceparent` header (Trace Context level 1), or undefined when the
 * header is absent or invalid: version `ff`, an all-zero trace or parent id, uppercase hex,
 * or trailing data on version 00 all make it invalid. The value is matched as it is: HTTP has
 * already stripped the spaces and tabs around it, and anything else there (a no-break space,
 * which `trim()` also removed) makes the header no traceparent.
 */
export function traceIdFrom(header: string | undefined): string | undefined {
  if (header === undefined || header.length > 512) return undefined;
  const match = traceparent.exec(header);
  if (match === null) return undefined;
  const [, version, traceId, parentId, , rest] = match;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === undefined || parentId === undefined || zeros.test(traceId) || zeros.test(parentId)) return undefined;
  return traceId;
}
