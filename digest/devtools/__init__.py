"""Tools for the people who work on digest, not for its users: nothing in the product imports them.

May import anything in ``digest``; the import-linter layers keep the product from importing it.
"""
