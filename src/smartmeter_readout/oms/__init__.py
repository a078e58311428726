"""Wired M-Bus telegrams of the EN 13757-3 application layer, as Netz Oberösterreich's AMIS
meters send them: variable data records (``records``) and OMS security mode 5 (``security``).
Pure, like the rest of the core."""
