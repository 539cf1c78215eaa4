/**
 * The ports the Fetch Standard calls bad ("port blocking"): Node's fetch refuses to connect to
 * any of them (`bad port`), the same list on Node 20 and 26, so a key set or introspection
 * endpoint served on one is never reached.
 */
const badPorts: ReadonlySet<number> = new Set([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117,
  119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636,
  989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/**
 * Why fetch will never reach the http(s) URL `value` on its port, or undefined when it may (an
 * unparsable URL included): a bad port, which fetch refuses, or port 0, which it tries and
 * which nothing is ever reached at, so every token would be denied as if the endpoint were down.
 */
export function fetchPortProblem(value: string): string | undefined {
  if (!URL.canParse(value)) return undefined;
  const { port } = new URL(value);
  if (port === '0') return 'port 0 is no port a client connects to (the system picks one only to listen on): give the port the endpoint is served on';
  if (badPorts.has(Number(port))) return `port ${port} is one fetch never connects to (a bad port of the Fetch Standard): serve the endpoint on another port`;
  return undefined;
}
