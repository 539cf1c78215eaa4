/**
 * A JSON POST whose body arrives late: its first `firstBytes` at once, the rest `afterMs` later,
 * so the request's own time runs while the route still waits for it.
 */
export function lateJsonPost(body: unknown, firstBytes: number, afterMs: number): RequestInit {
  const bytes = new TextEncoder().encode(JSON.stringify(body));
  const stream = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(bytes.subarray(0, firstBytes));
      await new Promise((done) => setTimeout(done, afterMs));
      controller.enqueue(bytes.subarray(firstBytes));
      controller.close();
    },
  });
  return { method: 'POST', headers: { 'content-type': 'application/json' }, body: stream, duplex: 'half' } as RequestInit;
}
