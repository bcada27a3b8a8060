"""digest: a weekly email digest of plain-language clinical research summaries.

The package is layered; imports flow one way (see README, "Architecture"):
``cli`` -> ``ops`` -> ``sending``, ``ingest`` -> ``issues``, ``subscribers`` -> ``rendering``, ``tokens``,
``db``, ``mail``, ``sources`` -> ``core`` -> ``errors``.
"""

__version__ = "0.1.0"
