// One native messaging port to the card-agent host, shared by every tab.
//
// Why one port: Chrome starts a host process per `connectNative` port. Reusing one keeps a
// single process (and a single daemon connection) for all requests, lets `subscribe` events
// flow on it, and keeps the MV3 service worker alive while it is open (Chrome 105+).
// When the host exits or was never installed, the port disconnects; the next request opens
// a new one, so installing or restarting the agent needs no browser restart.

export class NativeConnection {
  /**
   * @param {object} options
   * @param {() => object} options.connect opens a port: `() => runtime.connectNative(HOST_NAME)`
   * @param {(message: unknown) => void} options.onMessage every message from the host
   * @param {(reason: string | null) => void} options.onDisconnect the open port closed
   * @param {() => string | null} [options.lastError] Chrome's `runtime.lastError` text, read
   *   inside the disconnect listener (Firefox puts it on `port.error` instead)
   */
  constructor({ connect, onMessage, onDisconnect, lastError = () => null }) {
    this._connect = connect;
    this._onMessage = onMessage;
    this._onDisconnect = onDisconnect;
    this._lastError = lastError;
    this._port = null;
    /** How many ports were opened; tests and diagnostics read it. */
    this.opened = 0;
  }

  /** Whether a port is open now. */
  get connected() {
    return this._port !== null;
  }

  /**
   * Sends `message`, opening the port first if needed. Throws when the port cannot be
   * opened or used; the caller answers its request with an "unreachable" error.
   */
  post(message) {
    const port = this._port ?? this._open();
    try {
      port.postMessage(message);
      return;
    } catch (error) {
      // The port died between its last event and now (the host exited and the disconnect
      // event is still queued). Whatever was sent on it is lost: report that now, as the
      // queued event will be ignored once the port is replaced.
      if (this._port === port) {
        this._port = null;
        this._onDisconnect(String(error?.message ?? error));
      }
    }
    // One fresh port gets one more try; if this throws, the caller reports "unreachable".
    this._open().postMessage(message);
  }

  /** Closes the port on purpose (no disconnect callback: the caller knows). */
  close() {
    const port = this._port;
    this._port = null;
    if (port) {
      try {
        port.disconnect();
      } catch {
        // Already gone.
      }
    }
  }

  _open() {
    const port = this._connect();
    this.opened += 1;
    this._port = port;
    port.onMessage.addListener((message) => {
      if (this._port === port) this._onMessage(message);
    });
    port.onDisconnect.addListener((p) => {
      // Read the reason first: Chrome clears runtime.lastError when the listener returns.
      const reason = p?.error?.message ?? this._lastError() ?? null;
      // A late disconnect from a port we already replaced concerns nobody.
      if (this._port !== port) return;
      this._port = null;
      this._onDisconnect(reason);
    });
    return port;
  }
}
