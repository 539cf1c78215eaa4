import type { IncomingMessage, RequestListener } from 'node:http';

/**
 * Whether Node's parser may have taken `request` as switching protocols: it does for an
 * `Upgrade` header with `upgrade` among the Connection options. Looser than the parser's own
 * test (any `upgrade` in Connection, an empty Upgrade): a miss would leave the fault below in
 * place, an extra match only closes a connection that could have stayed open.
 */
function mayUpgrade(request: IncomingMessage): boolean {
  return request.headers.upgrade !== undefined && /upgrade/i.test(request.headers.connection ?? '');
}

/**
 * `listener`, with the connection closed after answering a request that asks to upgrade it
 * (`Connection: upgrade` and an `Upgrade` header, as `curl --http2` sends over plain HTTP). The
 * request itself is answered as any other: the upgrade is ignored, as RFC 9110 §7.8 allows.
 * Node's parser stops at the end of such a request, the bytes after it being the new protocol's;
 * with no `upgrade` listener the server answers it as HTTP and goes on parsing what the client
 * sends later, but drops the rest of the read the request ended in. A request pipelined behind
 * it was never answered, the connection left open until the keep-alive timeout, and one whose
 * head was dropped had its body read as a request of its own. Closing the connection after the
 * answer settles both: nothing parsed after it on that connection is evaluated (see inTurn),
 * and the client knows to send again what was not answered (RFC 9112 §9.3.2).
 */
export function closeAfterUpgradeRequests(listener: RequestListener): RequestListener {
  return function onRequestMayUpgrade(request, response) {
    if (mayUpgrade(request)) response.setHeader('connection', 'close');
    listener(request, response);
  };
}
