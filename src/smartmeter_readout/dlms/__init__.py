"""DLMS application layer: A-XDR, ciphering, block transfer and the data-notification."""
