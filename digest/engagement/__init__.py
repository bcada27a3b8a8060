"""What each issue did after it was sent: clicks on its tracked links, opens, and the reports built on them.

May import ``digest.db``, ``digest.tokens``, ``digest.core`` and ``digest.errors``.
"""
