"""Issues: composing them from summaries, editing them, editors' decisions, and the queries that
find them. Imports rendering, db, core and errors; never sending, ingest, ops or subscribers."""
