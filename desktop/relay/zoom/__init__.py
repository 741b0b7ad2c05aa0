"""The relay's Zoom integration (DESIGN.md "Zoom connection lifecycle", ZOOM.md).

Modules: ``client`` (calls to Zoom), ``vault`` (tokens encrypted at rest, key
rotation), ``rows`` (the Zoom tables), ``connecting`` (connect links, PKCE
and the OAuth callback), ``start_page`` (the connect link's start page:
browser binding, bound and purge of pending connects), ``link_policy`` (which
Zoom user may link), ``tokens`` (single-flight refresh, keep-alive, the
with-token retry), ``planner`` (when each background job falls due; pure),
``integration`` (the façade: disconnect, deauthorization, presence,
reconciliation, meetings, the background loop), ``signatures`` +
``webhooks`` (the webhook endpoint), ``routes`` (HTTP and the installer).

Configuration (environment variables; durations in seconds):

==========================================  ==========================================
``PROFITRINGER_ZOOM_CLIENT_ID``,             the Zoom app's OAuth credentials; unset:
``PROFITRINGER_ZOOM_CLIENT_SECRET``          connect and meetings answer 503
                                             ``zoom_not_configured``
``PROFITRINGER_ZOOM_WEBHOOK_SECRET``         the app's Secret Token; unset: webhooks
                                             answer 503 ``zoom_webhooks_not_configured``
``PROFITRINGER_ZOOM_OAUTH_URL``              Zoom's OAuth base (``https://zoom.us``)
``PROFITRINGER_ZOOM_API_URL``                Zoom's REST base (``https://api.zoom.us``);
                                             a token's ``api_url`` wins when present
``PROFITRINGER_PUBLIC_URL``                  builds ``redirect_uri`` =
                                             ``<public url>/oauth/zoom/callback``
``PROFITRINGER_TOKEN_KEYS``                  Fernet keys, comma-separated, newest first;
                                             unset: the key file ``zoom-token-keys``
                                             (0600) in the data dir, created if missing
``PROFITRINGER_ZOOM_REFRESH_TOKEN_LIFETIME`` assumed refresh-token lifetime (90 days);
                                             the keep-alive refreshes at two thirds
``PROFITRINGER_ZOOM_RECONCILE_AFTER``        re-read presence after this long "in
                                             meeting" (7200), and at every start
``PROFITRINGER_ZOOM_RETRY_DELAY``            wait before retrying a failed background
                                             refresh or presence read (300)
``PROFITRINGER_ZOOM_HTTP_TIMEOUT``           timeout of each call to Zoom (10)
``PROFITRINGER_ZOOM_LINK_POLICY``            ``any`` (default), ``email`` or ``domain``:
                                             which Zoom user an account may link
``PROFITRINGER_ZOOM_PENDING_CONNECTS``       unfinished connect links per account (5)
==========================================  ==========================================

``DELETE /api/v1/integrations/zoom`` works even when Zoom is not configured
(it deletes the tokens; there is just nothing to revoke with). The integration
object is ``app.state.zoom``; ``await app.state.zoom.reconcile_now()`` re-reads
presence for every connected account at once.
"""

from desktop.relay.zoom.routes import install

__all__ = ["install"]
