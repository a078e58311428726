"""Names the integration's files share."""

DOMAIN = "smartmeter_readout"

CONF_PORT = "port"  # a serial port (by-id path) or tcp://host:port of a serial bridge
CONF_KEY = "key"
CONF_AUTH_KEY = "auth_key"
CONF_SETTINGS = "settings"  # the serial settings detection found, "2400 8N1"
CONF_FRAMING = "framing"
CONF_OPERATOR = "operator"  # the operator's preset when detection could tell, else None
CONF_METER = "meter"  # what the first push told of the meter (maker, number, system title)
CONF_VALUES = "values"  # [[obis, name, unit], ...] the meter sends
CONF_INTERVAL = "interval"  # options: write states at most every N seconds (0: every push)
CONF_ENABLED = "enabled_values"  # options: the OBIS codes that are entities

#: after this long without a push (and the reader not receiving) a lost adapter is a repair
LOST_AFTER = 300.0
#: a silent meter makes its values unavailable after this many push intervals, at least
#: ``SILENT_FLOOR`` seconds (the web page's rule)
SILENT_INTERVALS = 3
SILENT_FLOOR = 10.0
