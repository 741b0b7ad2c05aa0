"""Renamed environment variables: the documented name wins, the old one still works."""

from __future__ import annotations

import pytest

from desktop.relay.config import RelaySettings


def test_zoom_reconcile_after_is_the_documented_name() -> None:
    settings = RelaySettings.from_env({"PROFITRINGER_ZOOM_RECONCILE_AFTER": "60"})
    assert settings.zoom_reconcile_after == 60
    with pytest.raises(ValueError, match="PROFITRINGER_ZOOM_RECONCILE_AFTER"):
        RelaySettings.from_env({"PROFITRINGER_ZOOM_RECONCILE_AFTER": "2h"})


def test_the_old_reconcile_name_keeps_working_unless_the_new_one_is_set() -> None:
    assert RelaySettings.from_env({"PROFITRINGER_RECONCILE_AFTER": "90"}).zoom_reconcile_after == 90
    both = {"PROFITRINGER_RECONCILE_AFTER": "90", "PROFITRINGER_ZOOM_RECONCILE_AFTER": "30"}
    assert RelaySettings.from_env(both).zoom_reconcile_after == 30
