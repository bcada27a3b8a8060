"""The ``digest scheduler`` process: who leads (``leader``), when jobs run (``runner``), what they do
(``jobs``). Imports ``wiring`` and the use-case packages; only ``cli`` imports it.
"""
