// The live socket /api/v1/live: a snapshot on connect, then updates. The
// browser's HttpOnly cookie authenticates it (the relay checks the Origin), so
// no token ever passes through this script. Any close but 4401 reconnects with
// exponential backoff and jitter; 4401 means the session is gone.

const SESSION_GONE = 4401;
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 30000;

export class Live {
  // handlers: {onState(doc, kind), onConnection(state, offlineSince), onSessionGone()}
  constructor(handlers) {
    this.handlers = handlers;
    this.socket = null;
    this.seq = -1;
    this.failures = 0;
    this.offlineSince = null;
    this.timer = null;
    this.stopped = true;
    this.retryNow = () => {
      if (!this.stopped && !this.socket) this.connect();
    };
    this.onVisible = () => {
      if (document.visibilityState === "visible") this.retryNow();
    };
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", this.retryNow);
    document.addEventListener("visibilitychange", this.onVisible);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.retryNow);
    document.removeEventListener("visibilitychange", this.onVisible);
    clearTimeout(this.timer);
    this.timer = null;
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, "signed out");
    }
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/api/v1/live`);
    } catch {
      this.lost();
      return;
    }
    this.socket = socket;
    let gotSnapshot = false;
    if (this.offlineSince === null) this.handlers.onConnection("connecting", null);
    socket.addEventListener("message", (event) => {
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!message || typeof message.seq !== "number" || !message.state) return;
      if (message.type === "snapshot") {
        // A fresh snapshot after every (re)connect replaces whatever we had.
        gotSnapshot = true;
        this.failures = 0;
        this.offlineSince = null;
        this.seq = message.seq;
        this.handlers.onConnection("online", null);
        this.handlers.onState(message.state, "snapshot");
      } else if (message.type === "update" && gotSnapshot && message.seq > this.seq) {
        this.seq = message.seq;
        this.handlers.onState(message.state, "update");
      }
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === SESSION_GONE) {
        this.stop();
        this.handlers.onSessionGone();
        return;
      }
      this.lost();
    });
  }

  lost() {
    if (this.stopped) return;
    if (this.offlineSince === null) this.offlineSince = new Date();
    this.handlers.onConnection("offline", this.offlineSince);
    const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** this.failures);
    this.failures += 1;
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  // Called when the page's own change got an answer: the newest state wins.
  take(doc) {
    if (doc && typeof doc.seq === "number" && doc.seq > this.seq) {
      this.seq = doc.seq;
      this.handlers.onState(doc, "answer");
    }
  }
}
