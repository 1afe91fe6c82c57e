// A bound on the HTTP server's open connections that sheds the least useful one instead of refusing the newest: a
// flood of idle sockets (or readers that never read) must not lock the kubelet's probe and the scraper out.
// Node's own maxConnections refuses every new connection once the cap is reached, which is exactly that lock-out,
// and its closeIdleConnections() leaves sockets that never sent a request open.

import type { Server } from 'node:http';
import type { Socket } from 'node:net';

interface Tracked {
  socket: Socket;
  /** when the connection opened or last finished a request */
  since: number;
  /** requests in flight on it */
  busy: number;
}

export interface ConnectionBound {
  /** connections closed to make room */
  readonly evicted: number;
  readonly open: number;
}

/**
 * At most `cap` connections: when a new one would exceed it, idle connections go first (those that never sent a
 * request, or sit between keep-alive requests), oldest first, then the oldest busy one (a reader that does not read).
 */
export function boundConnections(server: Server, cap: number, now: () => number = Date.now): ConnectionBound {
  const live = new Map<Socket, Tracked>();
  let evicted = 0;
  const evictOne = (): boolean => {
    let victim: Tracked | null = null;
    for (const t of live.values()) {
      if (!victim || (t.busy === 0 && victim.busy > 0) || ((t.busy === 0) === (victim.busy === 0) && t.since < victim.since)) victim = t;
    }
    if (!victim) return false;
    live.delete(victim.socket);
    victim.socket.destroy();
    evicted++;
    return true;
  };
  server.on('connection', (socket: Socket) => {
    while (live.size >= cap && evictOne()) {
      // room made
    }
    live.set(socket, { socket, since: now(), busy: 0 });
    socket.once('close', () => live.delete(socket));
  });
  server.on('request', (req, res) => {
    // Over HTTPS the request's socket is the TLSSocket wrapping the one 'connection' gave (its _parent).
    const t = live.get(req.socket) ?? live.get((req.socket as Socket & { _parent?: Socket })._parent as Socket);
    if (!t) return;
    t.busy++;
    res.once('close', () => {
      t.busy = Math.max(0, t.busy - 1);
      t.since = now();
    });
  });
  return {
    get evicted() {
      return evicted;
    },
    get open() {
      return live.size;
    },
  };
}
