"""The ``digest scheduler`` process: who leads (``leader``), when jobs run (``runner``), what they do
(``jobs``). Imports ``wiring`` and ``services``; only ``cli`` imports it.
"""
