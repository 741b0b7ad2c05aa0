"""The tray's one controller: turns clicks into client calls and state into status.

It owns no widgets. The decisions — what the status says, whether a message
calls for a notification, which update is stale — are in the Qt-free
:class:`desktop.client.presentation.TrayModel`; this class wires the model to
the relay (through the bridge), the keyring, the settings and the notifier,
all injected.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from PySide6.QtCore import QObject, Signal, Slot

from desktop.app.bridge import AsyncBridge
from desktop.app.notifier import Notifier
from desktop.client.api import (
    MeetingLink,
    RelayClient,
    RelayError,
    SignedInAccount,
    normalize_backend_url,
    plain_http_risk,
    redact_url,
)
from desktop.client.credentials import CredentialError, TokenKeyring
from desktop.client.presentation import TrayModel, TrayStatus
from desktop.client.settings import AppSettings, SettingsStore
from desktop.core.wire import MessageType, StateDocument, now_utc

log = logging.getLogger(__name__)

ClientFactory = Callable[[str, str | None], RelayClient]


def default_device_name() -> str:
    """How this computer is listed among the account's sign-ins: its hostname."""
    return f"ProfitRinger Desktop on {platform.node() or 'this computer'}"


def describe_error(error: Exception) -> str:
    """A sentence a person can act on, for any failure of a client call."""
    if isinstance(error, RelayError):
        return error.message
    return f"Something unexpected went wrong ({type(error).__name__}); try again."


