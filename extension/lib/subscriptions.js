// Which clients receive pushed events. The host connection is shared, so the host sees one
// subscription however many tabs listen; this set says who gets each event.

export class Subscriptions {
  constructor() {
    this._clients = new Set();
  }

  get size() {
    return this._clients.size;
  }

  add(client) {
    this._clients.add(client);
  }

  /** Removes `client`; true when it was the last subscriber (the host should unsubscribe). */
  remove(client) {
    return this._clients.delete(client) && this._clients.size === 0;
  }

  /** A snapshot, so a listener that unsubscribes during fan-out cannot upset the loop. */
  clients() {
    return [...this._clients];
  }

  /** Empties the set and returns who was in it. */
  clear() {
    const all = [...this._clients];
    this._clients.clear();
    return all;
  }
}
