"""Pure logic of digest: no I/O, no database, no mail. May import only ``digest.errors``."""
