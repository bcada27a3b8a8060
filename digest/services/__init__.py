"""The use cases of digest: ingesting, composing, sending, managing subscribers, reporting status.

Services receive an engine or a session and the parts they need; they may import ``rendering``,
``tokens``, ``db``, ``mail``, ``sources``, ``core`` and ``errors``, never ``cli`` or ``web``.
"""
