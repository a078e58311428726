"""The package's catalogue in Home Assistant's language. Loading a catalogue reads a file,
which Home Assistant (2024.7 and later) reports as a blocking call on the event loop: it is
done in an executor, once per language (gettext keeps it), before anything asks for words."""

from __future__ import annotations

from collections.abc import Callable

from homeassistant.core import HomeAssistant

from smartmeter_readout.i18n import translation, use_language


def _load(language: str) -> Callable[[str], str]:
    use_language(language)  # the reader's own sentences (doctor, states) too
    return translation(language).gettext


async def words(hass: HomeAssistant) -> Callable[[str], str]:
    """gettext of Home Assistant's language, the reader set to speak it as well."""
    return await hass.async_add_executor_job(_load, hass.config.language)
