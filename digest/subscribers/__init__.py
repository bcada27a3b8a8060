"""Subscribers: their records, subscriptions and notices, topics, imports and exports, and the
provider's reports about them. Imports rendering, tokens, db, core and errors; never issues."""
