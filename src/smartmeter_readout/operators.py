"""Operator presets: the serial settings, framing and key source of each grid operator.

Facts from OPERATORS.md (the operators' published interface descriptions). The decoder
needs none of this (it recognises framing and layout by itself); the presets spare the
serial auto-detection, tell ``doctor`` which operators a maker's meters belong to and where
that operator's customers get their key.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .errors import ConfigError
from .message import N_, Message

__all__ = [
    "AUTO_SETTINGS",
    "MAKERS",
    "OPERATORS",
    "Operator",
    "SerialSettings",
    "likely_operators",
    "operators_for_maker",
]


@dataclass(frozen=True, slots=True)
class SerialSettings:
    baud: int
    parity: str = "N"  # N, E or O
    bytesize: int = 8
    stopbits: int = 1

    def __post_init__(self) -> None:
        if self.parity not in ("N", "E", "O"):
            raise ConfigError(N_("parity must be N, E or O, not {parity!r}"), parity=self.parity)
        if self.baud <= 0:
            raise ConfigError(N_("baud rate must be positive, not {baud}"), baud=self.baud)

    def __str__(self) -> str:
        return f"{self.baud} {self.bytesize}{self.parity}{self.stopbits}"

    @property
    def byte_bits(self) -> int:
        """Bits on the line per byte: start, data, parity and stop bits."""
        return 1 + self.bytesize + (self.parity != "N") + self.stopbits

    @classmethod
    def parse(cls, text: str) -> SerialSettings:
        """``"2400 8E1"`` (or ``2400/8E1``, ``2400,8e1``, just ``9600``)."""
        match = re.fullmatch(r"\s*(\d+)(?:[\s/,:]+([5-8])([NEOneo])([12]))?\s*", text)
        if not match:
            raise ConfigError(N_("serial settings {text!r} are not like '2400 8N1'"), text=text)
        baud, size, parity, stop = match.groups()
        return cls(int(baud), (parity or "N").upper(), int(size or 8), int(stop or 1))


#: What auto-detection tries, most common first. 8N1 first at 2400: it also reads the
#: Kaifa meters that send 8E1 (OPERATORS.md), so a second try is rarely needed.
AUTO_SETTINGS: tuple[SerialSettings, ...] = (
    SerialSettings(2400, "N"), SerialSettings(2400, "E"), SerialSettings(9600, "N"),
    SerialSettings(115200, "N"), SerialSettings(9600, "E"), SerialSettings(115200, "E"),
)


@dataclass(frozen=True, slots=True)
class Operator:
    name: str
    title: str
    serial: SerialSettings
    interface: str
    key_source: str  # English, marked for the catalogue (N_): shown translated
    makers: tuple[str, ...]
    simulator: str | None = None  # the simulator profile of its usual meter
    supported: bool = True
    note: str = ""
    layouts: tuple[str, ...] = ()  # what the decoder calls its meters' push layouts
    encrypted: bool = True  # its meters' pushes are ciphered (a key is needed)
    #: where its meters answer an IEC 62056-21 sign-on with their number (the pushes lack it)
    readout: SerialSettings | None = None
    #: its meters send by radio (wireless M-Bus): read through a receiver stick
    wireless: bool = False


_MBUS = "M-Bus adapter on the meter's RJ12 socket, pins 3 and 4"
_P1 = "P1 cable on the RJ12 socket (data request pin 2 driven high)"
_IR = "optical IR head on the meter's front"
_RADIO = "wireless M-Bus receiver on USB (IMST iM871A, CUL/nanoCUL, RTL-SDR with rtl_wmbus)"

OPERATORS: dict[str, Operator] = {op.name: op for op in (
    Operator("vkw", "Vorarlberger Energienetze (Vorarlberg Netz)", SerialSettings(2400, "N"),
             _MBUS, N_("the Vorarlberg Netz web portal (webportal.vorarlbergnetz.at), page of "
             "your smart meter"), ("KFM", "ELS", "HON"), "vkw", layouts=("A",)),
    Operator("tinetz", "TINETZ / Innsbrucker Kommunalbetriebe", SerialSettings(2400, "E"),
             _MBUS, N_("the TINETZ customer portal"), ("KFM", "ELS", "HON"), "tinetz",
             layouts=("A",)),
    Operator("salzburgnetz", "Salzburg Netz", SerialSettings(2400, "E"), _MBUS,
             N_("the Salzburg Netz customer portal"), ("KFM",), "salzburgnetz", layouts=("A",)),
    Operator("netznoe", "Netz Niederösterreich (EVN)", SerialSettings(2400, "N"), _MBUS,
             N_("by post, or by encrypted e-mail on request"),
             ("KFM", "SAG"), "netznoe", layouts=("B",)),
    Operator("wienernetze", "Wiener Netze", SerialSettings(9600, "N"), _IR,
             N_("the Wiener Netze smart meter web portal"), ("ISK", "SMS", "LGZ"), "wienernetze",
             layouts=("D1",)),
    Operator("kaerntennetz", "Kärnten Netz", SerialSettings(115200, "N"), _P1,
             N_("its customer service"), ("SMS", "ISK"), "kaerntennetz",
             note=N_("the P1 signal may be inverted (open collector on pin 5)"),
             layouts=("D2",)),
    Operator("eww-wels", "eww Wels (Netz Wels)", SerialSettings(115200, "N"), _P1,
             N_("its customer service"), ("SMS", "ISK"), "eww-wels", layouts=("D2",)),
    Operator("e-netze", "Energienetze Steiermark / Stromnetz Graz (Sagemcom T210-D)",
             SerialSettings(115200, "N"), _P1, N_("the Energienetze Steiermark customer portal "
             "(encryption and authentication key)"), ("SAG",), "e-netze", layouts=("F",)),
    Operator("e-netze-e450", "Energienetze Steiermark (Landis+Gyr E450)",
             SerialSettings(2400, "E"), _MBUS, N_("the Energienetze Steiermark customer portal "
             "(encryption and authentication key)"), ("LGZ",), "lg-e450-flat",
             layouts=("C",)),
    Operator("netzburgenland", "Netz Burgenland", SerialSettings(2400, "E"), _MBUS,
             N_("a text file with encryption and authentication key, on request"),
             ("LGZ", "KFM"), "netzburgenland", layouts=("netzburgenland",)),
    Operator("klagenfurt", "Energie Klagenfurt", SerialSettings(2400, "E"), _MBUS,
             N_("its customer service (encryption and authentication key)"),
             ("LGZ",), "klagenfurt", layouts=("E",)),
    Operator("netzooe", "Netz Oberösterreich (Siemens AMIS)", SerialSettings(9600, "E"), _IR,
             N_("the Netz OÖ eService portal (contract account, Smartmeter Schnittstelle)"),
             ("SAM",), "netzooe", layouts=("G",),
             note=N_("the reader answers each telegram with E5 (the IR head must transmit)"),
             readout=SerialSettings(300, "E", 7)),
    # a receiver stick's rate is its own, not the meter's: a port is opened at the named
    # stick's (or each stick's in turn) from link.receivers.RECEIVER_BAUD, not at this one
    Operator("linznetz", "LINZ NETZ (wireless M-Bus, NES/Develco)", SerialSettings(57600),
             _RADIO, N_("the LINZ NETZ customer portal: the access code shown once the "
             "customer interface is switched on (visible for 14 days)"), ("DEV",), None,
             layouts=("G",), wireless=True,
             note=N_("mode T1 on 868.95 MHz, a telegram every 5 s (LN-666)")),
    Operator("linznetz-mep", "Linz Netz (NES MTR Gen 3, MEP port)", SerialSettings(9600, "N"),
             _IR, N_("its customer service"), ("NES",), supported=False,
             note=N_("the NES meter's push format is not documented yet")),
    Operator("luxembourg", "Luxembourg (Creos and others, Sagemcom)",
             SerialSettings(115200, "N"), _P1, N_("your grid operator's customer portal"),
             ("SAG",), "e-netze", layouts=("F",)),
    Operator("switzerland", "Switzerland (L+G E450/E570 on M-Bus)", SerialSettings(2400, "E"),
             _MBUS, N_("your grid operator"), ("LGZ", "ISK", "KAM"), "lg-e450-flat",
             layouts=("A", "C", "E")),
    Operator("norway", "Norway HAN (Kaifa, Aidon, Kamstrup)", SerialSettings(2400, "E"),
             "M-Bus adapter on the HAN port (RJ45)", N_("mostly unencrypted; else your grid "
             "operator"), ("KFM", "AID", "KAM"), layouts=("D3", "A", "C"), encrypted=False),
)}

#: The first letters of a system title name the maker.
MAKERS = {"KFM": "Kaifa", "SAG": "Sagemcom", "LGZ": "Landis+Gyr", "ISK": "Iskraemeco",
          "SMS": "Siemens", "ELS": "Honeywell (Elster)", "HON": "Honeywell", "KAM": "Kamstrup",
          "AID": "Aidon", "NES": "NES", "SAM": "Siemens (AMIS)",
          "DEV": "Develco (NES, LINZ NETZ)"}


def operators_for_maker(maker: str | None) -> list[Operator]:
    """Operators whose customers have meters of this maker (by system title prefix)."""
    if not maker:
        return []
    prefix = maker[:3].upper()
    return [op for op in OPERATORS.values() if prefix in op.makers]


def likely_operators(maker: str | None, *, layout: str | None = None,
                     settings: SerialSettings | None = None,
                     encrypted: bool | None = None) -> list[Operator]:
    """The supported operators a meter may belong to, from what it showed: its maker, the
    layout of its push, the serial settings that read it, whether it encrypts. Several are
    left where the meters really are alike (VKW, TINETZ and Salzburg Netz Kaifas)."""
    found = [op for op in operators_for_maker(maker) if op.supported]
    if layout is not None:
        found = [op for op in found if _layout_family(layout) in op.layouts]
    if encrypted is not None:
        found = [op for op in found if op.encrypted == encrypted]
    if settings is not None:  # 8N1 also reads a meter that sends 8E1 (OPERATORS.md)
        found = [op for op in found if op.serial.baud == settings.baud
                 and settings.parity in (op.serial.parity, "N")]
    return found


def _layout_family(layout: str) -> str:
    """``D3 Kaifa KFM_001 list 2`` and the like belong to D3."""
    return layout.split(maxsplit=1)[0]


# what people call them: the operator's own short names, the owner, the city, the region
ALIASES: dict[str, str] = {
    "evn": "netznoe", "netznö": "netznoe", "netz-noe": "netznoe",
    "netzniederoesterreich": "netznoe", "niederoesterreich": "netznoe",
    "vorarlbergnetz": "vkw", "vorarlberg": "vkw",
    "ikb": "tinetz", "tirol": "tinetz", "innsbruck": "tinetz", "salzburg": "salzburgnetz",
    "salzburgag": "salzburgnetz", "wien": "wienernetze", "vienna": "wienernetze",
    "kaernten": "kaerntennetz", "kärntennetz": "kaerntennetz", "kng": "kaerntennetz",
    "kelag": "kaerntennetz", "wels": "eww-wels", "eww": "eww-wels",
    "energienetze-steiermark": "e-netze", "steiermark": "e-netze", "graz": "e-netze",
    "stromnetz-graz": "e-netze", "burgenland": "netzburgenland",
    "netz-burgenland": "netzburgenland",
    "stadtwerke-klagenfurt": "klagenfurt", "netz-ooe": "netzooe", "netzoö": "netzooe",
    "oberoesterreich": "netzooe", "linz": "linznetz", "linzag": "linznetz",
}


def find_operator(name: str) -> Operator:
    """The operator for a name as people write it (``EVN``, ``NetzNOE``, ``netz-noe``);
    ValueError with a did-you-mean and the valid names."""
    key = name.strip().lower().replace(" ", "-").replace("_", "-")
    bare = key.replace("-", "")
    for candidate in (key, bare, ALIASES.get(key), ALIASES.get(bare)):
        if candidate and candidate in OPERATORS:
            return OPERATORS[candidate]
    close = difflib.get_close_matches(key, [*OPERATORS, *ALIASES], n=1, cutoff=0.7)
    hint = Message(N_(" (did you mean {name!r}?)"), name=ALIASES.get(close[0], close[0])) \
        if close else ""
    raise ConfigError(N_("unknown operator {name!r}{hint}; valid are {valid}"), name=name,
                      hint=hint, valid=", ".join(OPERATORS))


def resolve_serial(baud: str = "auto", parity: str = "auto",
                   operator: str | None = None) -> tuple[SerialSettings, ...]:
    """The settings to try: explicit ones win, then the operator's, else auto-detection.

    ValueError names what is wrong and what is valid.
    """
    rate: int | None = None
    if baud != "auto":
        if not baud.isdigit() or int(baud) <= 0:
            raise ConfigError(N_("baud {baud!r} is not a rate: use auto or e.g. 2400"), baud=baud)
        rate = int(baud)
    chosen = None if parity == "auto" else parity
    if chosen not in (None, "N", "E", "O"):
        raise ConfigError(N_("parity {parity!r} is not valid: use auto, N, E or O"),
                          parity=parity)
    if operator and operator != "auto":
        preset = find_operator(operator)
        if not preset.supported:
            raise ConfigError(N_("{operator}: {note}"), operator=preset.title,
                              note=Message(preset.note))
        return (SerialSettings(rate or preset.serial.baud, chosen or preset.serial.parity),)
    if rate is not None and chosen is not None:
        return (SerialSettings(rate, chosen),)
    if rate is not None:
        return (SerialSettings(rate, "N"), SerialSettings(rate, "E"))
    return tuple(s for s in AUTO_SETTINGS if chosen is None or s.parity == chosen)
