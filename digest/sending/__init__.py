"""Sending an issue: the sender, the delivery ledger's transitions, variants by topic and the send
report. Imports issues and subscribers below it; never ingest or ops."""