class TrayController(QObject):
    """State and actions of the tray, shared by the tray icon and the status window.

    Signals:
        status_changed(object): the :class:`TrayStatus` to show now.
        sign_in_required(str): show the sign-in dialog; the text says why
            (empty on a first start).
        error(str, str): an action failed: title and a sentence for the person.
        notice(str, str): something the person should know (title, text),
            e.g. that the sign-in cannot be remembered.
        link_not_opened(str, str): no browser could open a link: what it is
            for, and the link, for the person to open by hand.
    """

    status_changed = Signal(object)
    sign_in_required = Signal(str)
    error = Signal(str, str)
    notice = Signal(str, str)
    link_not_opened = Signal(str, str)

    def __init__(
        self,
        bridge: AsyncBridge,
        settings_store: SettingsStore,
        keyring: TokenKeyring,
        notifier: Notifier,
        *,
        browser: Callable[[str], object],
        clipboard: Callable[[str], None],
        clock: Callable[[], datetime] = now_utc,
        client_factory: ClientFactory = RelayClient,
        device_name: str | None = None,
        settings: AppSettings | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._bridge = bridge
        self._store = settings_store
        self.settings = settings if settings is not None else settings_store.load()
        self._keyring = keyring
        self.notifier = notifier
        self._browser = browser
        self._clipboard = clipboard
        self._clock = clock
        self._client_factory = client_factory
        self.device_name = device_name or default_device_name()
        self.model = TrayModel(clock, self.settings.notification_prefs)
        self.client: RelayClient | None = None
        self.keyring_note = "not used yet"
        bridge.live_message.connect(self._on_live_message)
        bridge.live_online.connect(self._on_online)
        bridge.live_offline.connect(self._on_offline)
        bridge.session_gone.connect(self._on_session_gone)

    # -- status -----------------------------------------------------------

    def status(self) -> TrayStatus:
        return self.model.status()

    def now(self) -> datetime:
        return self._clock()

    @property
    def signed_in(self) -> bool:
        return self.client is not None

    @property
    def document(self) -> StateDocument | None:
        return self.model.document if self.model.online else None

    def _emit_status(self) -> None:
        self.status_changed.emit(self.model.status())

    # -- session ----------------------------------------------------------

    def start(self) -> None:
        """Resume the remembered session, or ask the person to sign in."""
        settings = self.settings
        token: str | None = None
        if settings.email:
            try:
                token = self._keyring.load(settings.backend_url, settings.email)
                self.keyring_note = "system keyring"
            except CredentialError as problem:
                self._keyring_problem(problem)
        if token and not self.plain_http_confirmed(settings.backend_url):
            # A session from before the warning existed, or one whose backend
            # was changed to plain http since: the token is not sent until the
            # person has seen what is at risk.
            log.info("not resuming over plain http without confirmation")
            self.model.signed_out()
            self._emit_status()
            self.sign_in_required.emit(
                "Your backend is not encrypted (http). Sign in again to confirm you "
                "want to use it, or enter its https:// address."
            )
            return
        if token:
            log.info(
                "resuming the session of %s at %s", settings.email, redact_url(settings.backend_url)
            )
            self._begin_session(self._client_factory(settings.backend_url, token))
            return
        self.model.signed_out()
        self._emit_status()
        self.sign_in_required.emit("")

    def plain_http_confirmed(self, backend_url: str) -> bool:
        """True when ``backend_url`` is safe to use: encrypted, on loopback, or
        a plain-http backend the person confirmed when they signed in to it."""
        try:
            return (
                plain_http_risk(backend_url) is None
                or normalize_backend_url(backend_url) == self.settings.plain_http_confirmed
            )
        except ValueError:
            return False

    def sign_in(
        self,
        backend_url: str,
        email: str,
        password: str,
        done: Callable[[str | None], None],
        *,
        allow_plain_http: bool = False,
    ) -> None:
        """Sign in; ``done(None)`` on success, ``done(message)`` on failure.

        A plain-http backend on another machine is refused unless
        ``allow_plain_http`` says the person confirmed the warning (or did so
        before for this backend).
        """
        try:
            url = normalize_backend_url(backend_url)
        except ValueError as problem:
            done(str(problem))
            return
        risk = plain_http_risk(url)
        if risk is not None and not (allow_plain_http or self.plain_http_confirmed(url)):
            done(risk)
            return
        email = email.strip()
        if not email or not password:
            done("Enter your email and password.")
            return
        client = self._client_factory(url, None)

        def signed_in(result: tuple[str, SignedInAccount]) -> None:
            token, account = result
            self.settings.backend_url = url
            self.settings.email = account.email
            self.settings.plain_http_confirmed = url if risk is not None else ""
            self._save_settings()
            try:
                self._keyring.save(url, account.email, token)
                self.keyring_note = "system keyring"
            except CredentialError as problem:
                self._keyring_problem(problem)
            log.info(
                "signed in as %s at %s as %r", account.email, redact_url(url), self.device_name
            )
            self._begin_session(client)
            done(None)

        def failed(error: Exception) -> None:
            log.info("sign-in failed: %s", getattr(error, "code", type(error).__name__))
            done(describe_error(error))

        self._bridge.call(
            lambda: client.sign_in(email, password, self.device_name), signed_in, failed
        )

    def _begin_session(self, client: RelayClient) -> None:
        assert client.token is not None
        self.client = client
        self.model.signed_in()
        self._emit_status()
        self._bridge.start_live(client.live_url, client.token)

    def sign_out(self) -> None:
        """End the session at the relay and forget the token here."""
        client = self.client
        if client is not None and client.token:
            self._bridge.call(
                client.sign_out,
                lambda _: log.info("signed out at the relay"),
                lambda error: log.info("sign-out at the relay failed: %s", describe_error(error)),
            )
        self._end_session()

    def _end_session(self) -> None:
        self._bridge.stop_live()
        self._forget_token()
        self.client = None
        self.model.signed_out()
        self._emit_status()

    def _forget_token(self) -> None:
        if not self.settings.email:
            return
        try:
            self._keyring.forget(self.settings.backend_url, self.settings.email)
        except CredentialError as problem:
            log.info("could not forget the token: %s", problem.title)

    def _keyring_problem(self, problem: CredentialError) -> None:
        self.keyring_note = f"unavailable ({problem.title})"
        self.notice.emit(problem.title, problem.message)

    def _save_settings(self) -> None:
        try:
            self._store.save(self.settings)
        except OSError as problem:
            self.error.emit("Cannot save settings", f"Writing {self._store.path} failed: {problem}")

    def apply_settings(self, settings: AppSettings) -> None:
        self.settings = settings
        self.model.prefs = settings.notification_prefs
        self._save_settings()

    # -- live socket --------------------------------------------------------

    @Slot(str, object)
    def _on_live_message(self, kind: MessageType, document: StateDocument) -> None:
        notification = self.model.apply_live(kind, document)
        self._emit_status()
        if notification is not None:
            self.notifier.show(notification.kind, notification.title, notification.body)

    @Slot()
    def _on_online(self) -> None:
        self.model.went_online()
        self._emit_status()

    @Slot(object, str)
    def _on_offline(self, since: datetime, reason: str) -> None:
        log.info("offline: %s", reason)
        self.model.went_offline(since)
        self._emit_status()

    @Slot()
    def _on_session_gone(self) -> None:
        log.info("the relay ended the session")
        self._end_session()
        self.sign_in_required.emit("Your session has ended. Sign in again to continue.")

    def wake(self) -> None:
        """The machine woke or the network came back: reconnect now."""
        if self.client is not None and not self.model.online:
            self._bridge.wake()

    # -- actions ------------------------------------------------------------

    def _change(self, what: str, work: Callable[[RelayClient], Awaitable[StateDocument]]) -> None:
        client = self.client
        if client is None:
            return
        self.model.begin_own_action()

        def changed(document: StateDocument) -> None:
            self.model.end_own_action(document)
            self._emit_status()

        def failed(error: Exception) -> None:
            self.model.end_own_action(None)
            self._failed(what, error)

        self._bridge.call(lambda: work(client), changed, failed)

    def _failed(self, what: str, error: Exception) -> None:
        if isinstance(error, RelayError) and error.session_gone:
            self._on_session_gone()
            return
        log.info("could not %s: %s", what, getattr(error, "code", type(error).__name__))
        self.error.emit(f"Could not {what}", describe_error(error))

    def set_ringer(self, on: bool) -> None:
        self._change("turn the ringer " + ("on" if on else "off"), lambda c: c.set_ringer(on))

    def set_auto_pause(self, on: bool) -> None:
        what = ("start" if on else "stop") + " pausing for Zoom meetings"
        self._change(what, lambda c: c.set_auto_pause(on))

    def set_preferred(self, preferred: str) -> None:
        self._change(f"set you {preferred}", lambda c: c.set_preferred(preferred))

    def take_calls_during_meeting(self) -> None:
        self._change(
            "take calls during this meeting",
            lambda c: c.set_override("available", "meeting_end"),
        )

    def pause_for(self, minutes: int) -> None:
        until = self._clock() + timedelta(minutes=minutes)
        self._change("pause the ringer", lambda c: c.set_override("unavailable", until))

    def pause_until_resumed(self) -> None:
        self._change("pause the ringer", lambda c: c.set_override("unavailable", "manual"))

    def clear_override(self) -> None:
        self._change("clear the override", lambda c: c.clear_override())

    def connect_zoom(self) -> None:
        """Ask the relay for Zoom's sign-in page and open it in the browser."""
        client = self.client
        if client is None:
            return

        def opened(url: str) -> None:
            log.info("opening Zoom authorization in the browser")
            # QDesktopServices.openUrl says False when no browser could be
            # started; the link then only helps if the person sees it.
            if self._browser(url) is False:
                log.info("no browser opened the Zoom link; showing it in a window")
                self.link_not_opened.emit("Connect Zoom", url)

        self._bridge.call(
            client.connect_zoom, opened, lambda error: self._failed("connect Zoom", error)
        )

    def disconnect_zoom(self) -> None:
        """Disconnect Zoom (the UI asks for confirmation first)."""
        self._change("disconnect Zoom", lambda c: c.disconnect_zoom())

    def new_meeting(self, topic: str | None = None) -> None:
        """Create a meeting, copy its link, and say so."""
        client = self.client
        if client is None:
            return
        name = topic or "ProfitRinger meeting"

        def created(link: MeetingLink) -> None:
            self._clipboard(link.join_url)
            self.notifier.show(
                "meeting_link",
                "Meeting link copied",
                f"The link to “{link.topic}” is on the clipboard.",
            )

        self._bridge.call(
            lambda: client.create_meeting(name),
            created,
            lambda error: self._failed("create a meeting link", error),
        )

    def notification_clicked(self, kind: str | None) -> None:
        if kind == "zoom_reconnect":
            self.connect_zoom()
